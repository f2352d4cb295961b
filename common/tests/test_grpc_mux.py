"""Unary calls carried as items of multiplexed streams (common.grpc_mux) give what the
unary calls give: results, the same OAuthError (class, description, retry_after),
deadlines; the caller allow-list holds per item; batching; broken streams, several
replicas, draining and servers without the Multiplex service. Real grpc.aio servers
built as every service builds them (common.grpc_server.build_server), real channels."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import grpc
import pytest
from google.protobuf import empty_pb2
from oauth2.v1 import token_pb2, token_pb2_grpc

from common import errors
from common.caller import authenticated_caller
from common.grpc_client import ChannelSecurity, ServiceClient
from common.grpc_mux import WARMUP_SECONDS
from common.grpc_server import BuiltServer, ErrorInterceptor, build_server, start_server
from common.grpc_tls import TlsFiles
from common.grpc_types import Context
from common.services import TOKEN_SERVICE, TokenClient
from common.settings import ServiceSettings
from oauth2ctl.devcerts import CertFiles, ensure_certificates
from oauth2ctl.devrun import free_port

MUXED = frozenset(
    f"{TOKEN_SERVICE}/{name}"
    for name in ("GetJwks", "Introspect", "Revoke", "RotateSigningKey", "Exchange")
)


class Token(token_pb2_grpc.TokenServiceServicer):
    """GetJwks answers (or raises ``raise_``); Introspect sleeps ``delay`` and reports
    the budget it was given; Revoke waits for ``release``."""

    def __init__(self, name: str = "") -> None:
        self.name = name
        self.raise_: BaseException | None = None
        self.delay = 0.0
        self.calls = 0
        self.callers: list[str | None] = []
        self.budgets: list[float | None] = []
        self.release = asyncio.Event()

    async def GetJwks(self, request: empty_pb2.Empty, context: Context) -> token_pb2.Jwks:
        self.calls += 1
        self.callers.append(authenticated_caller())
        if self.raise_ is not None:
            raise self.raise_
        return token_pb2.Jwks(keys=[token_pb2.JsonWebKey(kid=self.name or "k")])

    async def Introspect(
        self, request: token_pb2.IntrospectRequest, context: Context
    ) -> token_pb2.IntrospectResponse:
        self.budgets.append(context.time_remaining())
        if request.token == "abort":
            await context.abort(grpc.StatusCode.NOT_FOUND, "no such token")
        await asyncio.sleep(self.delay)
        return token_pb2.IntrospectResponse(active=True, client_id=request.token)

    async def Revoke(self, request: token_pb2.RevokeRequest, context: Context) -> empty_pb2.Empty:
        await self.release.wait()
        return empty_pb2.Empty()

    async def RotateSigningKey(
        self, request: token_pb2.RotateSigningKeyRequest, context: Context
    ) -> token_pb2.SigningKey:
        return token_pb2.SigningKey(kid="new")


def settings_for(port: int = 0, files: CertFiles | None = None) -> ServiceSettings:
    return ServiceSettings(
        grpc_port=port,
        grpc_tls_ca_file=files.ca if files else None,
        grpc_tls_cert_file=files.cert if files else None,
        grpc_tls_key_file=files.key if files else None,
    )


async def serve(servicer: Token, settings: ServiceSettings) -> BuiltServer:
    built = build_server(
        settings,
        lambda server: token_pb2_grpc.add_TokenServiceServicer_to_server(servicer, server),
        [TOKEN_SERVICE],
    )
    await start_server(built, [TOKEN_SERVICE])
    return built


Factory = Callable[..., Awaitable[TokenClient]]


@pytest.fixture
async def make_client() -> AsyncIterator[Factory]:
    made: list[TokenClient] = []

    async def make(
        target: str, *, muxed: bool = True, deadline: float = 3, tls: TlsFiles | None = None
    ) -> TokenClient:
        security = ChannelSecurity(tls, multiplex_methods=MUXED if muxed else frozenset())
        client: TokenClient = ServiceClient(
            token_pb2_grpc.TokenServiceStub,
            target,
            TOKEN_SERVICE,
            deadline=deadline,
            idempotent_methods=["GetJwks", "Introspect"],
            security=security,
        )
        made.append(client)
        if muxed:
            # Made in this loop, its streams' channel connects at once; calls go unary
            # until it is warm (common.grpc_mux.WARMUP_SECONDS).
            await asyncio.sleep(WARMUP_SECONDS)
        return client

    yield make
    for client in made:
        await client.close()


@pytest.fixture
async def token() -> AsyncIterator[tuple[Token, str]]:
    servicer = Token()
    built = await serve(servicer, settings_for())
    yield servicer, f"127.0.0.1:{built.port}"
    await built.server.stop(0)


def frames(client: TokenClient) -> int:
    assert client.mux is not None
    return client.mux.frames_sent


async def test_results_are_those_of_unary_calls(
    token: tuple[Token, str], make_client: Factory
) -> None:
    _, target = token
    muxed, unary = await make_client(target), await make_client(target, muxed=False)
    for client in (muxed, unary):
        answer = await client.call.Introspect(token_pb2.IntrospectRequest(token="c1"))
        assert answer.active and answer.client_id == "c1"
        assert [key.kid for key in (await client.call.GetJwks(empty_pb2.Empty())).keys] == ["k"]
    assert frames(muxed) == 2
    assert unary.mux is None


@pytest.mark.parametrize(
    "raised",
    [
        errors.InvalidClient("Client authentication failed"),
        errors.InvalidScope("Scope 'x'"),
        errors.NotFound("no such client"),
        errors.SlowDown("Too many", retry_after=42),
        errors.Overloaded(retry_after=1),
        errors.TemporarilyUnavailable(),
        RuntimeError("secret internal detail"),
        NotImplementedError(),
    ],
)
async def test_errors_are_those_of_unary_calls(
    token: tuple[Token, str], make_client: Factory, raised: BaseException
) -> None:
    servicer, target = token
    servicer.raise_ = raised
    muxed, unary = await make_client(target), await make_client(target, muxed=False)
    seen: list[errors.OAuthError] = []
    for client in (muxed, unary):
        with pytest.raises(errors.OAuthError) as caught:
            await client.call.GetJwks(empty_pb2.Empty())
        seen.append(caught.value)
    via_mux, via_unary = seen
    assert type(via_mux) is type(via_unary)
    assert via_mux.error == via_unary.error
    assert via_mux.description == via_unary.description
    assert via_mux.retry_after == via_unary.retry_after
    assert "secret" not in str(via_mux)
    assert frames(muxed) >= 1


async def test_abort_and_unknown_methods_are_those_of_unary_calls(
    token: tuple[Token, str], make_client: Factory
) -> None:
    _, target = token
    muxed, unary = await make_client(target), await make_client(target, muxed=False)
    for client in (muxed, unary):
        with pytest.raises(errors.NotFound):
            await client.call.Introspect(token_pb2.IntrospectRequest(token="abort"))
        # Exchange is not implemented by this servicer (the generated base class).
        with pytest.raises(errors.Unimplemented):
            await client.call.Exchange(token_pb2.TokenRequest())
    client = await make_client(target)
    assert client.mux is not None
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await client.mux.call("/oauth2.v1.TokenService/NoSuchMethod", b"", 1.0, [])
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_the_deadline_is_the_items_budget_on_the_server_and_holds_on_the_client(
    token: tuple[Token, str], make_client: Factory
) -> None:
    servicer, target = token
    servicer.delay = 2
    client = await make_client(target, deadline=0.3)
    started = time.monotonic()
    with pytest.raises(errors.TemporarilyUnavailable):
        await client.call.Introspect(token_pb2.IntrospectRequest(token="slow"))
    assert time.monotonic() - started < 1
    # Two attempts (an idempotent method), each with its share of the budget.
    assert servicer.budgets and all(b is not None and 0 < b <= 0.3 for b in servicer.budgets)
    # A slow call does not condemn a stream that answers others.
    servicer.delay = 0
    assert (await client.call.Introspect(token_pb2.IntrospectRequest(token="c"))).active


async def test_a_stream_that_answers_nothing_within_a_deadline_is_replaced(
    token: tuple[Token, str], make_client: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    """A frozen replica must not keep its stream (the unary path has keepalive and
    outlier detection for it): a call that times out on a stream from which nothing
    came back since it was sent closes that stream."""
    _, target = token
    client = await make_client(target, deadline=0.3)
    assert client.mux is not None
    await client.call.GetJwks(empty_pb2.Empty())
    await client.call.GetJwks(empty_pb2.Empty())
    opened = client.mux.streams_opened
    with pytest.raises(errors.TemporarilyUnavailable):
        await client.call.Revoke(token_pb2.RevokeRequest())  # never answered
    # The next call on that slot opens a new stream and is answered.
    for _ in range(2):
        assert (await client.call.GetJwks(empty_pb2.Empty())).keys[0].kid == "k"
    assert client.mux.streams_opened > opened
    assert "closing a multiplexed stream that answered nothing" in caplog.text


async def test_concurrent_calls_travel_in_few_frames(
    token: tuple[Token, str], make_client: Factory
) -> None:
    _, target = token
    client = await make_client(target)
    await client.call.GetJwks(empty_pb2.Empty())  # both streams open
    await client.call.GetJwks(empty_pb2.Empty())
    before = frames(client)
    answers = await asyncio.gather(
        *(client.call.Introspect(token_pb2.IntrospectRequest(token=str(n))) for n in range(100))
    )
    assert [answer.client_id for answer in answers] == [str(n) for n in range(100)]
    sent = frames(client) - before
    assert sent <= 10, sent


async def test_a_server_without_the_multiplexer_is_called_unary(make_client: Factory) -> None:
    servicer = Token()
    server = grpc.aio.server(interceptors=[ErrorInterceptor()])
    token_pb2_grpc.add_TokenServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        client = await make_client(f"127.0.0.1:{port}")
        assert [key.kid for key in (await client.call.GetJwks(empty_pb2.Empty())).keys] == ["k"]
        assert client.mux is not None and client.mux.unimplemented
        servicer.raise_ = errors.InvalidClient("Client authentication failed")
        with pytest.raises(errors.InvalidClient):
            await client.call.GetJwks(empty_pb2.Empty())
    finally:
        await server.stop(0)


async def test_a_broken_stream_fails_its_calls_and_the_next_call_works_after_a_restart(
    make_client: Factory,
) -> None:
    port = free_port()
    servicer = Token()
    built = await serve(servicer, settings_for(port))
    client = await make_client(f"127.0.0.1:{port}", deadline=5)
    await client.call.GetJwks(empty_pb2.Empty())

    # Revoke waits: in flight when the server goes away.
    async def revoke(n: int) -> None:
        await client.call.Revoke(token_pb2.RevokeRequest(token=str(n)))

    pending = [asyncio.create_task(revoke(n)) for n in range(5)]
    await asyncio.sleep(0.2)
    started = time.monotonic()
    await built.server.stop(0)
    for task in pending:
        with pytest.raises(errors.TemporarilyUnavailable):
            await task
    assert time.monotonic() - started < 2  # failed, not left to their deadline
    restarted = Token("again")
    built = await serve(restarted, settings_for(port))
    try:
        jwks = None
        for _ in range(40):  # the channel reconnects within its backoff (100 ms to 1 s)
            try:
                jwks = await client.call.GetJwks(empty_pb2.Empty())
                break
            except errors.TemporarilyUnavailable:
                await asyncio.sleep(0.1)
        assert jwks is not None and jwks.keys[0].kid == "again"
        # And soon on a stream again, not only unary.
        before = frames(client)
        for _ in range(40):
            await client.call.GetJwks(empty_pb2.Empty())
            if frames(client) > before:
                break
            await asyncio.sleep(0.1)
        assert frames(client) > before
    finally:
        await built.server.stop(0)


async def test_two_replicas_both_receive_items_and_a_draining_one_is_left(
    make_client: Factory,
) -> None:
    first, second = Token("first"), Token("second")
    one = await serve(first, settings_for())
    two = await serve(second, settings_for())
    try:
        client = await make_client(f"127.0.0.1:{one.port},127.0.0.1:{two.port}")
        # Wait for both subchannels to be ready, so that the streams spread.
        for _ in range(50):
            await asyncio.gather(*(client.call.GetJwks(empty_pb2.Empty()) for _ in range(20)))
            if first.calls and second.calls:
                break
            await asyncio.sleep(0.05)
        assert first.calls > 0 and second.calls > 0
        assert client.mux is not None and not client.mux.unimplemented
        # The first drains: its health turns NOT_SERVING and its streams are told.
        await one.health.enter_graceful_shutdown()
        assert one.mux is not None
        one.mux.drain()
        await asyncio.sleep(0.5)
        before = first.calls
        kids = [(await client.call.GetJwks(empty_pb2.Empty())).keys[0].kid for _ in range(40)]
        assert set(kids) == {"second"} and first.calls == before
    finally:
        await one.server.stop(0)
        await two.server.stop(0)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, CertFiles]:
    return ensure_certificates(tmp_path_factory.mktemp("certs"), ["gateway", "token", "authorize"])


def tls(files: CertFiles) -> TlsFiles:
    return TlsFiles.load(files.ca, files.cert, files.key)


async def test_the_caller_allow_list_holds_for_each_item(
    certs: dict[str, CertFiles], make_client: Factory
) -> None:
    servicer = Token()
    built = await serve(servicer, settings_for(0, certs["token"]))
    target = f"127.0.0.1:{built.port}"
    try:
        gateway = await make_client(target, tls=tls(certs["gateway"]))
        assert [key.kid for key in (await gateway.call.GetJwks(empty_pb2.Empty())).keys] == ["k"]
        assert servicer.callers == ["gateway"]
        # RotateSigningKey is the admin service's alone: refused, item by item.
        with pytest.raises(errors.TemporarilyUnavailable):
            await gateway.call.RotateSigningKey(token_pb2.RotateSigningKeyRequest())
        assert frames(gateway) == 2 and gateway.mux is not None and not gateway.mux.unimplemented
        # authorize may not call the token service at all, stream or no stream.
        authorize = await make_client(target, tls=tls(certs["authorize"]))
        with pytest.raises(errors.TemporarilyUnavailable):
            await authorize.call.GetJwks(empty_pb2.Empty())
        assert servicer.callers == ["gateway"]
    finally:
        await built.server.stop(0)


def test_the_multiplexed_methods_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ServiceSettings().grpc_multiplex_methods == [
        "oauth2.v1.TokenService/Exchange",
        "oauth2.v1.TokenService/Introspect",
    ]
    monkeypatch.setenv("OAUTH2_GRPC_MULTIPLEX_METHODS", "a.B/C, d.E/F")
    assert ServiceSettings().grpc_multiplex_methods == ["a.B/C", "d.E/F"]
    monkeypatch.setenv("OAUTH2_GRPC_MULTIPLEX_METHODS", "")
    assert ServiceSettings().grpc_multiplex_methods == []  # every call unary
    security = ChannelSecurity.from_settings(ServiceSettings(grpc_multiplex_streams=3))
    assert security.multiplex_methods == frozenset() and security.multiplex_streams == 3
    monkeypatch.setenv("OAUTH2_GRPC_MULTIPLEX_METHODS", "Exchange")
    with pytest.raises(ValueError, match=r"package\.Service/Method"):
        ServiceSettings()
