"""One module per endpoint; :data:`ROUTES` is the routing table of the public
listener and :data:`ADMIN_ROUTES` that of the admin listener (the admin API,
``/metrics``); ``GET /openapi.json`` on each walks its own table (each endpoint
carries its operations)."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.routing import BaseRoute, Route

from common import endpoints
from gateway import admin, openapi
from gateway.observability import METRICS_ROUTE
from gateway.openapi.spec import Endpoint, Operation, by_method, documented
from gateway.routes import (
    authorize,
    consent,
    device,
    discovery,
    health,
    introspect,
    jwks,
    login,
    logout,
    pages_meta,
    par,
    register,
    revoke,
    token,
    userinfo,
)


def page(
    operations: Mapping[str, Operation], get: Endpoint, post: Endpoint | None = None
) -> Endpoint:
    """One route per sign-in page for GET (show, and HEAD) and POST (submit), so a
    405 names both; its operations come from :mod:`gateway.routes.pages_meta`."""
    endpoints = {"GET": get} if post is None else {"GET": get, "POST": post}
    return documented(by_method(endpoints, fallback="GET"), operations)


ROUTES: list[BaseRoute] = [
    Route(
        "/oauth/authorize",
        page(pages_meta.AUTHORIZE, authorize.authorization_endpoint),
        methods=["GET"],
    ),
    Route(endpoints.TOKEN, token.token_endpoint, methods=["POST"]),
    Route(endpoints.INTROSPECTION, introspect.introspection_endpoint, methods=["POST"]),
    Route(endpoints.REVOCATION, revoke.revocation_endpoint, methods=["POST"]),
    Route(
        endpoints.PUSHED_AUTHORIZATION_REQUEST,
        par.pushed_authorization_request_endpoint,
        methods=["POST"],
    ),
    Route(endpoints.DEVICE_AUTHORIZATION, device.device_authorization_endpoint, methods=["POST"]),
    Route("/oauth/userinfo", userinfo.userinfo_endpoint, methods=["GET", "POST"]),
    Route("/oauth/jwks", jwks.jwks_endpoint, methods=["GET"]),
    Route("/oauth/register", register.registration_endpoint, methods=["POST"]),
    Route(
        "/oauth/register/{client_id}",
        register.client_configuration_endpoint,
        methods=["GET", "PUT", "DELETE"],
    ),
    Route(
        "/login",
        page(pages_meta.LOGIN, login.show_login, login.submit_login),
        methods=["GET", "POST"],
    ),
    Route(
        "/consent",
        page(pages_meta.CONSENT, consent.show_consent, consent.submit_consent),
        methods=["GET", "POST"],
    ),
    Route(
        "/device",
        page(pages_meta.DEVICE, device.show_device, device.submit_device),
        methods=["GET", "POST"],
    ),
    Route(
        "/logout",
        page(pages_meta.LOGOUT, logout.show_logout, logout.submit_logout),
        methods=["GET", "POST"],
    ),
    Route(
        "/.well-known/oauth-authorization-server",
        discovery.authorization_server_metadata,
        methods=["GET"],
    ),
    Route("/.well-known/openid-configuration", discovery.openid_configuration, methods=["GET"]),
    Route("/health", health.liveness, methods=["GET"]),
    Route("/ready", health.readiness, methods=["GET"]),
    Route("/openapi.json", openapi.openapi_endpoint, methods=["GET"]),
]

#: The admin listener (admin_host:admin_port, docs/operators.md): never public.
ADMIN_ROUTES: list[BaseRoute] = [
    *admin.ROUTES,
    METRICS_ROUTE,
    Route("/health", health.liveness, methods=["GET"]),
    Route("/openapi.json", openapi.openapi_endpoint, methods=["GET"]),
]
