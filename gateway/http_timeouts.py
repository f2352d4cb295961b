"""Slow clients at the gateway's listeners: how long a client may take to send a
request's headers and its body, as nginx (``client_header_timeout``,
``client_body_timeout``) and Envoy (``request_headers_timeout``) bound them.

uvicorn bounds only the idle time between two requests of a kept-alive connection
(``timeout_keep_alive``), and it stops that clock at the first byte of the next
request: a client that opens a connection and sends nothing, or sends half a
request line and then a byte every few seconds, or headers and then a body that
never ends (slowloris), holds a connection, a file descriptor and, for the body, a
request task for as long as it likes. :class:`SlowClientProtocol` closes such a
connection when a deadline passes:

- the headers: from the moment the connection is open (its first request) or the
  first byte of the next request on a kept-alive connection, until the request's
  headers are complete (``request_header_timeout_seconds``). The idle wait before
  that first byte is the keep-alive timeout's, so that a load balancer's pooled
  connections may idle longer than a client may take over its headers;
- the body: from the end of the headers until the last byte of the body
  (``request_body_timeout_seconds``), the whole body, not each read.

It answers 408 with an RFC 6749 section 5.2 ``invalid_request`` body and
``Connection: close`` when it can (the response has not begun, and the client sent
part of a request: one that never sent a byte, such as a browser's preconnected
socket, is closed without a word), counts the drop in
``oauth2_http_slow_client_drops_total`` and logs one line.

The clocks are the event loop's timers (no task, no ``wait_for``), armed only while
the client owes bytes: one per connection, for its first request's headers, and
none for a request that arrives in one read, as nearly every token request does.
A pipelined request is timed from its turn. The body's clock does not stop while
uvicorn holds reading back because the app has not yet taken what was sent (over
64 KiB): the gateway's routes read bodies as they come, so only a handler busy
elsewhere in the middle of a large body would make its client pay for it.

The same protocol hands the application the TLS client certificate of a mutual-TLS
connection (RFC 8705), which uvicorn does not: as the ASGI TLS extension's
``client_cert_chain`` (``scope["extensions"]["tls"]``, the leaf in PEM), read once
per connection.

The same protocol also sends each response in one write (:class:`CoalescingTransport`):
uvicorn writes a response's status line and headers, then its body, as two writes,
two system calls and two TCP segments on a connection whose peer wakes up for each.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import ssl
from typing import Any, ClassVar, Final, Literal

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from common.settings import load_settings
from gateway.metrics import SLOW_CLIENT_DROPS
from gateway.settings import GatewaySettings

log = logging.getLogger(__name__)

Phase = Literal["headers", "body"]
HEADERS: Final = "headers"
BODY: Final = "body"


def tls_extension(transport: asyncio.BaseTransport) -> dict[str, Any] | None:
    """The ASGI TLS extension for a connection whose client presented a certificate
    (the TLS handshake verified it against ``tls_client_ca_file``); None otherwise."""
    ssl_object = transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        return None
    return {"client_cert_chain": [ssl.DER_cert_to_PEM_cert(der)]}


class SlowClientProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline on each phase in which the client
    owes the server bytes. Use :func:`slow_client_protocol` for one with the
    settings' timeouts."""

    request_header_timeout: ClassVar[float] = 10.0
    request_body_timeout: ClassVar[float] = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._owed: Phase | None = None  # what the client is in the middle of sending
        self._timed: Phase | None = None  # what self._timer bounds
        self._timer: asyncio.TimerHandle | None = None
        self._request_begun = False
        self._header_timeout, self._body_timeout = self.timeouts()
        # The ASGI TLS extension of this connection's requests (a client certificate).
        self._tls_extension: dict[str, Any] | None = None

    @classmethod
    def timeouts(cls) -> tuple[float, float]:
        """Seconds allowed for the headers and for the body of a request."""
        return cls.request_header_timeout, cls.request_body_timeout

    # asyncio.Protocol: the headers' clock of the first request starts with the connection.
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._tls_extension = tls_extension(transport)
        super().connection_made(CoalescingTransport(transport, self.loop))
        self._owed = HEADERS
        self._follow()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_clock()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        # The parser's callbacks below moved self._owed; a request that arrived in
        # one read leaves it where it was (None, between requests) and arms nothing.
        if self._due() != self._timed:
            self._follow()

    # httptools' parser callbacks, each running inside super().data_received().
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._request_begun = True
        self._owed = HEADERS

    def on_headers_complete(self) -> None:
        if self._tls_extension is not None:
            # Read by the request cycle super() starts here.
            extensions: dict[str, Any] = self.scope.setdefault("extensions", {})
            extensions["tls"] = self._tls_extension
        super().on_headers_complete()
        self._owed = BODY

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._request_begun = False
        self._owed = None

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # A pipelined request may have started: its clock runs from now.
        if self._due() != self._timed:
            self._follow()

    def _due(self) -> Phase | None:
        """The phase whose clock should run. None while a pipelined request waits for
        its turn: uvicorn stops reading then (until the running request reads its
        body), so the client need not be the slow one; its clock starts with its turn."""
        return None if self.pipeline else self._owed

    def _follow(self) -> None:
        """Point the clock at what the client owes now: stop it, or start it afresh."""
        self._stop_clock()
        due = self._due()
        if due is None or self.transport.is_closing():
            return
        seconds = self._header_timeout if due == HEADERS else self._body_timeout
        self._timed = due
        self._timer = self.loop.call_later(seconds, self._expired)

    def _stop_clock(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._timed = None

    def _expired(self) -> None:
        phase = self._timed
        self._timer = self._timed = None
        if phase is None or self.transport.is_closing():
            return
        seconds = self._header_timeout if phase == HEADERS else self._body_timeout
        SLOW_CLIENT_DROPS.labels(phase).inc()
        peer = f"{self.client[0]}:{self.client[1]}" if self.client else "an unknown peer"
        log.info("dropped slow client %s: request %s incomplete after %gs", peer, phase, seconds)
        cycle = self.cycle
        if phase == BODY:
            # This request's task sees a disconnect from now on, and what it sends is
            # dropped; a 408 only if its own response has not begun.
            answer = not cycle.response_started
            if not cycle.response_complete:
                cycle.disconnected = True
                cycle.message_event.set()
        else:
            # self.cycle is the previous request's: answering while its response is
            # still to come would pass the 408 off as that response.
            answer = self._request_begun and (cycle is None or cycle.response_complete)
        if answer:
            self.transport.write(self._timeout_response(phase, seconds))
        self.transport.close()

    def _timeout_response(self, phase: Phase, seconds: float) -> bytes:
        body = _error_body(phase, seconds)
        head = [b"HTTP/1.1 408 Request Timeout\r\n"]
        head += [
            name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers
        ]
        head += [
            b"content-type: application/json\r\n",
            b"cache-control: no-store\r\n",
            b"pragma: no-cache\r\n",
            b"x-content-type-options: nosniff\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
        ]
        return b"".join(head) + body


class CoalescingTransport(asyncio.Transport):
    """A transport whose writes within one step of the event loop leave as one: the
    first write of a step schedules the flush (``call_soon``), the others join its
    buffer. A response's head and body are sent in the same step (nothing between
    them waits), so they leave in one ``write``. Closing flushes first; everything
    else is the wrapped transport's."""

    __slots__ = ("_buffer", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._transport = transport
        self._loop = loop
        self._buffer: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if not self._buffer:
            self._loop.call_soon(self.flush)
        self._buffer.append(bytes(data))

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def flush(self) -> None:
        if not self._buffer:
            return
        data = self._buffer[0] if len(self._buffer) == 1 else b"".join(self._buffer)
        self._buffer.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._buffer.clear()
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(map(len, self._buffer))

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.flush()
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._transport.get_write_buffer_limits()

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()


@functools.cache
def _error_body(phase: Phase, seconds: float) -> bytes:
    description = f"The request {phase} did not arrive within {seconds:g} seconds"
    error = {"error": "invalid_request", "error_description": description}
    return json.dumps(error, separators=(",", ":")).encode()


def slow_client_protocol(settings: GatewaySettings) -> type[SlowClientProtocol]:
    """The protocol class for uvicorn's ``http``, with the settings' timeouts."""
    return _protocol(settings.request_header_timeout_seconds, settings.request_body_timeout_seconds)


@functools.cache
def _protocol(header_timeout: float, body_timeout: float) -> type[SlowClientProtocol]:
    class Configured(SlowClientProtocol):
        request_header_timeout = header_timeout
        request_body_timeout = body_timeout

    return Configured


class WorkerSlowClientProtocol(SlowClientProtocol):
    """The protocol of a worker process uvicorn spawned (``workers`` > 1), named by
    its import path because the class travels to the worker by name: its timeouts
    come from the settings the worker loads from the environment it inherits, as
    ``gateway.__main__.worker_app`` does."""

    @classmethod
    def timeouts(cls) -> tuple[float, float]:
        return _settings_timeouts()


@functools.cache
def _settings_timeouts() -> tuple[float, float]:
    settings = load_settings(GatewaySettings)
    return settings.request_header_timeout_seconds, settings.request_body_timeout_seconds
