"""An OTLP/gRPC trace receiver for tests: the export target of every process.

Built on opentelemetry-proto's ``TraceService`` definition and a grpc.aio server
that runs on its own thread and event loop, so that it keeps answering while a
test blocks (a synchronous ``force_flush`` in the test's own process, a
subprocess being waited for). Use it as a context manager::

    with OtlpReceiver() as receiver:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
        ...
        spans = receiver.wait_for(lambda spans: len(spans) >= 3)
        by_trace = receiver.traces()
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.trace.v1 import trace_pb2


@dataclass(frozen=True)
class ReceivedSpan:
    """One span as it arrived, with ids in the lowercase hex of W3C trace context."""

    service_name: str
    name: str
    kind: str  # SERVER, CLIENT, INTERNAL, PRODUCER, CONSUMER
    trace_id: str
    span_id: str
    parent_span_id: str  # "" for a root span
    attributes: dict[str, Any]
    events: list[tuple[str, dict[str, Any]]]
    status_code: str  # UNSET, OK, ERROR
    status_message: str
    scope: str
    resource: dict[str, Any] = field(default_factory=dict)

    def strings(self) -> list[str]:
        """Every string this span carries: for scanning it for secrets."""
        found = [self.name, self.status_message]
        for attributes in [self.attributes, *(attrs for _, attrs in self.events)]:
            for key, value in attributes.items():
                found.append(key)
                found.extend(_flatten(value))
        found.extend(name for name, _ in self.events)
        return found


def _flatten(value: Any) -> list[str]:
    if isinstance(value, list | tuple):
        return [text for item in value for text in _flatten(item)]
    if isinstance(value, dict):
        return [text for item in value.values() for text in _flatten(item)]
    return [value if isinstance(value, str) else repr(value)]


def any_value(value: common_pb2.AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return attributes(value.kvlist_value.values)
    return getattr(value, kind)


def attributes(items: Any) -> dict[str, Any]:
    return {item.key: any_value(item.value) for item in items}


class _TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, receiver: OtlpReceiver) -> None:
        self._receiver = receiver

    async def Export(
        self,
        request: trace_service_pb2.ExportTraceServiceRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        self._receiver.add(request)
        return trace_service_pb2.ExportTraceServiceResponse()


class OtlpReceiver:
    """Collects every ExportTraceServiceRequest sent to ``endpoint``."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self.requests: list[trace_service_pb2.ExportTraceServiceRequest] = []
        self._spans: list[ReceivedSpan] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopped: asyncio.Event | None = None

    @property
    def endpoint(self) -> str:
        """For OTEL_EXPORTER_OTLP_ENDPOINT (plaintext gRPC)."""
        return f"http://{self.host}:{self.port}"

    # --- life cycle ---

    def start(self) -> OtlpReceiver:
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            try:
                asyncio.run(self._serve(started))
            except BaseException as exc:  # reported to start()'s caller
                failure.append(exc)
                started.set()

        self._thread = threading.Thread(target=run, name="otlp-receiver", daemon=True)
        self._thread.start()
        started.wait(10)
        if failure:
            raise failure[0]
        if not self.port:
            raise RuntimeError("the OTLP receiver did not start")
        return self

    async def _serve(self, started: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        server = grpc.aio.server()
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_TraceService(self), server)
        self.port = server.add_insecure_port(f"{self.host}:0")
        await server.start()
        started.set()
        try:
            await self._stopped.wait()
        finally:
            await server.stop(0)

    def stop(self) -> None:
        if self._loop is not None and self._stopped is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> OtlpReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what arrived ---

    def add(self, request: trace_service_pb2.ExportTraceServiceRequest) -> None:
        spans = list(_received(request))
        with self._lock:
            self.requests.append(request)
            self._spans.extend(spans)

    def spans(self) -> list[ReceivedSpan]:
        with self._lock:
            return list(self._spans)

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()
            self._spans.clear()

    def traces(self) -> dict[str, list[ReceivedSpan]]:
        """Spans grouped by trace id."""
        grouped: dict[str, list[ReceivedSpan]] = {}
        for span in self.spans():
            grouped.setdefault(span.trace_id, []).append(span)
        return grouped

    def wait_for(
        self, predicate: Callable[[list[ReceivedSpan]], bool], timeout: float = 10
    ) -> list[ReceivedSpan]:
        """Poll until ``predicate(spans)`` holds; the spans, or AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            spans = self.spans()
            if predicate(spans):
                return spans
            if time.monotonic() > deadline:
                names = sorted({f"{s.service_name}:{s.name}" for s in spans})
                raise AssertionError(f"no matching spans within {timeout}s; received {names}")
            time.sleep(0.05)

    async def async_wait_for(
        self, predicate: Callable[[list[ReceivedSpan]], bool], timeout: float = 10
    ) -> list[ReceivedSpan]:
        """:meth:`wait_for` for a test running on an event loop."""
        return await asyncio.to_thread(self.wait_for, predicate, timeout)


_KIND_PREFIX = "SPAN_KIND_"
_STATUS_PREFIX = "STATUS_CODE_"


def _received(request: trace_service_pb2.ExportTraceServiceRequest) -> list[ReceivedSpan]:
    found = []
    for resource_spans in request.resource_spans:
        resource = attributes(resource_spans.resource.attributes)
        service_name = str(resource.get("service.name", ""))
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                found.append(
                    ReceivedSpan(
                        service_name=service_name,
                        name=span.name,
                        kind=trace_pb2.Span.SpanKind.Name(span.kind).removeprefix(_KIND_PREFIX),
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex(),
                        attributes=attributes(span.attributes),
                        events=[(e.name, attributes(e.attributes)) for e in span.events],
                        status_code=trace_pb2.Status.StatusCode.Name(span.status.code).removeprefix(
                            _STATUS_PREFIX
                        ),
                        status_message=span.status.message,
                        scope=scope_spans.scope.name,
                        resource=resource,
                    )
                )
    return found
