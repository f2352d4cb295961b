"""The JWK Set of the token signing keys (RFC 7517 section 5), at the jwks_uri
of the metadata (RFC 8414 section 2)."""

from __future__ import annotations

from typing import Any

from google.protobuf import empty_pb2
from oauth2.v1 import token_pb2
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.models import Omitted, Resource
from gateway.openapi.prose import OAUTH
from gateway.openapi.responses import errors, ok
from gateway.openapi.spec import operation
from gateway.state import downstream_of

_MEMBERS = ("kty", "kid", "use", "alg", "crv", "x", "y", "n", "e")


class JWK(Resource):
    """RFC 7517 section 4 (public members only)"""

    kty: str
    kid: str | Omitted = None
    use: str | Omitted = None
    alg: str | Omitted = None
    crv: str | Omitted = None
    x: str | Omitted = None
    y: str | Omitted = None
    n: str | Omitted = None
    e: str | Omitted = None


class JWKS(Resource):
    """RFC 7517 section 5"""

    keys: list[JWK]


# Short enough that a rotated-in key is picked up soon; long enough that
# resource servers do not fetch it on every request.
CACHE_CONTROL = "public, max-age=60"


def render_jwks(jwks: token_pb2.Jwks) -> dict[str, Any]:
    keys = [
        {name: getattr(key, name) for name in _MEMBERS if getattr(key, name)} for key in jwks.keys
    ]
    return {"keys": keys}


@operation(
    "jwks",
    "The token signing keys (RFC 7517 JWK Set)",
    tags=OAUTH,
    responses={200: ok(JWKS), **errors(429, 500, 503)},
)
async def jwks_endpoint(request: Request) -> Response:
    jwks = await downstream_of(request).token.call.GetJwks(empty_pb2.Empty())
    return JSONResponse(render_jwks(jwks), headers={"Cache-Control": CACHE_CONTROL})
