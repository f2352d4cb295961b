"""A real grpc.aio server standing in for the four services, and a gateway
app in front of it driven through httpx's ASGI transport."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf import empty_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from oauth2.v1 import token_pb2, token_pb2_grpc

from common.grpc_server import ErrorInterceptor
from conftest import free_port
from gateway.app import create_app
from gateway.downstream import Downstream
from gateway.settings import GatewaySettings

pytest.register_assert_rewrite("gateway.tests.helpers")

SERVICE_NAMES = [
    "oauth2.v1.AuthorizeService",
    "oauth2.v1.TokenService",
    "oauth2.v1.ClientsService",
    "oauth2.v1.AdminService",
]


class FakeTokenService(token_pb2_grpc.TokenServiceServicer):
    """Records each request; answers with ``answers[method]`` (a message, or an
    exception to raise, which the ErrorInterceptor encodes like the real one)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, Any]] = []
        self.answers: dict[str, Any] = {}

    def reset(self) -> None:
        self.requests.clear()
        self.answers = {
            "Exchange": token_pb2.TokenResponse(
                access_token="at-1", token_type="Bearer", expires_in=3600, scope="read"
            ),
            "Introspect": token_pb2.IntrospectResponse(active=False),
            "Revoke": empty_pb2.Empty(),
            "GetJwks": token_pb2.Jwks(),
        }

    def _answer(self, method: str, request: Any) -> Any:
        self.requests.append((method, request))
        answer = self.answers[method]
        if isinstance(answer, BaseException):
            raise answer
        return answer

    async def Exchange(self, request: Any, context: Any) -> Any:
        return self._answer("Exchange", request)

    async def Introspect(self, request: Any, context: Any) -> Any:
        return self._answer("Introspect", request)

    async def Revoke(self, request: Any, context: Any) -> Any:
        return self._answer("Revoke", request)

    async def GetJwks(self, request: Any, context: Any) -> Any:
        return self._answer("GetJwks", request)


@pytest.fixture(scope="session")
async def backend() -> AsyncIterator[tuple[int, FakeTokenService]]:
    fake = FakeTokenService()
    server = grpc.aio.server(interceptors=[ErrorInterceptor()])
    token_pb2_grpc.add_TokenServiceServicer_to_server(fake, server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    for name in ["", *SERVICE_NAMES]:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    yield port, fake
    await server.stop(0)


@pytest.fixture
def fake_token(backend: tuple[int, FakeTokenService]) -> FakeTokenService:
    backend[1].reset()
    return backend[1]


Factory = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def make_client(
    backend: tuple[int, FakeTokenService], fake_token: FakeTokenService
) -> AsyncIterator[Factory]:
    """``await make_client(**setting_overrides)``: an HTTP client for a fresh app
    whose four downstream targets are the fake server unless overridden."""
    target = f"127.0.0.1:{backend[0]}"
    opened: list[tuple[httpx.AsyncClient, Downstream]] = []

    async def factory(**overrides: Any) -> httpx.AsyncClient:
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
        app = create_app(settings, downstream)
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="https://auth.example.com"
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


def dead_target() -> str:
    """An address where nothing listens: connections are refused at once."""
    return f"127.0.0.1:{free_port()}"
