"""Slow clients (gateway/http_timeouts.py): through a real uvicorn server made by
gateway.listeners.uvicorn_config on a free port, raw sockets for the slow clients
and httpx for the well-behaved ones."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.app import create_app
from gateway.downstream import Downstream
from gateway.http_timeouts import (
    CoalescingTransport,
    SlowClientProtocol,
    WorkerSlowClientProtocol,
)
from gateway.listeners import CompanionServer, uvicorn_config
from gateway.settings import GatewaySettings
from gateway.tests.conftest import Fakes
from gateway.tests.helpers import FORM, basic
from gateway.tests.processes import gateway_env, gateway_process
from oauth2ctl.devrun import free_port

# Generous beside the 0.5 s timeouts: the machine is shared and has two cores.
MARGIN = 1.0
TOKEN_BODY = b"grant_type=client_credentials&scope=read"
TOKEN_HEAD = (
    b"POST /oauth/token HTTP/1.1\r\nHost: auth.example.com\r\n"
    b"Content-Type: application/x-www-form-urlencoded\r\n"
    + b"".join(f"{k}: {v}\r\n".encode() for k, v in basic("c1", "s1").items())
)

Serve = Callable[..., Awaitable[int]]


@pytest.fixture
async def serve(backend: tuple[int, Fakes], fakes_reset: Fakes) -> AsyncIterator[Serve]:
    """``await serve(**setting_overrides)``: the public listener of a gateway whose
    services are the fakes, served by uvicorn as gateway/__main__.py serves it (or
    ``app`` served so); the port."""
    target = f"127.0.0.1:{backend[0]}"
    running: list[tuple[CompanionServer, asyncio.Task[None], Downstream]] = []

    async def start(app: ASGIApp | None = None, **overrides: Any) -> int:
        values: dict[str, Any] = {
            "issuer": "https://auth.example.com",
            "authorize_target": target,
            "token_target": target,
            "clients_target": target,
            "admin_target": target,
            "port": free_port(),
            "drain_seconds": 1.0,
            "request_header_timeout_seconds": 0.5,
            "request_body_timeout_seconds": 0.5,
            **overrides,
        }
        settings = GatewaySettings(**values)
        downstream = Downstream.connect(settings)
        app = app or create_app(settings, downstream)
        server = CompanionServer(uvicorn_config(app, settings, admin=False))
        serving = asyncio.create_task(server.serve())
        running.append((server, serving, downstream))
        listening = asyncio.create_task(server.listening.wait())
        await asyncio.wait([serving, listening], timeout=10, return_when="FIRST_COMPLETED")
        listening.cancel()
        assert server.listening.is_set(), "the gateway did not start listening"
        return settings.port

    yield start
    for server, serving, downstream in running:
        server.should_exit = True
        await serving
        await downstream.close()


def drops(phase: str) -> float:
    value = REGISTRY.get_sample_value("oauth2_http_slow_client_drops_total", {"phase": phase})
    return value or 0.0


def token_requests(status: int) -> float:
    labels = {"route": "/oauth/token", "method": "POST", "status": str(status)}
    return REGISTRY.get_sample_value("oauth2_http_requests_total", labels) or 0.0


async def until(condition: Callable[[], bool], bound: float = MARGIN) -> None:
    deadline = time.monotonic() + bound
    while not condition():
        assert time.monotonic() < deadline, "not within the bound"
        await asyncio.sleep(0.01)


async def connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


async def until_closed(reader: asyncio.StreamReader, bound: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and when it did
    (seconds from now); fails if it is still open after ``bound`` seconds."""
    started = time.monotonic()
    received = await asyncio.wait_for(reader.read(), bound)
    return received, time.monotonic() - started


async def dribble(writer: asyncio.StreamWriter, data: bytes, every: float) -> None:
    """Send ``data`` a byte at a time, ``every`` seconds, until the server hangs up."""
    for byte in data:
        if writer.is_closing():
            return
        try:
            writer.write(bytes([byte]))
            await writer.drain()
        except ConnectionError:
            return
        await asyncio.sleep(every)


async def read_response(reader: asyncio.StreamReader) -> tuple[str, dict[str, str], bytes]:
    """One response with a Content-Length, off a kept-alive connection."""
    status, headers, _ = split_response(await reader.readuntil(b"\r\n\r\n"))
    return status, headers, await reader.readexactly(int(headers["content-length"]))


def split_response(raw: bytes) -> tuple[str, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status, *lines = head.decode().split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body


def assert_timeout_answer(raw: bytes, phase: str) -> None:
    status, headers, body = split_response(raw)
    assert status == "HTTP/1.1 408 Request Timeout"
    assert json.loads(body) == {
        "error": "invalid_request",
        "error_description": f"The request {phase} did not arrive within 0.5 seconds",
    }
    assert headers["connection"] == "close"
    assert headers["content-type"] == "application/json"
    assert headers["cache-control"] == "no-store"
    assert int(headers["content-length"]) == len(body)


async def test_half_a_request_line_is_answered_408_and_closed(serve: Serve) -> None:
    port = await serve()
    before = drops("headers")
    reader, writer = await connect(port)
    writer.write(b"GET /hea")
    received, after = await until_closed(reader, 0.5 + MARGIN)
    assert 0.4 <= after
    assert_timeout_answer(received, "headers")
    assert drops("headers") == before + 1
    writer.close()


async def test_a_connection_that_never_sends_a_byte_is_closed_without_an_answer(
    serve: Serve,
) -> None:
    port = await serve()
    before = drops("headers")
    reader, writer = await connect(port)
    received, after = await until_closed(reader, 0.5 + MARGIN)
    assert received == b"" and 0.4 <= after
    assert drops("headers") == before + 1
    writer.close()


async def test_headers_sent_a_byte_at_a_time_do_not_restart_the_clock(serve: Serve) -> None:
    """The slowloris: every byte arrives within uvicorn's keep-alive timeout, so
    only a deadline over the whole header section ends it."""
    port = await serve()
    reader, writer = await connect(port)
    headers = b"GET /health HTTP/1.1\r\nHost: auth.example.com\r\nX-Slow: " + b"a" * 100
    sending = asyncio.create_task(dribble(writer, headers, every=0.05))
    received, after = await until_closed(reader, 0.5 + MARGIN)
    assert after < 0.5 + MARGIN
    assert_timeout_answer(received, "headers")
    assert not sending.done() or writer.is_closing()
    sending.cancel()
    writer.close()


async def test_a_body_that_dribbles_in_gets_408_and_others_are_not_hurt(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    port = await serve()
    before = drops("body"), token_requests(499), token_requests(500)
    caplog.set_level(logging.INFO)
    slow = [await connect(port) for _ in range(20)]
    sending = []
    for _, writer in slow:
        writer.write(TOKEN_HEAD + b"Content-Length: %d\r\n\r\n" % len(TOKEN_BODY))
        sending.append(asyncio.create_task(dribble(writer, TOKEN_BODY, every=0.1)))
    # Meanwhile a well-behaved client's token requests are answered at once.
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        latencies = []
        for _ in range(10):
            started = time.monotonic()
            response = await client.post(
                "/oauth/token", content=TOKEN_BODY, headers={**FORM, **basic("c1", "s1")}
            )
            latencies.append(time.monotonic() - started)
            assert response.status_code == 200, response.text
    assert max(latencies) < 0.25, latencies
    answers = await asyncio.gather(*(until_closed(reader, 0.5 + MARGIN) for reader, _ in slow))
    for received, _ in answers:
        assert_timeout_answer(received, "body")
    assert drops("body") == before[0] + len(slow)
    # The request handlers saw the client go: no 500 and no error logged, one line
    # per drop; the request metrics count them as 499 (nginx's "client closed").
    await until(lambda: token_requests(499) == before[1] + len(slow))
    assert token_requests(500) == before[2]
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]
    dropped = [r.getMessage() for r in caplog.records if r.name == "gateway.http_timeouts"]
    assert len(dropped) == len(slow)
    assert all(
        re.fullmatch(
            r"dropped slow client 127\.0\.0\.1:\d+: request body incomplete after 0\.5s", m
        )
        for m in dropped
    ), dropped
    for task in sending:
        task.cancel()
    for _, writer in slow:
        writer.close()


async def test_a_body_still_arriving_after_the_response_closes_the_connection(
    serve: Serve,
) -> None:
    """The app answered without reading the body (no such route): the client still
    owes the rest of it, so the connection goes when the body's time is up, with no
    second answer after the first."""
    port = await serve()
    before = drops("body")
    reader, writer = await connect(port)
    writer.write(
        b"POST /nowhere HTTP/1.1\r\nHost: auth.example.com\r\nContent-Length: 100\r\n\r\nab"
    )
    received, after = await until_closed(reader, 0.5 + MARGIN)
    status, _, _ = split_response(received)
    assert status == "HTTP/1.1 404 Not Found"
    assert b"408" not in received and 0.4 <= after
    assert drops("body") == before + 1
    writer.close()


async def test_bodies_and_headers_within_the_limits_are_unaffected(serve: Serve) -> None:
    port = await serve(request_header_timeout_seconds=1.5, request_body_timeout_seconds=1.5)
    before = drops("headers"), drops("body")

    async def in_pieces() -> AsyncIterator[bytes]:
        """A streamed (chunked) body in three pieces, 0.6 s in all: within 1.5 s."""
        for index, piece in enumerate((b"grant_type=client_", b"credentials&sc", b"ope=read")):
            if index:
                await asyncio.sleep(0.3)
            yield piece

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        # On one kept-alive connection, longer in all than 1.5 s: each request has
        # a deadline of its own.
        for _ in range(3):
            response = await client.post(
                "/oauth/token", content=in_pieces(), headers={**FORM, **basic("c1", "s1")}
            )
            assert response.status_code == 200, response.text
            assert response.json()["access_token"] == "at-1"
    # Headers that take their time (0.6 s) but finish within 1.5 s.
    reader, writer = await connect(port)
    head = TOKEN_HEAD + b"Content-Length: %d\r\n\r\n" % len(TOKEN_BODY)
    for index, piece in enumerate((head[:10], head[10:40], head[40:])):
        if index:
            await asyncio.sleep(0.3)
        writer.write(piece)
    writer.write(TOKEN_BODY)
    status, _, body = await asyncio.wait_for(read_response(reader), MARGIN)
    assert status == "HTTP/1.1 200 OK" and json.loads(body)["access_token"] == "at-1"
    writer.close()
    assert (drops("headers"), drops("body")) == before


async def test_requests_that_arrive_in_one_read_arm_no_clock(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The token endpoint's hot path: one timer per connection (its first request's
    headers, armed when it opens), none per request."""
    port = await serve()
    loop = asyncio.get_running_loop()
    armed: list[str] = []
    call_later = loop.call_later

    def counting(delay: float, callback: Callable[..., object], *args: Any) -> asyncio.TimerHandle:
        armed.append(getattr(callback, "__name__", ""))
        return call_later(delay, callback, *args)

    monkeypatch.setattr(loop, "call_later", counting)
    reader, writer = await connect(port)
    for _ in range(20):
        writer.write(TOKEN_HEAD + b"Content-Length: %d\r\n\r\n" % len(TOKEN_BODY) + TOKEN_BODY)
        status, _, _ = await asyncio.wait_for(read_response(reader), MARGIN)
        assert status == "HTTP/1.1 200 OK"
    writer.close()
    assert armed.count("_expired") == 1


async def test_an_idle_kept_alive_connection_closes_after_the_keep_alive_timeout(
    serve: Serve,
) -> None:
    """Idle between requests is the keep-alive timeout's business, not a slow client:
    a connection may idle past the header timeout (a balancer's pooled connection)
    and its next request is served; then it closes after keep_alive_timeout_seconds."""
    port = await serve(keep_alive_timeout_seconds=2)
    before = drops("headers")
    reader, writer = await connect(port)
    request = b"GET /health HTTP/1.1\r\nHost: auth.example.com\r\n\r\n"
    writer.write(request)
    assert await asyncio.wait_for(reader.readline(), MARGIN) == b"HTTP/1.1 200 OK\r\n"
    await asyncio.wait_for(reader.readuntil(b'"ok"}'), MARGIN)
    await asyncio.sleep(1.0)  # idle: longer than the 0.5 s header timeout, shorter than 2 s
    writer.write(request)
    assert await asyncio.wait_for(reader.readline(), MARGIN) == b"HTTP/1.1 200 OK\r\n"
    await asyncio.wait_for(reader.readuntil(b'"ok"}'), MARGIN)
    received, after = await until_closed(reader, 2 + MARGIN)
    assert received == b"" and 1.9 <= after
    assert drops("headers") == before
    writer.close()


async def echo_after_a_while(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers with the request's body; /slow after a second of work before it reads
    the body (uvicorn reads on when a request's app reads its body)."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["path"] == "/slow":
        await asyncio.sleep(1.0)
    body, more = b"", True
    while more:
        message = await receive()
        body, more = body + message.get("body", b""), message.get("more_body", False)
    start = {"type": "http.response.start", "status": 200}
    await send({**start, "headers": [(b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body})


async def test_a_pipelined_request_is_timed_from_its_turn(serve: Serve) -> None:
    """uvicorn stops reading when a request is pipelined behind one still running
    (until that one reads its body): the waiting one's body may be unable to arrive,
    so its clock starts when its turn comes."""
    port = await serve(app=echo_after_a_while)
    before = drops("body")
    reader, writer = await connect(port)
    writer.write(
        b"POST /slow HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\none"
        b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\r\ntw"
    )
    await writer.drain()
    await asyncio.sleep(0.1)  # the rest in a read of its own, after uvicorn paused reading
    writer.write(b"o..!")
    for body in (b"one", b"two..!"):
        status, _, received = await asyncio.wait_for(read_response(reader), 2.0)
        assert (status, received) == ("HTTP/1.1 200 OK", body)
    assert drops("body") == before
    writer.close()


async def quiet_websocket(scope: Scope, receive: Receive, send: Send) -> None:
    """Accepts a WebSocket and says something only after a second."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    await asyncio.sleep(1.0)
    await send({"type": "websocket.send", "text": "still here"})
    await send({"type": "websocket.close"})


async def test_an_upgraded_connection_is_no_longer_timed(serve: Serve) -> None:
    """httptools reports an upgrade once the request is complete, so the clock has
    stopped before the WebSocket protocol takes the connection over."""
    port = await serve(app=quiet_websocket)
    before = drops("headers"), drops("body")
    reader, writer = await connect(port)
    writer.write(
        b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    assert await asyncio.wait_for(reader.readline(), MARGIN) == (
        b"HTTP/1.1 101 Switching Protocols\r\n"
    )
    await asyncio.wait_for(reader.readuntil(b"still here"), 1.0 + MARGIN)
    assert (drops("headers"), drops("body")) == before
    writer.close()


def test_both_listeners_and_the_workers_use_the_timeouts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, redis_url: str
) -> None:
    settings = GatewaySettings(
        request_header_timeout_seconds=3,
        request_body_timeout_seconds=4,
        keep_alive_timeout_seconds=7,
    )
    for admin in (False, True):
        config = uvicorn_config(object(), settings, admin=admin)
        assert isinstance(config.http, type) and issubclass(config.http, SlowClientProtocol)
        assert config.http.timeouts() == (3, 4)
        assert config.timeout_keep_alive == 7
    # Several workers: the class is named, and each worker reads its settings.
    import gateway.__main__ as entry
    import gateway.http_timeouts

    seen: dict[str, Any] = {}
    monkeypatch.setattr("uvicorn.run", lambda *args, **kwargs: seen.update(kwargs))
    monkeypatch.setattr("gateway.__main__.configure_logging", lambda settings: None)
    for name, value in {
        "OAUTH2_DATA_DIR": str(tmp_path),
        "OAUTH2_WORKERS": "2",
        "OAUTH2_ADMIN_PORT": "0",
        # Workers need a Redis, which main() waits for: a real one, nothing is written.
        "REDIS_URL": redis_url,
        "OAUTH2_PORT": str(free_port()),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "OAUTH2_REQUEST_HEADER_TIMEOUT_SECONDS": "1.5",
        "OAUTH2_REQUEST_BODY_TIMEOUT_SECONDS": "2.5",
        "OAUTH2_KEEP_ALIVE_TIMEOUT_SECONDS": "8",
    }.items():
        monkeypatch.setenv(name, value)
    entry.main([])
    assert seen["http"] == "gateway.http_timeouts:WorkerSlowClientProtocol"
    assert seen["timeout_keep_alive"] == 8
    gateway.http_timeouts._settings_timeouts.cache_clear()
    try:
        assert WorkerSlowClientProtocol.timeouts() == (1.5, 2.5)
    finally:
        gateway.http_timeouts._settings_timeouts.cache_clear()


def test_spawned_workers_drop_slow_clients(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    """With several workers the protocol is imported by name in each worker."""
    port = free_port()
    env = gateway_env(
        tmp_path,
        OAUTH2_PORT=str(port),
        OAUTH2_ADMIN_PORT="0",
        OAUTH2_WORKERS="2",
        REDIS_URL=redis_url,
        OAUTH2_REDIS_KEY_PREFIX=redis_prefix + "slow:",
        OAUTH2_REQUEST_HEADER_TIMEOUT_SECONDS="0.5",
    )
    with gateway_process(env, port):

        async def half_a_request() -> tuple[bytes, float]:
            reader, writer = await connect(port)
            writer.write(b"GET /hea")
            try:
                return await until_closed(reader, 0.5 + MARGIN)
            finally:
                writer.close()

        # Several connections, so that both workers most likely take one.
        for received, after in asyncio.run(_gather(half_a_request, 4)):
            assert 0.4 <= after
            assert_timeout_answer(received, "headers")


async def _gather(
    make: Callable[[], Awaitable[tuple[bytes, float]]], count: int
) -> list[tuple[bytes, float]]:
    return list(await asyncio.gather(*(make() for _ in range(count))))


class RecordingTransport:
    """The real transport, with the bytes of each of its writes recorded."""

    def __init__(self, transport: asyncio.Transport, writes: list[bytes]) -> None:
        self._transport = transport
        self._writes = writes

    def write(self, data: bytes) -> None:
        self._writes.append(bytes(data))
        self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


async def test_each_response_leaves_in_one_write(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    """uvicorn writes a response's head and its body apart; the protocol's transport
    sends them as one write (one system call, one segment for the client to wake up for)."""
    writes: list[bytes] = []
    wrap = CoalescingTransport.__init__

    def recording(
        self: CoalescingTransport, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop
    ) -> None:
        wrap(self, RecordingTransport(transport, writes), loop)  # type: ignore[arg-type]

    monkeypatch.setattr(CoalescingTransport, "__init__", recording)
    port = await serve()
    reader, writer = await connect(port)
    for _ in range(3):
        writer.write(TOKEN_HEAD + b"Content-Length: %d\r\n\r\n" % len(TOKEN_BODY) + TOKEN_BODY)
        status, _, body = await asyncio.wait_for(read_response(reader), MARGIN)
        assert status == "HTTP/1.1 200 OK" and json.loads(body)["access_token"] == "at-1"
    writer.close()
    assert len(writes) == 3
    for write in writes:
        assert write.startswith(b"HTTP/1.1 200 OK\r\n") and write.endswith(body)


async def test_closing_the_coalescing_transport_sends_what_is_pending_first() -> None:
    loop = asyncio.get_running_loop()
    sent: list[bytes] = []
    closed: list[bool] = []

    class Inner(asyncio.Transport):
        def write(self, data: Any) -> None:
            assert not closed, "written after close"
            sent.append(bytes(data))

        def close(self) -> None:
            closed.append(True)

        def is_closing(self) -> bool:
            return bool(closed)

        def get_write_buffer_size(self) -> int:
            return 0

    transport = CoalescingTransport(Inner(), loop)
    transport.write(b"head ")
    transport.write(b"")
    transport.writelines([b"body", memoryview(b"!")])
    assert sent == [] and transport.get_write_buffer_size() == 10
    await asyncio.sleep(0)
    assert sent == [b"head body!"]
    transport.write(b"last words")
    transport.close()
    assert sent == [b"head body!", b"last words"] and closed == [True]
    await asyncio.sleep(0)  # the flush scheduled by the last write finds nothing to send
    assert sent == [b"head body!", b"last words"]
