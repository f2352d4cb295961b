"""OpenTelemetry tracing, set up in one place for all five processes.

:func:`setup_telemetry` installs the SDK's TracerProvider as the global one,
always, so that trace and span ids exist for log lines and the audit trail even
when nothing is exported; spans leave the process over OTLP/gRPC only when
``otel_exporter_otlp_endpoint`` is set. Context travels between processes as
W3C ``traceparent`` (https://www.w3.org/TR/trace-context/).

The instrumentation is wired explicitly rather than by monkey-patching at start-up:
``grpc_server_interceptors`` / ``grpc_client_interceptors`` go into every
server and channel (common.grpc_server, common.grpc_client), ``instrument_engine``
into every SQLAlchemy engine (common.db), ``instrument_redis`` into every Redis
client (common.kv); the gateway wraps its ASGI app (gateway.observability).

Nothing secret may leave in a span: :class:`SanitizingSpanProcessor` sits in
front of every exporter and rewrites each finished span (see :func:`sanitize`).
"""

from __future__ import annotations

import inspect
import logging
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import grpc
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.instrumentation.grpc import aio_client_interceptors, aio_server_interceptor
from opentelemetry.sdk.resources import (
    SERVICE_INSTANCE_ID,
    SERVICE_NAME,
    SERVICE_VERSION,
    Resource,
)
from opentelemetry.sdk.trace import Event, ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased, TraceIdRatioBased
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AttributeValue

from common.settings import CommonSettings

log = logging.getLogger(__name__)

# Health checks (balancers and Kubernetes probes, every few seconds) and reflection
# would drown the traces that matter. A multiplexed stream (common/grpc_mux.py) lives
# across many requests: each of its items gets the spans of a call instead.
# One prefix test: the instrumentation's composed filters (negate/any_of/service_prefix)
# split and normalise the method path on every call, a measurable share of each RPC.
_UNTRACED_PREFIXES = ("/grpc.health.", "/grpc.reflection.", "/oauth2.v1.Multiplex/")


def _UNTRACED_RPCS(details: Any) -> bool:
    """True for the RPCs to trace (the instrumentation's ``filter_`` contract)."""
    method = getattr(details, "method", "") or getattr(details, "full_method", "")
    if isinstance(method, bytes):
        method = method.decode()
    return not method.startswith(_UNTRACED_PREFIXES)


@dataclass
class Telemetry:
    """The installed provider; ``shutdown`` flushes what is still queued."""

    provider: TracerProvider
    _stopped: bool = False

    def force_flush(self, timeout_millis: int = 5_000) -> bool:
        return self.provider.force_flush(timeout_millis)

    def shutdown(self) -> None:
        """Export what is queued and stop; only the first call does anything."""
        if not self._stopped:
            self._stopped = True
            self.provider.shutdown()


def setup_telemetry(
    settings: CommonSettings, *, exporters: Sequence[SpanExporter] = ()
) -> Telemetry:
    """Install the tracer provider and the W3C trace-context propagator globally.

    ``exporters`` receive every span synchronously (after sanitizing), beside the
    OTLP exporter; tests pass an in-memory one. Call once per process, early,
    before any server, channel, engine or Redis client exists (they take their
    tracer when they are built), and :meth:`Telemetry.shutdown` on the way out.
    """
    provider = build_tracer_provider(settings, exporters=exporters)
    trace.set_tracer_provider(provider)
    # Only tracecontext: W3C baggage would let a caller put anything into our headers.
    propagate.set_global_textmap(TraceContextTextMapPropagator())
    if settings.otel_exporter_otlp_endpoint:
        log.info(
            "exporting traces over OTLP to %s (sampling ratio %s)",
            settings.otel_exporter_otlp_endpoint,
            settings.otel_sampling_ratio,
        )
    return Telemetry(provider)


def build_tracer_provider(
    settings: CommonSettings, *, exporters: Sequence[SpanExporter] = ()
) -> TracerProvider:
    resource = Resource.create(
        {
            SERVICE_NAME: settings.service_name,
            SERVICE_VERSION: _version(),
            SERVICE_INSTANCE_ID: str(uuid.uuid4()),
        }
    )
    endpoint = settings.otel_exporter_otlp_endpoint
    # Nothing to export to: record nothing. Spans are still started, unsampled, so
    # every request still gets a trace id and span id (logs, the audit trail, and the
    # traceparent sent downstream) at a fraction of the cost of recording spans.
    exporting = bool(endpoint or exporters)
    provider = TracerProvider(
        resource=resource,
        sampler=ParentBased(TraceIdRatioBased(settings.otel_sampling_ratio))
        if exporting
        else ALWAYS_OFF,
        # The process shuts it down itself (service_main, gateway.__main__); a
        # second shutdown at exit would only log about it.
        shutdown_on_exit=False,
    )
    if endpoint:
        provider.add_span_processor(
            SanitizingSpanProcessor(BatchSpanProcessor(otlp_exporter(endpoint)))
        )
    for exporter in exporters:
        provider.add_span_processor(SanitizingSpanProcessor(SimpleSpanProcessor(exporter)))
    return provider


def otlp_exporter(endpoint: str) -> SpanExporter:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    # Collectors inside a cluster (Jaeger's :4317) speak plaintext: TLS only when
    # the endpoint says https, also for a bare "host:port".
    return OTLPSpanExporter(endpoint=endpoint, insecure=not endpoint.startswith("https://"))


def _version() -> str:
    try:
        return metadata.version("oauth2-server")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0"


# --- instrumentation -------------------------------------------------------------


def spans_may_record(parent: trace.SpanContext | None = None) -> bool:
    """False when no span started under ``parent`` can be recorded: the provider
    samples nothing (no exporter: ALWAYS_OFF), or it follows its parent's decision
    (ParentBased with its default delegates, as :func:`build_tracer_provider` makes
    it) and ``parent`` was not sampled. None or an invalid ``parent``: a new trace.

    Then every span is a NonRecordingSpan whatever its attributes, so the hot path
    skips the instrumentation libraries, which build attributes, wrap sends and
    start client spans before they learn that nothing is kept, and only carries
    the trace context (ids for logs and the audit trail, ``traceparent`` downstream).
    Read per request, not at build time: tests install a provider of their own."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        return True
    sampler = provider.sampler
    if sampler is ALWAYS_OFF:
        return False
    if parent is not None and parent.is_valid and isinstance(sampler, ParentBased):
        return parent.trace_flags.sampled
    return True


_TRACEPARENT = TraceContextTextMapPropagator()


def context_from_traceparent(traceparent: str | None) -> Context | None:
    """The remote parent a W3C ``traceparent`` names, or None (a new trace)."""
    if not traceparent:
        return None
    return _TRACEPARENT.extract({"traceparent": traceparent})


def parent_span_context(context: Context | None) -> trace.SpanContext | None:
    return None if context is None else trace.get_current_span(context).get_span_context()


def traceparent_of(span_context: trace.SpanContext) -> str:
    ids = f"{span_context.trace_id:032x}-{span_context.span_id:016x}"
    return f"00-{ids}-{span_context.trace_flags:02x}"


class _UnrecordedSpanServerInterceptor(grpc.aio.ServerInterceptor):
    """The instrumentation's SERVER spans when the span may be recorded (decided
    once, from the caller's ``traceparent``); otherwise one unrecorded span per RPC
    that continues it, so that log lines carry the request's trace id, at a
    fraction of the cost."""

    def __init__(self) -> None:
        self._recording = aio_server_interceptor(filter_=_UNTRACED_RPCS)
        self._tracer = trace.get_tracer(__name__)

    async def intercept_service(
        self,
        continuation: Any,
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        traceparent = None
        for key, value in handler_call_details.invocation_metadata or ():
            if key == "traceparent":
                traceparent = value.decode("latin-1") if isinstance(value, bytes) else value
                break
        parent = context_from_traceparent(traceparent)
        if spans_may_record(parent_span_context(parent)):
            return await self._recording.intercept_service(continuation, handler_call_details)
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        if not _UNTRACED_RPCS(handler_call_details):
            return handler
        name: str = handler_call_details.method
        inner: Any = handler.unary_unary
        tracer = self._tracer

        async def unrecorded(request: Any, context: Any) -> Any:
            span = tracer.start_span(name, context=parent, kind=SpanKind.SERVER)
            token = otel_context.attach(trace.set_span_in_context(span))
            try:
                result = inner(request, context)
                return await result if inspect.isawaitable(result) else result
            finally:
                otel_context.detach(token)

        return grpc.unary_unary_rpc_method_handler(
            unrecorded,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


class _UnrecordedSpanClientInterceptor(grpc.aio.UnaryUnaryClientInterceptor):
    """The instrumentation's CLIENT spans when the span may be recorded (the current
    span decides); otherwise no client span at all (it would be dropped unseen),
    only the current span's ``traceparent`` added to the call's metadata."""

    def __init__(self, recording: grpc.aio.UnaryUnaryClientInterceptor) -> None:
        self._recording = recording

    async def intercept_unary_unary(
        self,
        continuation: Any,
        client_call_details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        span_context = trace.get_current_span().get_span_context()
        if spans_may_record(span_context):
            return await self._recording.intercept_unary_unary(
                continuation, client_call_details, request
            )
        if not span_context.is_valid or not _UNTRACED_RPCS(client_call_details):
            return await continuation(client_call_details, request)
        metadata = grpc.aio.Metadata(*(client_call_details.metadata or ()))
        metadata["traceparent"] = traceparent_of(span_context)
        details = grpc.aio.ClientCallDetails(
            client_call_details.method,
            client_call_details.timeout,
            metadata,
            client_call_details.credentials,
            client_call_details.wait_for_ready,
        )
        return await continuation(details, request)


def grpc_server_interceptors() -> list[grpc.aio.ServerInterceptor]:
    """SERVER spans named ``package.Service/Method`` (OTel RPC semantic conventions),
    continuing the caller's trace from its ``traceparent`` metadata."""
    return [_UnrecordedSpanServerInterceptor()]


def grpc_client_interceptors() -> list[grpc.aio.ClientInterceptor]:
    """CLIENT spans around every outgoing call, which also inject ``traceparent``.

    No request or response hooks: messages hold passwords, codes and tokens."""
    interceptors: list[grpc.aio.ClientInterceptor] = []
    for interceptor in aio_client_interceptors(filter_=_UNTRACED_RPCS):
        if isinstance(interceptor, grpc.aio.UnaryUnaryClientInterceptor):
            interceptor = _UnrecordedSpanClientInterceptor(interceptor)
        interceptors.append(interceptor)
    return interceptors


# RPC semantic conventions: on a SERVER span only these codes are the server's fault.
_SERVER_ERROR_CODES = frozenset(
    {
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)


def record_rpc_code(code: grpc.StatusCode) -> None:
    """Put the status code the caller receives on the current SERVER span.

    The instrumentation sees codes set with ``context.abort``/``set_code`` only;
    common.grpc_server's ErrorInterceptor uses ``abort_with_status``, so the
    code is recorded here, from common.metrics' interceptor, which sees it."""
    span = trace.get_current_span()
    if not span.is_recording():
        return
    span.set_attribute("rpc.grpc.status_code", code.value[0])
    if code in _SERVER_ERROR_CODES:
        span.set_status(Status(StatusCode.ERROR, code.name))


def instrument_engine(engine: Any) -> None:
    """SQL client spans for one engine (an AsyncEngine or its ``sync_engine``).

    Statements are recorded as SQLAlchemy sends them, with placeholders for bound
    parameters; the values themselves are never read. sqlcommenter stays off."""
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
    from opentelemetry.instrumentation.sqlalchemy.version import __version__
    from opentelemetry.metrics import get_meter

    if not spans_may_record():
        return  # its spans could only be dropped, and SQL carries no trace context
    sync_engine = getattr(engine, "sync_engine", engine)
    tracer = trace.get_tracer("opentelemetry.instrumentation.sqlalchemy", __version__)
    # The instrumentation's connection-usage counter goes to the no-op meter;
    # pool usage is exported by common.metrics instead.
    meter = get_meter("opentelemetry.instrumentation.sqlalchemy", __version__)
    usage = meter.create_up_down_counter("db.client.connections.usage")
    EngineTracer(tracer, sync_engine, usage, False, {}, False)


def instrument_redis(client: Any) -> None:
    """Redis client spans for one redis-py client: ``db.statement`` holds the
    command with every argument replaced by ``?`` (and :func:`sanitize` keeps
    only the command name in any case)."""
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    if not spans_may_record():
        return  # its spans could only be dropped, and Redis carries no trace context
    RedisInstrumentor.instrument_client(client)


# --- sanitizing --------------------------------------------------------------------

_URL_ATTRIBUTES = frozenset({"http.url", "url.full", "http.target", "url.path"})
_DROPPED_ATTRIBUTES = frozenset({"url.query", "http.request.body", "http.response.body"})
_SECRET_HEADERS = frozenset(
    {"authorization", "proxy_authorization", "cookie", "set_cookie", "dpop", "x_api_key"}
)
_HEADER_PREFIXES = ("http.request.header.", "http.response.header.", "rpc.request.metadata.")
_STATEMENT_ATTRIBUTES = ("db.statement", "db.query.text")
# A quoted SQL string literal ('' is an escaped quote inside one).
_SQL_STRING = re.compile(r"'(?:[^']|'')*'")


def sanitize(attributes: Mapping[str, AttributeValue] | None) -> dict[str, AttributeValue]:
    """The attributes of a span or span event with anything that may be secret removed.

    - query strings and fragments are cut from URLs (``/oauth/authorize`` carries
      ``state`` and ``code_challenge``, redirects carry ``code``); ``url.query``
      is dropped, as are request and response bodies;
    - captured headers or metadata named Authorization, Cookie, Set-Cookie, DPoP
      or a similar credential are dropped;
    - a Redis ``db.statement`` keeps its command names only; an SQL statement has
      every string literal replaced by ``?`` (statements carry placeholders, so
      this only matters for hand-written SQL).
    """
    if not attributes:
        return {}
    redis = attributes.get("db.system") == "redis" or attributes.get("db.system.name") == "redis"
    clean: dict[str, AttributeValue] = {}
    for key, value in attributes.items():
        if key in _DROPPED_ATTRIBUTES or _is_secret_header(key):
            continue
        if key in _URL_ATTRIBUTES and isinstance(value, str):
            value = strip_query(value)
        elif key in _STATEMENT_ATTRIBUTES and isinstance(value, str):
            value = _redis_commands(value) if redis else _SQL_STRING.sub("?", value)
        clean[key] = value
    return clean


def _redis_commands(statement: str) -> str:
    # A pipeline's statement is one command per line.
    return "\n".join(line.split(" ", 1)[0] for line in statement.splitlines())


def strip_query(url: str) -> str:
    """``url`` without query, fragment or user info."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _is_secret_header(key: str) -> bool:
    for prefix in _HEADER_PREFIXES:
        if key.startswith(prefix):
            name = key[len(prefix) :].lower().replace("-", "_")
            return name in _SECRET_HEADERS
    return False


class SanitizingSpanProcessor(SpanProcessor):
    """Hands ``inner`` a copy of each finished span whose attributes, and those of
    its events, went through :func:`sanitize`. Instrumentations set attributes at
    any point of a span's life, so the end is the one place to catch them all.

    gRPC spans are also renamed ``package.Service/Method`` as the RPC semantic
    conventions name them (the instrumentation keeps the path's leading slash)."""

    def __init__(self, inner: SpanProcessor) -> None:
        self._inner = inner

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self._inner.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        self._inner.on_end(sanitized_span(span))

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self._inner.force_flush(timeout_millis)


def sanitized_span(span: ReadableSpan) -> ReadableSpan:
    attributes = sanitize(span.attributes)
    events = [
        Event(event.name, sanitize(event.attributes), event.timestamp) for event in span.events
    ]
    name = span.name
    if name.startswith("/") and attributes.get("rpc.system") == "grpc":
        name = name[1:]
    return ReadableSpan(
        name=name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=attributes,
        events=events,
        links=span.links,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )
