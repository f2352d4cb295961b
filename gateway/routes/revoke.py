"""The revocation endpoint (RFC 7009 section 2). Unknown or already invalid
tokens still answer 200 (section 2.2); that is the token service's call."""

from __future__ import annotations

from oauth2.v1 import token_pb2
from starlette.requests import Request
from starlette.responses import Response

from gateway.client_auth import extract_client_credentials
from gateway.cors import require_allowed_origin
from gateway.errors import NO_STORE
from gateway.forms import read_form
from gateway.openapi.prose import CLIENT_AUTH, OAUTH
from gateway.openapi.spec import FORM, Answer, Body, operation
from gateway.ratelimit import REVOKE_PER_CLIENT, limit_client
from gateway.routes.introspect import CLIENT_ERRORS, IntrospectionRequest
from gateway.state import actor_of, downstream_of, settings_of


class RevocationRequest(IntrospectionRequest):
    """RFC 7009 section 2.1"""


@operation(
    "revoke",
    "Token revocation (RFC 7009)",
    tags=OAUTH,
    body=Body(RevocationRequest, FORM),
    responses={200: Answer("Revoked, or the token was not valid anyway"), **CLIENT_ERRORS},
    security=CLIENT_AUTH,
)
async def revocation_endpoint(request: Request) -> Response:
    form = await read_form(request, settings_of(request).max_body_bytes)
    if (refused := await limit_client(request, REVOKE_PER_CLIENT, form)) is not None:
        return refused
    credentials = extract_client_credentials(request, form)
    revoke = token_pb2.RevokeRequest(
        token=form.require("token"),
        token_type_hint=form.get("token_type_hint"),
        credentials=credentials,
        actor=actor_of(request, credentials.client_id),
    )
    downstream = downstream_of(request)
    await require_allowed_origin(request, downstream, credentials.client_id)
    await downstream.token.call.Revoke(revoke)
    return Response(status_code=200, headers=NO_STORE)
