"""oauth2ctl against the real gateway app (in process, through httpx's ASGI
transport) in front of the real AdminService (over the real domains of the
services it composes, on in-memory stores) and a TokenService that grants the
bootstrapped admin client its token; both are grpc.aio servers on a thread of
their own, since ``main()`` runs its own event loop."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from common.kv import KeyValue, create_kv
from gateway.app import create_admin_app, create_app
from gateway.downstream import Downstream
from gateway.settings import GatewaySettings
from gateway.tests.admin_fake import (
    AdminBackend,
    AdminSystem,
    AdminTokenService,
    ThreadedServer,
    threaded_server,
)
from oauth2ctl.cli import main

GATEWAY = "http://gateway.test"
#: The gateway's admin listener, where oauth2ctl's admin API calls go.
GATEWAY_ADMIN = "http://gateway-admin.test:8081"


class GatewayTransport(httpx.AsyncBaseTransport):
    """The gateway's two apps, built on first use inside the event loop of
    ``main()`` (gRPC channels belong to the loop that made them): requests to
    :data:`GATEWAY_ADMIN` reach the admin listener's, the others the public one's."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self.requests: list[httpx.Request] = []
        self._public: httpx.ASGITransport | None = None
        self._admin: httpx.ASGITransport | None = None
        self._downstream: Downstream | None = None
        self._kv: KeyValue | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._public is None or self._admin is None:
            self._downstream = Downstream.connect(self.settings)
            self._kv = create_kv(self.settings)
            self._public = httpx.ASGITransport(
                app=create_app(self.settings, self._downstream, self._kv)
            )
            self._admin = httpx.ASGITransport(
                app=create_admin_app(self.settings, self._downstream, self._kv)
            )
        self.requests.append(request)
        admin = str(request.url).startswith(GATEWAY_ADMIN)
        return await (self._admin if admin else self._public).handle_async_request(request)

    async def aclose(self) -> None:
        if self._downstream is not None:
            await self._downstream.close()
        if self._kv is not None:
            await self._kv.close()


@dataclass
class Ctl:
    admin: AdminBackend
    token: AdminTokenService
    server: ThreadedServer
    settings: GatewaySettings
    capsys: pytest.CaptureFixture[str]
    last: GatewayTransport | None = None

    def system(self) -> AdminSystem:
        """The admin backend's system, built in the server's loop where it lives."""
        return self.server.run(self.admin.system())

    def __call__(self, *argv: str) -> tuple[int, str, str]:
        """Run oauth2ctl; its exit code, standard output and standard error."""
        self.last = GatewayTransport(self.settings)
        code = main(list(argv), transport=self.last)
        out, err = self.capsys.readouterr()
        return code, out, err


@pytest.fixture(scope="session")
def backend() -> Iterator[tuple[ThreadedServer, AdminBackend, AdminTokenService]]:
    admin = AdminBackend(issuer=GATEWAY)
    token = AdminTokenService(admin)
    with threaded_server(admin, token) as server:
        yield server, admin, token


@pytest.fixture
def ctl(
    backend: tuple[ThreadedServer, AdminBackend, AdminTokenService],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> Ctl:
    """A bootstrapped system: the credentials file exists in OAUTH2_DATA_DIR."""
    server, admin, token = backend
    admin.reset()
    token.exchanges.clear()
    target = f"127.0.0.1:{server.port}"
    monkeypatch.delenv("OAUTH2_CONFIG", raising=False)
    for name in ("CTL_TOKEN", "CTL_PUBLIC_URL", "CTL_CLIENT_ID", "CTL_CLIENT_SECRET"):
        monkeypatch.delenv(f"OAUTH2_{name}", raising=False)
    monkeypatch.setenv("OAUTH2_ISSUER", GATEWAY)
    monkeypatch.setenv("OAUTH2_CTL_URL", GATEWAY_ADMIN)
    monkeypatch.setenv("OAUTH2_ADMIN_TARGET", target)
    monkeypatch.setenv("OAUTH2_DATA_DIR", str(tmp_path))
    settings = GatewaySettings(
        issuer=GATEWAY,
        admin_target=target,
        token_target=target,
        clients_target=target,
        authorize_target=target,
        grpc_deadline_seconds=2.0,
        data_dir=tmp_path,
    )
    runner = Ctl(admin, token, server, settings, capsys)
    code, _, err = runner("bootstrap")
    assert code == 0, err
    return runner
