"""Authorization server metadata (RFC 8414 section 2) and its OpenID Connect
Discovery twin, listing only what this release implements."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.settings import GatewaySettings
from gateway.state import settings_of

CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
CACHE_CONTROL = "public, max-age=300"


def server_metadata(settings: GatewaySettings) -> dict[str, Any]:
    issuer = settings.issuer
    return {
        "issuer": issuer,
        "token_endpoint": f"{issuer}/oauth/token",
        "jwks_uri": f"{issuer}/oauth/jwks",
        "introspection_endpoint": f"{issuer}/oauth/introspect",
        "revocation_endpoint": f"{issuer}/oauth/revoke",
        "grant_types_supported": ["client_credentials"],
        # No authorization endpoint yet, so no response types.
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": [*CLIENT_AUTH_METHODS, "none"],
        "introspection_endpoint_auth_methods_supported": list(CLIENT_AUTH_METHODS),
        "revocation_endpoint_auth_methods_supported": list(CLIENT_AUTH_METHODS),
    }


async def authorization_server_metadata(request: Request) -> Response:
    return JSONResponse(
        server_metadata(settings_of(request)), headers={"Cache-Control": CACHE_CONTROL}
    )


async def openid_configuration(request: Request) -> Response:
    return JSONResponse(
        server_metadata(settings_of(request)), headers={"Cache-Control": CACHE_CONTROL}
    )
