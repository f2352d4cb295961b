"""One module per endpoint; :data:`ROUTES` is the gateway's routing table."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway import admin, openapi
from gateway.routes import (
    authorize,
    consent,
    discovery,
    health,
    introspect,
    jwks,
    login,
    logout,
    register,
    revoke,
    token,
    userinfo,
)

Endpoint = Callable[[Request], Awaitable[Response]]


def page(get: Endpoint, post: Endpoint) -> Endpoint:
    """One route per page for GET (show) and POST (submit), so a 405 names both."""

    async def endpoint(request: Request) -> Response:
        return await (post if request.method == "POST" else get)(request)

    return endpoint


ROUTES: list[BaseRoute] = [
    Route("/oauth/authorize", authorize.authorization_endpoint, methods=["GET"]),
    Route("/oauth/token", token.token_endpoint, methods=["POST"]),
    Route("/oauth/introspect", introspect.introspection_endpoint, methods=["POST"]),
    Route("/oauth/revoke", revoke.revocation_endpoint, methods=["POST"]),
    Route("/oauth/userinfo", userinfo.userinfo_endpoint, methods=["GET", "POST"]),
    Route("/oauth/jwks", jwks.jwks_endpoint, methods=["GET"]),
    Route("/oauth/register", register.registration_endpoint, methods=["POST"]),
    Route(
        "/oauth/register/{client_id}",
        register.client_configuration_endpoint,
        methods=["GET", "PUT", "DELETE"],
    ),
    Route("/login", page(login.show_login, login.submit_login), methods=["GET", "POST"]),
    Route("/consent", page(consent.show_consent, consent.submit_consent), methods=["GET", "POST"]),
    Route("/logout", page(logout.show_logout, logout.submit_logout), methods=["GET", "POST"]),
    Route(
        "/.well-known/oauth-authorization-server",
        discovery.authorization_server_metadata,
        methods=["GET"],
    ),
    Route("/.well-known/openid-configuration", discovery.openid_configuration, methods=["GET"]),
    Route("/health", health.liveness, methods=["GET"]),
    Route("/ready", health.readiness, methods=["GET"]),
    Route("/openapi.json", openapi.openapi_endpoint, methods=["GET"]),
    *admin.ROUTES,
]
