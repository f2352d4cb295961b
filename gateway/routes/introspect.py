"""The introspection endpoint (RFC 7662 section 2). The caller must authenticate
as a client (section 2.1); the token service checks the credentials."""

from __future__ import annotations

from typing import Any

from oauth2.v1 import token_pb2
from pydantic import Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.client_auth import extract_client_credentials
from gateway.errors import NO_STORE
from gateway.forms import read_form
from gateway.models import FormModel, Omitted, Resource
from gateway.openapi.prose import CLIENT_AUTH, OAUTH
from gateway.openapi.responses import error, errors, ok
from gateway.openapi.spec import FORM, Body, operation
from gateway.ratelimit import INTROSPECT_PER_CLIENT, limit_client
from gateway.state import downstream_of, settings_of

#: What the endpoints that authenticate a client and take a token may answer.
CLIENT_ERRORS = {
    **errors(400, 413, 429, 500, 501, 503),
    401: error(401, "invalid_client", challenge=True),
}


class IntrospectionRequest(FormModel):
    """RFC 7662 section 2.1"""

    token: str
    token_type_hint: str | Omitted = None
    client_id: str | Omitted = None
    client_secret: str | Omitted = None


class IntrospectionResponse(Resource):
    """RFC 7662 section 2.2"""

    active: bool
    scope: str | Omitted = None
    client_id: str | Omitted = None
    username: str | Omitted = None
    token_type: str | Omitted = None
    exp: int | Omitted = None
    iat: int | Omitted = None
    nbf: int | Omitted = None
    sub: str | Omitted = None
    aud: str | list[str] | Omitted = None
    iss: str | Omitted = None
    jti: str | Omitted = None
    cnf: dict[str, str] | Omitted = Field(
        default=None,
        description=(
            "What it is bound to: a DPoP key, jkt (RFC 9449 section 6.2), or a TLS "
            "client certificate, x5t#S256 (RFC 8705 section 3.2)"
        ),
    )


_STRING_CLAIMS = ("scope", "client_id", "username", "token_type")
_TIME_CLAIMS = ("exp", "iat", "nbf")


def render_introspection(response: token_pb2.IntrospectResponse) -> dict[str, Any]:
    """RFC 7662 section 2.2: exactly ``{"active": false}`` for an inactive token,
    which says nothing about why (section 4)."""
    if not response.active:
        return {"active": False}
    body: dict[str, Any] = {"active": True}
    for name in _STRING_CLAIMS:
        if getattr(response, name):
            body[name] = getattr(response, name)
    for name in _TIME_CLAIMS:
        if getattr(response, name):
            body[name] = getattr(response, name)
    if response.sub:
        body["sub"] = response.sub
    if len(response.aud) == 1:
        body["aud"] = response.aud[0]
    elif response.aud:
        body["aud"] = list(response.aud)
    cnf = {}
    if response.cnf_jkt:
        cnf["jkt"] = response.cnf_jkt
    if response.cnf_x5t_s256:
        cnf["x5t#S256"] = response.cnf_x5t_s256
    if cnf:
        body["cnf"] = cnf
    for name in ("iss", "jti"):
        if getattr(response, name):
            body[name] = getattr(response, name)
    return body


@operation(
    "introspect",
    "Token introspection (RFC 7662)",
    tags=OAUTH,
    body=Body(IntrospectionRequest, FORM),
    responses={200: ok(IntrospectionResponse), **CLIENT_ERRORS},
    security=CLIENT_AUTH,
)
async def introspection_endpoint(request: Request) -> Response:
    form = await read_form(request, settings_of(request).max_body_bytes)
    if (refused := await limit_client(request, INTROSPECT_PER_CLIENT, form)) is not None:
        return refused
    credentials = extract_client_credentials(request, form)
    introspect = token_pb2.IntrospectRequest(
        token=form.require("token"),
        token_type_hint=form.get("token_type_hint"),
        credentials=credentials,
    )
    response = await downstream_of(request).token.call.Introspect(introspect)
    return JSONResponse(render_introspection(response), headers=NO_STORE)
