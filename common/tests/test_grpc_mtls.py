"""Mutual TLS between the processes and the caller allow-list (common.grpc_callers),
through a real grpc.aio server built as every service builds it
(common.grpc_server.build_server) and real channels (common.services)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import empty_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from oauth2.v1 import admin_pb2, admin_pb2_grpc, token_pb2, token_pb2_grpc

from common import errors
from common.caller import authenticated_caller
from common.grpc_callers import CALLERS, PROCESS_NAMES, refusal
from common.grpc_client import ChannelSecurity
from common.grpc_server import build_server, start_server
from common.grpc_tls import TlsFiles
from common.grpc_types import Context
from common.services import ADMIN_SERVICE, TOKEN_SERVICE, admin_client, token_client
from common.settings import ServiceSettings
from oauth2ctl.devcerts import Authority, CertFiles, ensure_certificates

NAMES = ["gateway", "token", "authorize", "clients", "admin", "ctl"]


class Token(token_pb2_grpc.TokenServiceServicer):
    """Answers GetJwks and RotateSigningKey; records who called."""

    def __init__(self) -> None:
        self.callers: list[str | None] = []

    async def GetJwks(self, request: empty_pb2.Empty, context: Context) -> token_pb2.Jwks:
        self.callers.append(authenticated_caller())
        return token_pb2.Jwks(keys=[token_pb2.JsonWebKey(kid="k")])

    async def RotateSigningKey(
        self, request: token_pb2.RotateSigningKeyRequest, context: Context
    ) -> token_pb2.SigningKey:
        self.callers.append(authenticated_caller())
        return token_pb2.SigningKey(kid="new")


class Admin(admin_pb2_grpc.AdminServiceServicer):
    async def RecordEvent(self, request: admin_pb2.AuditEvent, context: Context) -> empty_pb2.Empty:
        return empty_pb2.Empty()


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, CertFiles]:
    return ensure_certificates(tmp_path_factory.mktemp("certs"), NAMES)


def tls(files: CertFiles) -> TlsFiles:
    return TlsFiles.load(files.ca, files.cert, files.key)


def settings_for(name: str, certs: dict[str, CertFiles] | None, **extra: object) -> ServiceSettings:
    files = certs[name] if certs is not None else None
    return ServiceSettings(
        grpc_port=0,
        grpc_tls_ca_file=files.ca if files else None,
        grpc_tls_cert_file=files.cert if files else None,
        grpc_tls_key_file=files.key if files else None,
        **extra,  # type: ignore[arg-type]
    )


@pytest.fixture
async def token_server(certs: dict[str, CertFiles]) -> AsyncIterator[tuple[str, Token]]:
    """The token service's server on mTLS, as oauth2-token runs it."""
    servicer = Token()

    def add(server: grpc.aio.Server) -> None:
        token_pb2_grpc.add_TokenServiceServicer_to_server(servicer, server)
        admin_pb2_grpc.add_AdminServiceServicer_to_server(Admin(), server)

    built = build_server(settings_for("token", certs), add, [TOKEN_SERVICE, ADMIN_SERVICE])
    await start_server(built, [TOKEN_SERVICE, ADMIN_SERVICE])
    yield f"127.0.0.1:{built.port}", servicer
    await built.server.stop(0)


async def test_an_allowed_caller_is_served_and_known_by_its_certificate(
    token_server: tuple[str, Token], certs: dict[str, CertFiles]
) -> None:
    target, servicer = token_server
    client = token_client(target, 3, ChannelSecurity(tls(certs["gateway"])))
    try:
        jwks = await client.call.GetJwks(empty_pb2.Empty())
    finally:
        await client.close()
    assert [key.kid for key in jwks.keys] == ["k"]
    assert servicer.callers == ["gateway"]


async def test_a_caller_without_a_client_certificate_is_refused(
    token_server: tuple[str, Token], certs: dict[str, CertFiles]
) -> None:
    target, servicer = token_server
    # TLS that trusts the server, but presents no certificate of its own.
    credentials = grpc.ssl_channel_credentials(root_certificates=certs["gateway"].ca.read_bytes())
    async with grpc.aio.secure_channel(target, credentials) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await token_pb2_grpc.TokenServiceStub(channel).GetJwks(empty_pb2.Empty(), timeout=3)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE  # the handshake fails
    async with grpc.aio.insecure_channel(target) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await token_pb2_grpc.TokenServiceStub(channel).GetJwks(empty_pb2.Empty(), timeout=3)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert servicer.callers == []


async def test_a_certificate_from_another_ca_is_refused(
    token_server: tuple[str, Token], certs: dict[str, CertFiles], tmp_path: Path
) -> None:
    target, servicer = token_server
    # A "gateway" certificate, but signed by a CA the server does not trust; the
    # client trusts the real CA, so only the server's check can refuse it.
    forged = Authority.create().write(tmp_path, "gateway")
    impostor = TlsFiles(
        ca=certs["gateway"].ca.read_bytes(),
        cert=forged.cert.read_bytes(),
        key=forged.key.read_bytes(),
    )
    client = token_client(target, 3, ChannelSecurity(impostor))
    try:
        with pytest.raises(errors.TemporarilyUnavailable):
            await client.call.GetJwks(empty_pb2.Empty())
    finally:
        await client.close()
    assert servicer.callers == []


async def test_a_caller_not_in_the_allow_list_is_permission_denied(
    token_server: tuple[str, Token], certs: dict[str, CertFiles]
) -> None:
    target, servicer = token_server
    # clients never calls token; the gateway may call token, but not rotate keys.
    for name, call in (
        ("clients", "GetJwks"),
        ("gateway", "RotateSigningKey"),
        ("ctl", "GetJwks"),
    ):
        security = ChannelSecurity(tls(certs[name]))
        async with grpc.aio.secure_channel(
            target,
            security.tls.channel_credentials(),  # type: ignore[union-attr]
        ) as channel:
            stub = token_pb2_grpc.TokenServiceStub(channel)
            request = (
                empty_pb2.Empty() if call == "GetJwks" else token_pb2.RotateSigningKeyRequest()
            )
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await getattr(stub, call)(request, timeout=3)
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED, (name, call)
        assert f"'{name}' may not call" in (caught.value.details() or "")
    assert servicer.callers == []
    # The admin service may rotate keys (it audits the operator who asked).
    client = token_client(target, 3, ChannelSecurity(tls(certs["admin"])))
    try:
        key = await client.call.RotateSigningKey(token_pb2.RotateSigningKeyRequest())
    finally:
        await client.close()
    assert key.kid == "new"
    assert servicer.callers == ["admin"]


async def test_record_event_is_open_to_every_service_and_nothing_else_of_admin_is(
    token_server: tuple[str, Token], certs: dict[str, CertFiles]
) -> None:
    target, _ = token_server
    for name in ("token", "authorize", "clients", "gateway"):
        client = admin_client(target, 3, ChannelSecurity(tls(certs[name])))
        try:
            await client.call.RecordEvent(admin_pb2.AuditEvent(action="x"))
            if name != "gateway":
                # A refusal is the deployment's fault, never the user's: a 503 upstream.
                with pytest.raises(errors.TemporarilyUnavailable) as caught:
                    await client.call.ListEvents(admin_pb2.ListEventsRequest())
                assert "PERMISSION_DENIED" in (caught.value.detail or "")
        finally:
            await client.close()


async def test_health_is_open_to_every_certificate_of_the_ca(
    token_server: tuple[str, Token], certs: dict[str, CertFiles]
) -> None:
    target, _ = token_server
    security = ChannelSecurity(tls(certs["ctl"]))
    async with grpc.aio.secure_channel(
        target,
        security.tls.channel_credentials(),  # type: ignore[union-attr]
    ) as channel:
        answer = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=TOKEN_SERVICE), timeout=3
        )
    assert answer.status == health_pb2.HealthCheckResponse.SERVING


async def test_the_health_port_serves_health_alone_in_plaintext(
    certs: dict[str, CertFiles],
) -> None:
    from oauth2ctl.devrun import free_port

    health_port = free_port()

    def add(server: grpc.aio.Server) -> None:
        token_pb2_grpc.add_TokenServiceServicer_to_server(Token(), server)

    built = build_server(
        settings_for("token", certs, grpc_health_port=health_port), add, [TOKEN_SERVICE]
    )
    await start_server(built, [TOKEN_SERVICE])
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{health_port}") as channel:
            answer = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=TOKEN_SERVICE), timeout=3
            )
            assert answer.status == health_pb2.HealthCheckResponse.SERVING
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await token_pb2_grpc.TokenServiceStub(channel).GetJwks(empty_pb2.Empty(), timeout=3)
            assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
    finally:
        await built.server.stop(0)
        assert built.health_server is not None
        await built.health_server.stop(0)


def test_the_table_names_only_known_processes_and_every_service() -> None:
    assert set(CALLERS) == {
        "oauth2.v1.ClientsService",
        "oauth2.v1.AuthorizeService",
        "oauth2.v1.TokenService",
        "oauth2.v1.AdminService",
    }
    for policy in CALLERS.values():
        assert policy.callers <= PROCESS_NAMES
        for callers in policy.methods.values():
            assert callers <= PROCESS_NAMES
    # The call graph of docs/DESIGN.md, spot-checked.
    assert refusal("/oauth2.v1.ClientsService/AuthenticateClient", "token") is None
    assert refusal("/oauth2.v1.AuthorizeService/ConsumeAuthorizationCode", "token") is None
    assert refusal("/oauth2.v1.ClientsService/GetClient", "authorize") is None
    assert refusal("/oauth2.v1.AdminService/Bootstrap", "ctl") is None
    assert refusal("/oauth2.v1.AdminService/Bootstrap", "gateway") is not None
    assert refusal("/oauth2.v1.AuthorizeService/SetPassword", "gateway") is not None
    assert refusal("/oauth2.v1.ClientsService/CreateClient", "gateway") is not None
    assert refusal("/oauth2.v1.TokenService/Exchange", "authorize") is not None
    assert refusal("/oauth2.v1.NoSuchService/X", "admin") is not None
    no_cert = refusal("/oauth2.v1.TokenService/GetJwks", None)
    assert no_cert is not None and no_cert[0] == grpc.StatusCode.UNAUTHENTICATED


def test_a_certificate_names_its_process(certs: dict[str, CertFiles]) -> None:
    assert tls(certs["token"]).common_name() == "token"
    assert tls(certs["ctl"]).common_name() == "ctl"


def test_the_tls_settings_go_together(certs: dict[str, CertFiles]) -> None:
    with pytest.raises(ValueError, match="go together"):
        ServiceSettings(grpc_tls_ca_file=certs["token"].ca)
    assert TlsFiles.from_settings(ServiceSettings()) is None


# --- keepalive ------------------------------------------------------------------------------


async def _watch_states(channel: grpc.aio.Channel, seen: list[grpc.ChannelConnectivity]) -> None:
    state = channel.get_state()
    while True:
        await channel.wait_for_state_change(state)
        state = channel.get_state()
        seen.append(state)


async def _idle_then_call(target: str, security: ChannelSecurity) -> list[grpc.ChannelConnectivity]:
    """A channel used once, left idle for several keepalive intervals, used again:
    the states it went through in between."""
    client = token_client(target, 3, security)
    seen: list[grpc.ChannelConnectivity] = []
    try:
        await client.call.GetJwks(empty_pb2.Empty())
        assert client.channel.get_state() == grpc.ChannelConnectivity.READY
        watcher = asyncio.create_task(_watch_states(client.channel, seen))
        await asyncio.sleep(5 * security.keepalive_seconds)
        await client.call.GetJwks(empty_pb2.Empty())
        watcher.cancel()
    finally:
        await client.close()
    return seen


@pytest.mark.parametrize("with_tls", [True, False], ids=["mtls", "plaintext"])
async def test_an_idle_channel_keeps_its_connection(
    certs: dict[str, CertFiles], with_tls: bool
) -> None:
    """Clients ping every second and the server agrees: no GOAWAY too_many_pings,
    so the connection made before the idle time serves the call after it."""
    used = certs if with_tls else None

    def add(server: grpc.aio.Server) -> None:
        token_pb2_grpc.add_TokenServiceServicer_to_server(Token(), server)

    built = build_server(
        settings_for("token", used, grpc_keepalive_seconds=1), add, [TOKEN_SERVICE]
    )
    await start_server(built, [TOKEN_SERVICE])
    try:
        security = ChannelSecurity(tls(certs["gateway"]) if with_tls else None, 1)
        seen = await _idle_then_call(f"127.0.0.1:{built.port}", security)
    finally:
        await built.server.stop(0)
    assert seen == [], f"the channel left READY while idle: {seen}"


async def test_a_server_that_refuses_such_pings_would_be_seen() -> None:
    """The check above can fail: against gRPC's default server policy (a ping
    without data at most every 5 minutes) the same client is sent GOAWAY."""
    server = grpc.aio.server()
    token_pb2_grpc.add_TokenServiceServicer_to_server(Token(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        seen = await _idle_then_call(f"127.0.0.1:{port}", ChannelSecurity(None, 1))
    finally:
        await server.stop(0)
    assert seen and seen[0] != grpc.ChannelConnectivity.READY, seen
