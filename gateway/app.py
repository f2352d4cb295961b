"""The gateway applications: the public listener's and the admin listener's
(routes, error rendering, downstream gRPC clients)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from common.audit import AuditReporter, AuditSink, NoAudit
from common.errors import OAuthError
from common.kv import KeyValue, create_kv
from gateway.cors import CorsMiddleware, CorsPolicy
from gateway.downstream import Downstream
from gateway.errors import http_error_handler, oauth_error_handler
from gateway.middleware import GatewayMiddleware
from gateway.observability import HttpTelemetryMiddleware
from gateway.pages import STATIC
from gateway.ratelimit import RateLimiter, RateLimitMiddleware
from gateway.routes import ADMIN_ROUTES, ROUTES
from gateway.sessions import SessionStore
from gateway.settings import GatewaySettings


def create_app(
    settings: GatewaySettings,
    downstream: Downstream | None = None,
    kv: KeyValue | None = None,
    audit: AuditSink | None = None,
) -> Starlette:
    """The public app: the protocol endpoints, the sign-in pages, discovery,
    health; CORS where browser apps call (gateway/cors.py). No admin API and no
    /metrics: those are :func:`create_admin_app`'s.

    ``downstream`` and ``kv`` are for tests: when given, the app uses them and
    leaves closing them to the caller; otherwise the lifespan connects one client
    per service and closes them, and the KeyValue holding the sessions (Redis, or
    the in-process stand-in) is closed on shutdown. ``audit`` is where the gateway
    reports security events (rate-limit refusals, denied admin calls): the admin
    service's audit log when the app connects its own clients, nowhere in tests
    that pass ``downstream`` and no ``audit``."""
    routes = [*ROUTES, Mount("/static", StaticFiles(directory=STATIC), name="static")]
    cors = Middleware(CorsMiddleware, policy=CorsPolicy(settings))
    # Inside CORS, so that a browser app can read a 429's Retry-After.
    limits = Middleware(RateLimitMiddleware)
    return _gateway_app(
        settings, routes, [cors, limits], downstream, kv, audit, admin_listener=False
    )


def create_admin_app(
    settings: GatewaySettings,
    downstream: Downstream | None = None,
    kv: KeyValue | None = None,
    audit: AuditSink | None = None,
) -> Starlette:
    """The admin listener's app (``admin_host:admin_port``): the admin API,
    ``/metrics``, ``/health`` and the admin API's ``/openapi.json``; no CORS, no
    pages. The arguments are :func:`create_app`'s; the KeyValue holds what the
    admin API throttles (the audit of denied calls)."""
    return _gateway_app(settings, ADMIN_ROUTES, [], downstream, kv, audit, admin_listener=True)


def _gateway_app(
    settings: GatewaySettings,
    routes: Sequence[BaseRoute],
    middleware: list[Middleware],
    downstream: Downstream | None,
    kv: KeyValue | None,
    audit: AuditSink | None,
    *,
    admin_listener: bool,
) -> Starlette:
    own_kv = kv is None
    session_kv = create_kv(settings) if kv is None else kv
    own_audit = audit is None and downstream is None

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # gRPC channels belong to the event loop they are made in: this one.
        if downstream is None:
            app.state.downstream = Downstream.connect(settings)
        reporter = AuditReporter(settings) if own_audit else None
        if reporter is not None:
            app.state.audit = reporter
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
        routes=list(routes),
        middleware=[
            Middleware(HttpTelemetryMiddleware),
            Middleware(
                GatewayMiddleware,
                budget_seconds=settings.grpc_deadline_seconds,
                strict_transport_security=(
                    None if admin_listener else settings.strict_transport_security
                ),
            ),
            *middleware,
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
    app.state.kv = session_kv
    app.state.audit = audit or NoAudit()  # the lifespan's AuditReporter when own_audit
    app.state.admin_listener = admin_listener
    app.state.rate_limiter = RateLimiter(session_kv, settings)
    return app
