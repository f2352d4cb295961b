"""The gateway application: routes, error rendering, downstream gRPC clients."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware

from common.errors import OAuthError
from gateway.downstream import Downstream
from gateway.errors import http_error_handler, oauth_error_handler
from gateway.middleware import GatewayMiddleware
from gateway.routes import ROUTES
from gateway.settings import GatewaySettings


def create_app(settings: GatewaySettings, downstream: Downstream | None = None) -> Starlette:
    """The Starlette app. ``downstream`` is for tests: when given, the app uses
    those clients and leaves closing them to the caller; otherwise the lifespan
    connects one client per service and closes them on shutdown."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if downstream is not None:
            yield
            return
        app.state.downstream = Downstream.connect(settings)
        try:
            yield
        finally:
            await app.state.downstream.close()

    app = Starlette(
        debug=False,
        routes=ROUTES,
        middleware=[Middleware(GatewayMiddleware)],
        exception_handlers={
            OAuthError: oauth_error_handler,
            HTTPException: http_error_handler,
        },
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.downstream = downstream
    return app
