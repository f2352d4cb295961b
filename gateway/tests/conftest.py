"""A real grpc.aio server standing in for the services (the real authorize
service on in-memory stores, canned behaviour of the others in ``fakes``), and
a gateway app in front of it driven through httpx's ASGI transport."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import grpc
import httpx
import pytest
from google.protobuf import descriptor_pool, empty_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from oauth2.v1 import (
    admin_pb2_grpc,
    authorize_pb2_grpc,
    clients_pb2_grpc,
    token_pb2,
    token_pb2_grpc,
)

from common.audit import AuditSink
from common.grpc_server import ErrorInterceptor
from gateway.app import create_admin_app, create_app
from gateway.downstream import Downstream
from gateway.settings import GatewaySettings
from gateway.tests import fakes
from gateway.tests.admin_fake import AdminBackend
from oauth2ctl.devrun import free_port
from services.authorize.servicer import AuthorizeServicer
from services.clients.servicer import ClientsServicer

pytest.register_assert_rewrite("gateway.tests.helpers", "gateway.tests.browser")

BROWSER_ISSUER = fakes.BROWSER_ISSUER

SERVICE_NAMES = [
    "oauth2.v1.AuthorizeService",
    "oauth2.v1.TokenService",
    "oauth2.v1.ClientsService",
    "oauth2.v1.AdminService",
]


class Recorder:
    """Records each request; answers with ``answers[method]``: a message, an
    exception to raise (the ErrorInterceptor encodes it like the real services
    do), or a callable given the request that returns or raises one."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, Any]] = []
        self.answers: dict[str, Any] = {}

    def methods(self) -> list[str]:
        return [method for method, _ in self.requests]

    def _answer(self, method: str, request: Any) -> Any:
        self.requests.append((method, request))
        answer = self.answers[method]
        if callable(answer) and not isinstance(answer, type):
            answer = answer(request)
        if isinstance(answer, BaseException):
            raise answer
        return answer


class FakeTokenService(Recorder, token_pb2_grpc.TokenServiceServicer):
    def reset(self) -> None:
        self.requests.clear()
        self.answers = {
            "Exchange": token_pb2.TokenResponse(
                access_token="at-1", token_type="Bearer", expires_in=3600, scope="read"
            ),
            "Introspect": token_pb2.IntrospectResponse(active=False),
            "Revoke": empty_pb2.Empty(),
            "GetJwks": token_pb2.Jwks(),
            "VerifyAccessToken": fakes.verify_access_token,
            "DecodeIdTokenHint": fakes.decode_id_token_hint,
        }

    async def Exchange(self, request: Any, context: Any) -> Any:
        return self._answer("Exchange", request)

    async def Introspect(self, request: Any, context: Any) -> Any:
        return self._answer("Introspect", request)

    async def Revoke(self, request: Any, context: Any) -> Any:
        return self._answer("Revoke", request)

    async def GetJwks(self, request: Any, context: Any) -> Any:
        return self._answer("GetJwks", request)

    async def VerifyAccessToken(self, request: Any, context: Any) -> Any:
        return self._answer("VerifyAccessToken", request)

    async def DecodeIdTokenHint(self, request: Any, context: Any) -> Any:
        return self._answer("DecodeIdTokenHint", request)


class Recording:
    """Mixed into a real servicer: records each call in ``requests``;
    ``failures[method]`` makes that method fail instead, like a service that is
    down. :func:`recorded` wraps the servicer's methods."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, Any]] = []
        self.failures: dict[str, BaseException] = {}

    def forget(self) -> None:
        self.requests.clear()
        self.failures.clear()

    def methods(self) -> list[str]:
        return [method for method, _ in self.requests]


RecordingT = TypeVar("RecordingT", bound=type[Recording])


def recorded(service: str) -> Callable[[RecordingT], RecordingT]:
    def wrap(cls: RecordingT) -> RecordingT:
        descriptor = descriptor_pool.Default().FindServiceByName(f"oauth2.v1.{service}")
        for method in descriptor.methods_by_name:
            real = getattr(cls, method)

            async def call(
                self: Recording, request: Any, context: Any, _m: str = method, _real: Any = real
            ) -> Any:
                self.requests.append((_m, request))
                failure = self.failures.get(_m)
                if failure is not None:
                    raise failure
                return await _real(self, request, context)

            setattr(cls, method, call)
        return cls

    return wrap


@recorded("AuthorizeService")
class FakeAuthorizeService(Recording, AuthorizeServicer):
    """The real AuthorizeServicer over the real domain on in-memory stores
    (``fakes.AuthorizeWorld``)."""

    def __init__(self, world: fakes.AuthorizeWorld) -> None:
        Recording.__init__(self)
        AuthorizeServicer.__init__(self, world.domain())

    def reset(self, world: fakes.AuthorizeWorld) -> None:
        self.forget()
        self.world = world
        self._domain = world.domain()


@recorded("ClientsService")
class FakeClientsService(Recording, ClientsServicer):
    """The real ClientsServicer over the registry of ``fakes.AuthorizeWorld``."""

    def __init__(self, world: fakes.AuthorizeWorld) -> None:
        Recording.__init__(self)
        ClientsServicer.__init__(self, world.registry, world.registration, world.resources)

    def reset(self, world: fakes.AuthorizeWorld) -> None:
        self.forget()
        self._registry, self._registration = world.registry, world.registration
        self._resources = world.resources


@dataclass
class Fakes:
    token: FakeTokenService
    authorize: FakeAuthorizeService
    clients: FakeClientsService
    admin: AdminBackend

    def reset(self) -> None:
        world = fakes.AuthorizeWorld()
        self.token.reset()
        self.authorize.reset(world)
        self.clients.reset(world)
        self.admin.reset()

    def calls(self) -> list[str]:
        """Every downstream method called since the last reset, in order."""
        return [
            *self.token.methods(),
            *self.authorize.methods(),
            *self.clients.methods(),
        ]


@pytest.fixture(scope="session")
async def backend() -> AsyncIterator[tuple[int, Fakes]]:
    world = fakes.AuthorizeWorld()
    fake = Fakes(
        FakeTokenService(), FakeAuthorizeService(world), FakeClientsService(world), AdminBackend()
    )
    server = grpc.aio.server(interceptors=[ErrorInterceptor()])
    token_pb2_grpc.add_TokenServiceServicer_to_server(fake.token, server)
    authorize_pb2_grpc.add_AuthorizeServiceServicer_to_server(fake.authorize, server)
    clients_pb2_grpc.add_ClientsServiceServicer_to_server(fake.clients, server)
    admin_pb2_grpc.add_AdminServiceServicer_to_server(fake.admin, server)  # type: ignore[arg-type]
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    for name in ["", *SERVICE_NAMES]:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    yield port, fake
    await server.stop(0)


@pytest.fixture
async def fakes_reset(backend: tuple[int, Fakes]) -> Fakes:
    backend[1].reset()
    await backend[1].authorize.world.populate()
    return backend[1]


@pytest.fixture
def fake_token(fakes_reset: Fakes) -> FakeTokenService:
    return fakes_reset.token


@pytest.fixture
def fake_authorize(fakes_reset: Fakes) -> FakeAuthorizeService:
    return fakes_reset.authorize


@pytest.fixture
def fake_clients(fakes_reset: Fakes) -> FakeClientsService:
    return fakes_reset.clients


@pytest.fixture
def fake_admin(fakes_reset: Fakes) -> AdminBackend:
    return fakes_reset.admin


Factory = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def make_client(backend: tuple[int, Fakes], fakes_reset: Fakes) -> AsyncIterator[Factory]:
    """``await make_client(**setting_overrides)``: an HTTP client for a fresh app
    whose four downstream targets are the fake server unless overridden.
    ``base_url`` (default: the issuer's origin) is where the client sends its requests;
    ``admin_listener``: the admin listener's app (admin API, /metrics) instead of the
    public one's; ``audit``: where the app reports security events."""
    target = f"127.0.0.1:{backend[0]}"
    opened: list[tuple[httpx.AsyncClient, Downstream]] = []

    async def factory(
        base_url: str | None = None,
        *,
        admin_listener: bool = False,
        audit: AuditSink | None = None,
        **overrides: Any,
    ) -> httpx.AsyncClient:
        values: dict[str, Any] = {
            "issuer": "https://auth.example.com",
            "authorize_target": target,
            "token_target": target,
            "clients_target": target,
            "admin_target": target,
            "grpc_deadline_seconds": 2.0,
            "ready_timeout_seconds": 1.0,
            "max_body_bytes": 2048,
            **overrides,
        }
        settings = GatewaySettings(**values)
        downstream = Downstream.connect(settings)
        app = (create_admin_app if admin_listener else create_app)(
            settings, downstream, audit=audit
        )
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url=base_url or _origin(settings.issuer),
            follow_redirects=False,
        )
        opened.append((client, downstream))
        return client

    yield factory
    for client, downstream in opened:
        await client.aclose()
        await downstream.close()


@pytest.fixture
async def client(make_client: Factory) -> httpx.AsyncClient:
    return await make_client()


@pytest.fixture
async def admin_client(make_client: Factory) -> httpx.AsyncClient:
    """The admin listener (gateway.app.create_admin_app)."""
    return await make_client(admin_listener=True)


@pytest.fixture
async def browser(make_client: Factory) -> httpx.AsyncClient:
    """A browser on a plain-http issuer, so its cookie jar sends the session back."""
    return await make_client(issuer=BROWSER_ISSUER)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def dead_target() -> str:
    """An address where nothing listens: connections are refused at once."""
    return f"127.0.0.1:{free_port()}"
