"""One module per endpoint; :data:`ROUTES` is the gateway's routing table."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from gateway.routes import discovery, health, introspect, jwks, revoke, token

ROUTES: list[BaseRoute] = [
    Route("/oauth/token", token.token_endpoint, methods=["POST"]),
    Route("/oauth/introspect", introspect.introspection_endpoint, methods=["POST"]),
    Route("/oauth/revoke", revoke.revocation_endpoint, methods=["POST"]),
    Route("/oauth/jwks", jwks.jwks_endpoint, methods=["GET"]),
    Route(
        "/.well-known/oauth-authorization-server",
        discovery.authorization_server_metadata,
        methods=["GET"],
    ),
    Route("/.well-known/openid-configuration", discovery.openid_configuration, methods=["GET"]),
    Route("/health", health.liveness, methods=["GET"]),
    Route("/ready", health.readiness, methods=["GET"]),
]
