"""Tracing and metrics of the gateway's HTTP surface.

:class:`HttpTelemetryMiddleware` is the outermost middleware: it opens the HTTP
SERVER span (OpenTelemetry's ASGI instrumentation, continuing a caller's
``traceparent``), names it ``{method} {route}`` with the route template as the
HTTP semantic conventions ask, and records the Prometheus request count and
duration. What the span may carry is bounded by common.telemetry's sanitizing
(no query strings, headers or bodies). ``GET /metrics`` is :data:`METRICS_ROUTE`.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.trace import SpanKind
from opentelemetry.util.http import ExcludeList
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common.metrics import LabelledChildren, render_latest
from common.telemetry import (
    Telemetry,
    context_from_traceparent,
    parent_span_context,
    spans_may_record,
)
from gateway.metrics import HTTP_REQUEST_DURATION, HTTP_REQUESTS
from gateway.openapi.prose import OPERATIONS
from gateway.openapi.spec import STRING, TEXT, Answer, operation

UNMATCHED = "unmatched"
_ROUTE_KEY = "oauth2.route_template"
_KNOWN_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)
# Probes and scrapes every few seconds would bury the traces that matter; they
# are still counted in the metrics.
_UNTRACED = ExcludeList([r"/health$", r"/ready$", r"/metrics$"])


def route_template(scope: Scope) -> str | None:
    """The template of the route the router will pick (a 405 still names its
    route), or None when no route matches."""
    partial: BaseRoute | None = None
    for route in getattr(scope.get("app"), "routes", ()):
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return _template(route)
        if match is Match.PARTIAL and partial is None:
            partial = route
    return _template(partial) if partial is not None else None


def _template(route: BaseRoute) -> str | None:
    if isinstance(route, Mount):
        return f"{route.path}/{{path}}"
    if isinstance(route, Route):
        return route.path
    return None


def _method(scope: Scope) -> str:
    method = str(scope.get("method", "")).upper()
    return method if method in _KNOWN_METHODS else "_OTHER"


def _span_details(scope: Scope) -> tuple[str, dict[str, Any]]:
    method = _method(scope)
    name = "HTTP" if method == "_OTHER" else method
    route = scope.get(_ROUTE_KEY)
    if route is None:
        return name, {}
    return f"{name} {route}", {"http.route": route}


def _traceparent(scope: Scope) -> str | None:
    for name, value in scope.get("headers") or ():
        if name == b"traceparent":
            return bytes(value).decode("latin-1")
    return None


class HttpTelemetryMiddleware:
    """Whether the request's span may be recorded is decided once, from the caller's
    ``traceparent`` and the sampler: when it cannot be, the ASGI instrumentation
    (which builds the span's attributes, parses the URL and wraps every message
    before it learns that nothing is kept) is skipped for one unrecorded span that
    continues the caller's ``traceparent``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._tracer = trace.get_tracer(__name__)
        self._children = LabelledChildren(HTTP_REQUESTS, HTTP_REQUEST_DURATION)
        self.traced = OpenTelemetryMiddleware(
            app,
            excluded_urls=_UNTRACED,
            default_span_details=_span_details,
            # One span per request; per-message receive/send spans add nothing here.
            exclude_spans=["receive", "send"],
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = route_template(scope)
        scope[_ROUTE_KEY] = route
        started = time.perf_counter()
        status = 500

        async def send_recording_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        parent = context_from_traceparent(_traceparent(scope))
        try:
            if spans_may_record(parent_span_context(parent)):
                await self.traced(scope, receive, send_recording_status)
            else:
                await self._unrecorded(parent, scope, receive, send_recording_status)
        finally:
            requests, duration = self._children.get(route or UNMATCHED, _method(scope), str(status))
            requests.inc()
            duration.observe(time.perf_counter() - started)

    async def _unrecorded(
        self, parent: Context | None, scope: Scope, receive: Receive, send: Send
    ) -> None:
        span = self._tracer.start_span("HTTP", context=parent, kind=SpanKind.SERVER)
        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            await self.app(scope, receive, send)
        finally:
            otel_context.detach(token)


def shutting_down_telemetry(app: ASGIApp, telemetry: Telemetry) -> ASGIApp:
    """``app`` that flushes and stops ``telemetry`` at the end of its lifespan.

    uvicorn re-raises SIGTERM once it has shut down, which ends the process
    before the code after ``uvicorn.run`` runs: the spans still queued would be lost."""

    async def with_telemetry(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await app(scope, receive, send)
            return

        async def send_after_flush(message: Message) -> None:
            if message["type"] == "lifespan.shutdown.complete":
                await asyncio.to_thread(telemetry.shutdown)
            await send(message)

        await app(scope, receive, send_after_flush)

    return with_telemetry


@operation(
    "metrics",
    "Prometheus metrics (text exposition format)",
    tags=OPERATIONS,
    responses={200: Answer("OK", {TEXT: STRING})},
)
async def metrics_endpoint(request: Request) -> Response:
    """Prometheus text exposition of this process (of every worker, in multiprocess mode)."""
    body, content_type = render_latest(
        request.app.state.settings.prometheus_multiproc_dir, request.headers.get("accept", "")
    )
    return Response(body, media_type=content_type)


METRICS_ROUTE = Route("/metrics", metrics_endpoint, methods=["GET"])
