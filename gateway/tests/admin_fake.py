"""The admin service for the gateway's admin API tests and oauth2ctl's: the real
AdminServicer over the real admin domain, whose downstream services are their own
real domains on in-memory stores (services/admin/tests/fakes.py). Nothing here
decides anything a service decides.

:class:`AdminBackend` is what a test server registers as the AdminService. It
remembers what reached it (``requests``, ``methods()``); ``fail[method] = error``
makes the calls of that method fail. ``reset()`` starts over: the next call builds
a fresh system, inside the server's event loop, where its asynchronous parts live.
The system holds a consent and three refresh-token families of ``GRANT_USER`` for
the fakes' client (``FAMILIES``), so that grants can be listed and revoked.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import grpc
from oauth2.v1 import admin_pb2, admin_pb2_grpc, token_pb2, token_pb2_grpc

from common.errors import InvalidClient, OAuthError
from common.grpc_server import ErrorInterceptor
from common.vocabulary import ClientAuthMethod
from gateway.tests import fakes
from services.admin.domain import AdminDomain, build_admin_domain
from services.admin.servicer import AdminServicer
from services.admin.tests.fakes import (
    ISSUER,
    T0,
    Downstream,
    MemoryAuditStore,
    MemoryStateStore,
    start_downstream,
)

GRANT_USER = "u-granted"
FAMILIES = ("fam-1", "fam-2", "fam-3")
ADMIN_METHODS = frozenset(admin_pb2.DESCRIPTOR.services_by_name["AdminService"].methods_by_name)

T = TypeVar("T")


@dataclass
class AdminSystem:
    downstream: Downstream
    domain: AdminDomain
    servicer: AdminServicer
    audit_store: MemoryAuditStore


async def start_admin_system(issuer: str = ISSUER) -> AdminSystem:
    downstream = await start_downstream(issuer=issuer)
    # GRANT_USER's grants for the fakes' client, as the owners' stores hold them.
    await downstream.consent_store.merge(
        fakes.CLIENT_ID, GRANT_USER, ("openid", "offline_access"), T0
    )
    for age, family_id in enumerate(FAMILIES):
        await downstream.add_family(
            family_id,
            fakes.CLIENT_ID,
            GRANT_USER,
            "openid offline_access",
            created_at=T0 - timedelta(seconds=age),
        )
    audit_store = MemoryAuditStore()
    domain = build_admin_domain(
        clients=downstream.client_registry_port(),
        users=downstream.user_directory_port(),
        tokens=downstream.token_authority_port(),
        audit_store=audit_store,
        state=MemoryStateStore(),
        source="oauth2-admin",
        max_details_chars=8192,
        bootstrap_claim_timeout_seconds=60,
    )
    return AdminSystem(downstream, domain, AdminServicer(domain), audit_store)


class AdminBackend:
    """The AdminService of a test server: the real one, recorded."""

    def __init__(self, issuer: str = ISSUER) -> None:
        self.issuer = issuer
        self.requests: list[tuple[str, Any]] = []
        self.fail: dict[str, OAuthError] = {}
        self._system: asyncio.Task[AdminSystem] | None = None

    def reset(self) -> None:
        self.requests = []
        self.fail = {}
        self._system = None

    def methods(self) -> list[str]:
        return [method for method, _ in self.requests]

    async def system(self) -> AdminSystem:
        """The current system; the first call after a reset builds it."""
        if self._system is None:
            self._system = asyncio.get_running_loop().create_task(start_admin_system(self.issuer))
        return await self._system

    def __getattr__(self, method: str) -> Callable[[Any, Any], Awaitable[Any]]:
        if method not in ADMIN_METHODS:
            raise AttributeError(method)

        async def call(request: Any, context: Any) -> Any:
            self.requests.append((method, request))
            if method in self.fail:
                raise self.fail[method]
            servicer = (await self.system()).servicer
            return await getattr(servicer, method)(request, context)

        return call


class AdminTokenService(token_pb2_grpc.TokenServiceServicer):
    """The gateway's token endpoint and bearer check for oauth2ctl: client_credentials
    authenticates against the admin backend's real client registry and answers
    ``fakes.ADMIN_TOKEN`` to a client registered for the ``admin`` scope (an opaque
    ``token-for-<client_id>`` to others); VerifyAccessToken is ``fakes``'."""

    def __init__(self, admin: AdminBackend) -> None:
        self.admin = admin
        self.exchanges: list[token_pb2.TokenRequest] = []

    async def Exchange(self, request: Any, context: Any) -> Any:
        self.exchanges.append(request)
        credentials = request.credentials
        registry = (await self.admin.system()).downstream.client_registry
        if not credentials.client_id:
            raise InvalidClient("Client authentication required")
        client = await registry.authenticate(
            credentials.client_id, credentials.client_secret, credentials.auth_method
        )
        if client.token_endpoint_auth_method == ClientAuthMethod.NONE:
            raise InvalidClient("Public clients may not use client_credentials")
        token = (
            fakes.ADMIN_TOKEN
            if "admin" in client.scope.split()
            else f"token-for-{client.client_id}"
        )
        return token_pb2.TokenResponse(
            access_token=token, token_type="Bearer", expires_in=300, scope=client.scope
        )

    async def VerifyAccessToken(self, request: Any, context: Any) -> Any:
        return fakes.verify_access_token(request)


# --- a server on its own thread (for synchronous callers such as oauth2ctl's tests) ---


class ThreadedServer:
    """A grpc.aio server on a thread with its own event loop."""

    def __init__(self, port: int, loop: asyncio.AbstractEventLoop) -> None:
        self.port = port
        self._loop = loop

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` in the server's loop (where the system lives); its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(30)


@contextmanager
def threaded_server(admin: AdminBackend, token: AdminTokenService) -> Iterator[ThreadedServer]:
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: dict[str, Any] = {}

    async def start() -> None:
        server = grpc.aio.server(interceptors=[ErrorInterceptor()])
        admin_pb2_grpc.add_AdminServiceServicer_to_server(admin, server)  # type: ignore[arg-type]
        token_pb2_grpc.add_TokenServiceServicer_to_server(token, server)
        holder["port"] = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        holder["server"] = server

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    started.wait(10)
    try:
        yield ThreadedServer(int(holder["port"]), loop)
    finally:
        asyncio.run_coroutine_threadsafe(holder["server"].stop(0), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
