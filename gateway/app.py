"""The gateway application: routes, error rendering, downstream gRPC clients."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from common.audit import AuditReporter, AuditSink, NoAudit
from common.errors import OAuthError
from common.kv import KeyValue, create_kv
from gateway.cors import CorsMiddleware, CorsPolicy
from gateway.downstream import Downstream
from gateway.errors import http_error_handler, oauth_error_handler
from gateway.middleware import GatewayMiddleware
from gateway.observability import METRICS_ROUTE, HttpTelemetryMiddleware
from gateway.pages import STATIC
from gateway.routes import ROUTES
from gateway.sessions import SessionStore
from gateway.settings import GatewaySettings


def create_app(
    settings: GatewaySettings,
    downstream: Downstream | None = None,
    kv: KeyValue | None = None,
    audit: AuditSink | None = None,
) -> Starlette:
    """The Starlette app. ``downstream`` and ``kv`` are for tests: when given, the
    app uses them and leaves closing them to the caller; otherwise the lifespan
    connects one client per service and closes them, and the KeyValue holding
    the sessions (Redis, or the in-process stand-in) is closed on shutdown.
    ``audit`` is where the gateway reports security events (rate-limit refusals,
    denied admin calls): the admin service's audit log when the app connects its
    own clients, nowhere in tests that pass ``downstream`` and no ``audit``."""
    own_kv = kv is None
    session_kv = create_kv(settings) if kv is None else kv
    reporter = AuditReporter(settings) if audit is None and downstream is None else None
    audit_sink: AuditSink = reporter or audit or NoAudit()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if downstream is None:
            app.state.downstream = Downstream.connect(settings)
        try:
            yield
        finally:
            if downstream is None:
                await app.state.downstream.close()
            if own_kv:
                await session_kv.close()
            if reporter is not None:
                await reporter.close()

    app = Starlette(
        debug=False,
        routes=[
            *ROUTES,
            METRICS_ROUTE,
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        middleware=[
            Middleware(HttpTelemetryMiddleware),
            Middleware(GatewayMiddleware),
            Middleware(CorsMiddleware, policy=CorsPolicy(settings)),
        ],
        exception_handlers={
            OAuthError: oauth_error_handler,
            HTTPException: http_error_handler,
        },
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.downstream = downstream
    app.state.sessions = SessionStore(session_kv, settings)
    app.state.audit = audit_sink
    return app
