"""Many unary calls over a few long-lived gRPC streams, batched.

A grpc.aio unary call costs about 120 µs of CPU on each side whatever its handler
does (an HTTP/2 stream, the per-call Cython objects, an eventfd wake-up and a
sendmsg per message); an item on an already open bidirectional stream costs about
half, and items that travel together in one frame a small fraction of that
(docs/performance.md). So the hot calls of a channel (the ``grpc_multiplex_methods``
setting) travel as :class:`MuxItem`\\ s of ``oauth2.v1.Multiplex/Calls``
(protos/oauth2/v1/mux.proto), and the items ready in one event-loop iteration
leave in one frame, both ways.

Nothing about a call changes for its two ends:

* Server side (:class:`MultiplexServicer`, registered by common.grpc_server on every
  server), each item runs through the very interceptor objects the server runs for
  a unary call (span from the item's ``traceparent``, metrics under the item's
  method, the caller allow-list with the stream's peer certificate, the error
  interceptor with the item's deadline as budget), then the method handler the
  service registered, with an :class:`ItemContext` standing in for the call's
  ServicerContext. An abort becomes the item's ``google.rpc.Status``.
* Client side (:class:`MuxClient`, used by common.grpc_client for the listed methods),
  a call's result or error is the one the unary call would give: a failed item
  raises a ``grpc.aio.AioRpcError`` carrying its status in the trailing metadata, as
  the unary call's error does, so common.grpc_errors decodes the same OAuthError.

What the unary path gets from gRPC itself is done here by hand: a stream that
breaks fails its pending items UNAVAILABLE (an idempotent call gets one more
attempt); a stream on which a call times out without anything arriving is closed
(a frozen replica must not keep receiving items); streams are retired after
:data:`STREAM_LIFETIME_SECONDS` (before the server's max_connection_age grace
would cut them, and so that new replicas get streams) and when the server says
it drains; a server without the Multiplex service (UNIMPLEMENTED) sends the
channel back to unary calls.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import itertools
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from typing import Any, Final, NamedTuple

import grpc
from google.protobuf import descriptor_pool, message_factory
from google.rpc import status_pb2
from oauth2.v1 import mux_pb2, mux_pb2_grpc
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from common.metrics import GRPC_CLIENT_CALLS, GRPC_CLIENT_DURATION, LabelledChildren, split_method
from common.telemetry import spans_may_record, traceparent_of

log = logging.getLogger(__name__)

MUX_SERVICE: Final = "oauth2.v1.Multiplex"
CALLS_METHOD: Final = f"/{MUX_SERVICE}/Calls"
#: The trailing-metadata key under which gRPC carries a serialized google.rpc.Status.
STATUS_DETAILS_KEY: Final = "grpc-status-details-bin"

#: Items of one stream running at once on the server; beyond that the stream is
#: not read (HTTP/2 flow control then holds the client back).
MAX_IN_FLIGHT_PER_STREAM: Final = 256
#: A client stream takes no new items after this long; a new one takes over. Below the
#: server's ``grpc.max_connection_age_grace_ms`` (30 s, common.grpc_server), so a
#: connection's GOAWAY never cuts a stream with items in flight.
STREAM_LIFETIME_SECONDS: Final = 20.0
#: The first stream of a slot lives this long, each next one twice as long up to
#: STREAM_LIFETIME_SECONDS: round_robin puts a stream on a replica that is connected
#: already, so the streams opened while a channel still connects all land on the first
#: replica up; they soon give way to streams spread over every replica.
_FIRST_LIFETIME_SECONDS: Final = 0.5
#: For this long after the streams' channel is made, calls go unary (balanced call by
#: call) while it connects to every replica: a stream opened before then would land
#: on whichever replica answered first.
WARMUP_SECONDS: Final = 0.5
#: A stream that failed before answering anything is reopened after this much, doubling.
_MIN_BACKOFF_SECONDS: Final = 0.1
_MAX_BACKOFF_SECONDS: Final = 1.0


# --- server side ------------------------------------------------------------------


class HandlerRegistry:
    """The method handlers the services registered, by full method name, captured
    as :func:`recording_server` forwards the registrations to the real server."""

    def __init__(self) -> None:
        self._registered: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}
        self._generic: list[grpc.GenericRpcHandler] = []

    def add_generic(self, handlers: Iterable[grpc.GenericRpcHandler]) -> None:
        self._generic.extend(handlers)

    def add_registered(
        self, service: str, handlers: Mapping[str, grpc.RpcMethodHandler[Any, Any]]
    ) -> None:
        for name, handler in handlers.items():
            self._registered[f"/{service}/{name}"] = handler

    def lookup(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = self._registered.get(details.method)
        if handler is not None:
            return handler
        for generic in self._generic:
            handler = generic.service(details)
            if handler is not None:
                self._registered[details.method] = handler
                return handler
        return None


class _RecordingServer:
    """A grpc.aio.Server that also tells a :class:`HandlerRegistry` what the generated
    ``add_*Servicer_to_server`` functions register on it; everything else passes."""

    def __init__(self, server: grpc.aio.Server, registry: HandlerRegistry) -> None:
        self._server = server
        self._registry = registry

    def add_generic_rpc_handlers(self, handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        self._registry.add_generic(handlers)
        self._server.add_generic_rpc_handlers(handlers)

    def add_registered_method_handlers(
        self, service: str, handlers: Mapping[str, grpc.RpcMethodHandler[Any, Any]]
    ) -> None:
        self._registry.add_registered(service, handlers)
        self._server.add_registered_method_handlers(service, handlers)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._server, name)


def recording_server(server: grpc.aio.Server, registry: HandlerRegistry) -> grpc.aio.Server:
    server_like: Any = _RecordingServer(server, registry)
    return server_like  # type: ignore[no-any-return]


class _Metadatum(NamedTuple):
    # What grpc.aio gives as invocation metadata: pairs that also have .key/.value.
    key: str
    value: str


class _CallDetails(grpc.HandlerCallDetails):
    """A grpc.HandlerCallDetails for one item (the interceptors read these two)."""

    __slots__ = ("invocation_metadata", "method")

    def __init__(self, method: str, invocation_metadata: tuple[_Metadatum, ...]) -> None:
        self.method = method
        self.invocation_metadata = invocation_metadata


class ItemAborted(grpc.aio.AbortError):
    """Raised by :meth:`ItemContext.abort`: the item ends with ``status``. An
    AbortError, so the interceptors let it through as they let a real abort."""

    def __init__(self, status: bytes) -> None:
        super().__init__()
        self.status = status


def _status_bytes(code: grpc.StatusCode, details: str, trailing: Any = ()) -> bytes:
    for key, value in trailing or ():
        if key == STATUS_DETAILS_KEY and isinstance(value, bytes):
            return bytes(value)
    status: bytes = status_pb2.Status(code=code.value[0], message=details).SerializeToString()
    return status


class ItemContext:
    """What a servicer and the interceptors use of grpc.aio.ServicerContext, for one
    item: its metadata and deadline, the stream's peer and certificate."""

    __slots__ = ("_code", "_deadline", "_details", "_metadata", "_stream")

    def __init__(
        self,
        stream: grpc.aio.ServicerContext[Any, Any],
        metadata: tuple[_Metadatum, ...],
        deadline: float | None,
    ) -> None:
        self._stream = stream
        self._metadata = metadata
        self._deadline = deadline
        self._code: grpc.StatusCode | None = None
        self._details = ""

    async def abort(
        self, code: grpc.StatusCode, details: str = "", trailing_metadata: Any = ()
    ) -> None:
        self._code, self._details = code, details
        raise ItemAborted(_status_bytes(code, details, trailing_metadata))

    async def abort_with_status(self, status: grpc.Status) -> None:
        await self.abort(status.code, status.details, status.trailing_metadata)

    def code(self) -> grpc.StatusCode | None:
        return self._code

    def details(self) -> str:
        return self._details

    def set_code(self, code: grpc.StatusCode) -> None:
        self._code = code

    def set_details(self, details: str) -> None:
        self._details = details

    def time_remaining(self) -> float | None:
        if self._deadline is None:
            return None
        return max(0.0, self._deadline - time.monotonic())

    def invocation_metadata(self) -> tuple[_Metadatum, ...]:
        return self._metadata

    def auth_context(self) -> Mapping[str, Iterable[bytes]]:
        return self._stream.auth_context()

    def peer(self) -> str:
        return self._stream.peer()

    def peer_identities(self) -> Iterable[bytes] | None:
        return self._stream.peer_identities()

    def peer_identity_key(self) -> str | None:
        return self._stream.peer_identity_key()

    def cancelled(self) -> bool:
        return self._stream.cancelled()

    def done(self) -> bool:
        return self._stream.done()

    # An item has no headers or trailers of its own: only its status travels.
    def set_trailing_metadata(self, trailing_metadata: Any) -> None:
        pass

    def trailing_metadata(self) -> tuple[()]:
        return ()

    async def send_initial_metadata(self, initial_metadata: Any) -> None:
        pass

    def set_compression(self, compression: Any) -> None:
        pass

    def disable_next_message_compression(self) -> None:
        pass


class MultiplexServicer(mux_pb2_grpc.MultiplexServicer):
    """``oauth2.v1.Multiplex/Calls``: each item is one unary call of a method this
    server registered, through ``interceptors`` (the server's own, outermost first)."""

    def __init__(
        self, registry: HandlerRegistry, interceptors: Sequence[grpc.aio.ServerInterceptor]
    ) -> None:
        self._registry = registry
        self._interceptors = tuple(interceptors)
        self._streams: set[_ServerStream] = set()
        self.draining = False

    def drain(self) -> None:
        """Tell every stream's client to send new calls elsewhere; the items already
        sent are answered and each stream ends when its client stops writing."""
        self.draining = True
        for stream in self._streams:
            stream.wake()

    async def handler_for(self, details: grpc.HandlerCallDetails) -> Any:
        """The method's handler wrapped by every interceptor, as gRPC builds it for a call."""
        interceptors = self._interceptors
        lookup = self._registry.lookup

        async def at(index: int, details: grpc.HandlerCallDetails) -> Any:
            if index == len(interceptors):
                return lookup(details)
            return await interceptors[index].intercept_service(
                lambda next_details: at(index + 1, next_details), details
            )

        return await at(0, details)

    async def Calls(  # type: ignore[override]
        self,
        request_iterator: AsyncIterator[mux_pb2.MuxFrame],
        context: grpc.aio.ServicerContext[mux_pb2.MuxFrame, mux_pb2.MuxFrame],
    ) -> None:
        # Headers at once: the client writes nothing before it knows the stream is
        # accepted (a server without this service answers UNIMPLEMENTED instead).
        await context.send_initial_metadata(())
        # Frames go out with context.write rather than from an async generator: a
        # generator cancelled while it waits cannot be closed cleanly.
        stream = _ServerStream(self, context)
        self._streams.add(stream)
        try:
            await stream.run(request_iterator)
        finally:
            self._streams.discard(stream)
            stream.cancel()


class _ServerStream:
    def __init__(
        self, servicer: MultiplexServicer, context: grpc.aio.ServicerContext[Any, Any]
    ) -> None:
        self._servicer = servicer
        self._context = context
        self._ready: list[mux_pb2.MuxItem] = []
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(MAX_IN_FLIGHT_PER_STREAM)
        self._tasks: set[asyncio.Task[None]] = set()
        self._reading = True
        self._told_draining = False
        self._reader: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    def cancel(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        for task in self._tasks:
            task.cancel()

    async def run(self, request_iterator: AsyncIterator[mux_pb2.MuxFrame]) -> None:
        self._reader = asyncio.create_task(self._read(request_iterator))
        write = self._context.write
        while True:
            await self._wake.wait()
            self._wake.clear()
            # Everything answered since the last frame, in one frame.
            draining = self._servicer.draining and not self._told_draining
            if self._ready or draining:
                items, self._ready = self._ready, []
                self._told_draining = self._told_draining or draining
                await write(mux_pb2.MuxFrame(items=items, draining=draining))
            if not self._reading and not self._tasks and not self._ready:
                return

    async def _read(self, request_iterator: AsyncIterator[mux_pb2.MuxFrame]) -> None:
        try:
            async for frame in request_iterator:
                for item in frame.items:
                    await self._slots.acquire()
                    task = asyncio.create_task(self._answer(item))
                    self._tasks.add(task)
        finally:
            # The client stopped writing (or went away): end once all is answered.
            self._reading = False
            self._wake.set()

    async def _answer(self, item: mux_pb2.MuxItem) -> None:
        try:
            answer = await self._call(item)
        finally:
            self._slots.release()
            self._tasks.discard(asyncio.current_task())
        self._ready.append(answer)
        self._wake.set()

    async def _call(self, item: mux_pb2.MuxItem) -> mux_pb2.MuxItem:
        metadata = tuple(_Metadatum(entry.key, entry.value) for entry in item.metadata)
        timeout = item.timeout_seconds
        deadline = time.monotonic() + timeout if timeout > 0 else None
        context = ItemContext(self._context, metadata, deadline)
        try:
            # A unary call's deadline cancels its handler: so does the item's.
            async with asyncio.timeout_at(_loop_deadline(deadline)):
                handler = await self._servicer.handler_for(_CallDetails(item.method, metadata))
                if handler is None or handler.unary_unary is None:
                    return _failed(item.id, grpc.StatusCode.UNIMPLEMENTED, "Method not found!")
                request: Any = item.payload
                if handler.request_deserializer is not None:
                    try:
                        request = handler.request_deserializer(item.payload)
                    except Exception:
                        return _failed(
                            item.id, grpc.StatusCode.INTERNAL, "Failed to deserialize request"
                        )
                response = handler.unary_unary(request, context)
                if inspect.isawaitable(response):
                    response = await response
        except ItemAborted as aborted:
            return mux_pb2.MuxItem(id=item.id, status=aborted.status)
        except TimeoutError:
            return _failed(item.id, grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")
        except Exception:
            # The error interceptor turns servicer exceptions into statuses; this is
            # only what escapes it (an interceptor of its own failing).
            log.exception("%s failed in the multiplexer", item.method)
            return _failed(item.id, grpc.StatusCode.UNKNOWN, "Unexpected error")
        code = context.code()
        if code is not None and code != grpc.StatusCode.OK:
            return _failed(item.id, code, context.details())
        payload = response
        if handler.response_serializer is not None:
            payload = handler.response_serializer(response)
        return mux_pb2.MuxItem(id=item.id, payload=payload)


def _loop_deadline(deadline: float | None) -> float | None:
    # asyncio.timeout_at reads the loop's clock, which is time.monotonic() only by default.
    if deadline is None:
        return None
    return asyncio.get_running_loop().time() + (deadline - time.monotonic())


def _failed(item_id: int, code: grpc.StatusCode, details: str) -> mux_pb2.MuxItem:
    return mux_pb2.MuxItem(id=item_id, status=_status_bytes(code, details))


# --- client side ------------------------------------------------------------------


class MuxFallback(Exception):
    """The call is to be made as a plain unary call (no Multiplex service on the
    server, or the streams are backing off after a failure)."""


def _rpc_error(code: grpc.StatusCode, details: str, status: bytes = b"") -> grpc.aio.AioRpcError:
    """The error the unary call would have raised: the code, and the status (with its
    details) in the trailing metadata, where common.grpc_errors reads it."""
    trailing = grpc.aio.Metadata((STATUS_DETAILS_KEY, status)) if status else grpc.aio.Metadata()
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), trailing, details)


def _item_error(item: mux_pb2.MuxItem) -> grpc.aio.AioRpcError:
    status = status_pb2.Status.FromString(item.status)
    try:
        code = _CODES[status.code]
    except KeyError:
        code = grpc.StatusCode.UNKNOWN
    return _rpc_error(code, status.message, item.status)


_CODES: Final = {code.value[0]: code for code in grpc.StatusCode}


class _StreamEnded(Exception):
    """The item's stream ended before it was answered; the server may or may not
    have run it."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


class _ClientStream:
    """One ``Multiplex/Calls`` stream: a writer task that sends what was queued in one
    frame, a reader task that resolves the waiting calls."""

    def __init__(self, client: MuxClient, slot: int) -> None:
        self._client = client
        self.slot = slot
        self._pending: dict[int, asyncio.Future[mux_pb2.MuxItem]] = {}
        self._queue: list[mux_pb2.MuxItem] = []
        self._wake = asyncio.Event()
        self.accepting = True
        self.answered = False
        loop = asyncio.get_running_loop()
        self.opened_at = loop.time()
        self.last_frame_at = self.opened_at
        self._call: Any = None
        # A context of its own: the stream outlives the request that opened it, and
        # must not carry its span, deadline or caller.
        self._task = loop.create_task(self._run(), context=contextvars.Context())

    def submit(self, item: mux_pb2.MuxItem) -> asyncio.Future[mux_pb2.MuxItem]:
        future: asyncio.Future[mux_pb2.MuxItem] = asyncio.get_running_loop().create_future()
        self._pending[item.id] = future
        self._queue.append(item)
        self._wake.set()
        return future

    def forget(self, item_id: int) -> None:
        self._pending.pop(item_id, None)

    def retire(self) -> None:
        """No new items; the stream ends once those sent are answered."""
        if self.accepting:
            self.accepting = False
            self._client.forget(self)
            self._wake.set()

    def close(self) -> None:
        """End it now: its pending calls fail UNAVAILABLE."""
        self.retire()
        if self._call is not None:
            self._call.cancel()

    async def wait_closed(self) -> None:
        await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        call = self._client.open_call()
        self._call = call
        reader = asyncio.create_task(self._read(call))
        try:
            # A write racing a refusal (UNIMPLEMENTED) turns the call's status into
            # INTERNAL: wait for the server to accept the stream first (one round trip).
            await call.initial_metadata()
            while not call.done():
                await self._wake.wait()
                self._wake.clear()
                if self._queue:
                    # At most as many as the server runs at once: a frame stays far
                    # below the 4 MiB a server accepts in one message.
                    items = self._queue[:MAX_IN_FLIGHT_PER_STREAM]
                    del self._queue[:MAX_IN_FLIGHT_PER_STREAM]
                    if self._queue:
                        self._wake.set()
                    await call.write(mux_pb2.MuxFrame(items=items))
                    self._client.frames_sent += 1
                if not self.accepting and not self._queue:
                    if not reader.done():
                        await call.done_writing()
                    break
        except Exception as exc:  # the stream ended under us; the reader says how
            log.debug("multiplexed stream write failed: %r", exc)
        finally:
            await asyncio.gather(reader, return_exceptions=True)

    async def _read(self, call: Any) -> None:
        code, details = grpc.StatusCode.UNAVAILABLE, "the multiplexed stream ended"
        loop = asyncio.get_running_loop()
        try:
            while True:
                frame = await call.read()
                if frame is grpc.aio.EOF:
                    break
                self.last_frame_at = loop.time()
                self.answered = True
                pending = self._pending
                for item in frame.items:
                    future = pending.pop(item.id, None)
                    if future is not None and not future.done():
                        future.set_result(item)
                if frame.draining:
                    self.retire()
            code = await call.code()
            details = await call.details()
        except grpc.aio.AioRpcError as exc:
            code, details = exc.code(), exc.details() or ""
        except asyncio.CancelledError:
            # close() cancelled the call (or the loop is going away).
            code, details = grpc.StatusCode.CANCELLED, "the multiplexed stream was closed"
        except Exception as exc:
            log.warning("multiplexed stream failed: %r", exc)
        finally:
            self.retire()
            self._wake.set()
            self._client.ended(self, code)
            if code in (grpc.StatusCode.OK, grpc.StatusCode.CANCELLED):
                code = grpc.StatusCode.UNAVAILABLE
            failure = _StreamEnded(code, details or "the multiplexed stream ended")
            pending, self._pending = self._pending, {}
            for future in pending.values():
                if not future.done():
                    future.set_exception(failure)


class MuxClient:
    """The multiplexed streams of one channel: ``streams`` of them, opened when first
    needed, each call on the next one (round-robin); the channel's round_robin
    balancer puts each new stream on its next replica."""

    def __init__(self, make_channel: Callable[[], grpc.aio.Channel], streams: int) -> None:
        self._make_channel = make_channel
        self._channel: grpc.aio.Channel | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._open: Any = None
        self._streams = streams
        self._slots: list[_ClientStream | None] = [None] * streams
        self._warm_at = 0.0
        self._backoff = [_MIN_BACKOFF_SECONDS] * streams
        self._not_before = [0.0] * streams
        self._lifetime = [_FIRST_LIFETIME_SECONDS / 2] * streams
        self._next = 0
        self._ids = itertools.count(1)
        self._all: set[_ClientStream] = set()
        #: True once a server answered UNIMPLEMENTED: this channel calls unary.
        self.unimplemented = False
        #: Frames written, for the tests and the benchmark: far fewer than calls under load.
        self.frames_sent = 0
        self.streams_opened = 0
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            pass  # made outside a loop: connects on first use
        else:
            # Made in the loop that will use it (at start-up): connect now, so the
            # warm-up is over before the first requests.
            self._connect(loop)

    def open_call(self) -> Any:
        # No timeout: the stream lives across requests; each item has its own deadline.
        return self._open(timeout=None)

    def _connect(self, loop: asyncio.AbstractEventLoop) -> None:
        """The channel, made in the loop that uses it (grpc.aio objects belong to the
        loop that made them; a process that runs several loops one after the other,
        as oauth2ctl and tests do, gets a channel and streams for each)."""
        self._loop = loop
        self._channel = self._make_channel()
        self._warm_at = loop.time() + WARMUP_SECONDS
        self._channel.get_state(try_to_connect=True)
        self._open = self._channel.stream_stream(
            CALLS_METHOD,
            request_serializer=mux_pb2.MuxFrame.SerializeToString,
            response_deserializer=mux_pb2.MuxFrame.FromString,
        )
        self._slots = [None] * self._streams
        self._all = set()

    def _stream(self) -> _ClientStream:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._connect(loop)
        now = loop.time()
        if now < self._warm_at:
            raise MuxFallback
        slot = self._next
        self._next = (slot + 1) % len(self._slots)
        stream = self._slots[slot]
        if stream is not None and now - stream.opened_at > self._lifetime[slot]:
            stream.retire()
            stream = None
        if stream is None:
            if now < self._not_before[slot]:
                raise MuxFallback
            stream = self._slots[slot] = _ClientStream(self, slot)
            self.streams_opened += 1
            self._lifetime[slot] = min(STREAM_LIFETIME_SECONDS, self._lifetime[slot] * 2)
            self._all.add(stream)
        return stream

    def forget(self, stream: _ClientStream) -> None:
        if self._slots[stream.slot] is stream:
            self._slots[stream.slot] = None

    def ended(self, stream: _ClientStream, code: grpc.StatusCode) -> None:
        self._all.discard(stream)
        if code == grpc.StatusCode.UNIMPLEMENTED:
            self.unimplemented = True
            log.info("the server has no %s: calling unary on this channel", MUX_SERVICE)
        elif stream.answered or code == grpc.StatusCode.OK:
            self._backoff[stream.slot] = _MIN_BACKOFF_SECONDS
        else:
            # It failed before answering anything: the next one waits a little, and
            # calls go unary meanwhile (the channel reconnects on its own).
            delay = self._backoff[stream.slot]
            self._not_before[stream.slot] = asyncio.get_running_loop().time() + delay
            self._backoff[stream.slot] = min(_MAX_BACKOFF_SECONDS, delay * 2)

    async def call(
        self, method: str, payload: bytes, timeout: float, metadata: Sequence[tuple[str, str]]
    ) -> bytes:
        """The response payload, or the AioRpcError the unary call would raise.
        MuxFallback: make it a unary call."""
        if self.unimplemented:
            raise MuxFallback
        stream = self._stream()
        item_id = next(self._ids)
        item = mux_pb2.MuxItem(
            id=item_id,
            method=method,
            payload=payload,
            timeout_seconds=timeout,
            metadata=[mux_pb2.MuxMetadata(key=key, value=value) for key, value in metadata],
        )
        sent_at = asyncio.get_running_loop().time()
        future = stream.submit(item)
        try:
            answer = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            if stream.last_frame_at <= sent_at:
                # Nothing came back on it since: a replica that stopped answering.
                log.warning("closing a multiplexed stream that answered nothing for %.2fs", timeout)
                stream.close()
            raise _rpc_error(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded") from None
        except _StreamEnded as ended:
            if ended.code == grpc.StatusCode.UNIMPLEMENTED:
                raise MuxFallback from None
            raise _rpc_error(ended.code, ended.details) from None
        finally:
            stream.forget(item_id)
        if answer.status:
            raise _item_error(answer)
        return answer.payload

    async def close(self) -> None:
        if self._loop is not asyncio.get_running_loop():
            return  # made in a loop that is gone: nothing of it can run any more
        streams = list(self._all)
        for stream in streams:
            stream.close()
        await asyncio.gather(*(stream.wait_closed() for stream in streams))
        if self._channel is not None:
            await self._channel.close()


class MuxMethod:
    """One method called through a :class:`MuxClient`: serializes the request,
    counts the call as the client metrics interceptor counts a unary one, carries
    the current span's ``traceparent`` (under a CLIENT span when spans record, as
    the instrumentation makes for a unary call)."""

    __slots__ = ("_client", "_idempotent", "_labels", "_method", "_name", "_response")

    _children = LabelledChildren(GRPC_CLIENT_CALLS, GRPC_CLIENT_DURATION)

    def __init__(self, client: MuxClient, method: str, idempotent: bool) -> None:
        self._client = client
        self._method = method
        self._name = method.lstrip("/")
        self._labels = split_method(method)
        self._idempotent = idempotent
        service, name = self._labels
        descriptor = descriptor_pool.Default().FindMethodByName(f"{service}.{name}")
        self._response: Any = message_factory.GetMessageClass(descriptor.output_type)

    @property
    def usable(self) -> bool:
        return not self._client.unimplemented

    async def __call__(self, request: Any, timeout: float) -> Any:
        span_context = trace.get_current_span().get_span_context()
        if spans_may_record(span_context):
            return await self._traced(request, timeout)
        metadata = [("traceparent", traceparent_of(span_context))] if span_context.is_valid else []
        return await self._attempts(request, timeout, metadata)

    async def _traced(self, request: Any, timeout: float) -> Any:
        service, name = self._labels
        # The tracer of the provider installed now (tests install their own).
        span = trace.get_tracer(__name__).start_span(
            self._name,
            kind=SpanKind.CLIENT,
            attributes={"rpc.system": "grpc", "rpc.service": service, "rpc.method": name},
        )
        code = grpc.StatusCode.OK
        try:
            with trace.use_span(span, end_on_exit=False):
                metadata = [("traceparent", traceparent_of(span.get_span_context()))]
                return await self._attempts(request, timeout, metadata)
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
            raise
        except MuxFallback:
            # Never ended, so never exported: the unary call has a span of its own.
            code = None  # type: ignore[assignment]
            raise
        finally:
            if code is not None:
                span.set_attribute("rpc.grpc.status_code", code.value[0])
                span.end()

    async def _attempts(
        self, request: Any, timeout: float, metadata: Sequence[tuple[str, str]]
    ) -> Any:
        payload = request.SerializeToString()
        started = time.monotonic()
        try:
            return await self._counted(payload, timeout, metadata)
        except grpc.aio.AioRpcError as exc:
            # A broken stream: gRPC retries an idempotent unary call on UNAVAILABLE
            # (common.grpc_client's retryPolicy); here, once, on the next stream.
            left = timeout - (time.monotonic() - started)
            if not self._idempotent or exc.code() != grpc.StatusCode.UNAVAILABLE or left < 0.005:
                raise
            return await self._counted(payload, left, metadata)

    async def _counted(
        self, payload: bytes, timeout: float, metadata: Sequence[tuple[str, str]]
    ) -> Any:
        started = time.perf_counter()
        code = grpc.StatusCode.UNKNOWN
        counted = True
        try:
            answer = await self._client.call(self._method, payload, timeout, metadata)
            code = grpc.StatusCode.OK
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
            raise
        except MuxFallback:
            counted = False  # the unary call counts itself
            raise
        except asyncio.CancelledError:
            code = grpc.StatusCode.CANCELLED
            raise
        finally:
            if counted:
                calls, duration = self._children.get(*self._labels, code.name)
                calls.inc()
                duration.observe(time.perf_counter() - started)
        return self._response.FromString(answer)
