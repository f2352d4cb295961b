"""The token endpoint (RFC 6749 section 3.2): parse, extract credentials, exchange.

The grant itself (client authentication, grant_type, scope) is the token
service's business; this module only turns the HTTP request into a
``TokenRequest`` and the answer into RFC 6749 section 5.1 JSON.
"""

from __future__ import annotations

from typing import Any

from oauth2.v1 import token_pb2
from pydantic import Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from common.endpoints import TOKEN
from gateway.client_auth import extract_client_credentials
from gateway.cors import require_allowed_origin
from gateway.dpop import dpop_proof, nonce_headers
from gateway.errors import NO_STORE
from gateway.forms import Form, read_form
from gateway.models import FormModel, Omitted, Resource
from gateway.openapi.prose import CLIENT_AUTH, OAUTH
from gateway.openapi.responses import error, errors, ok
from gateway.openapi.spec import FORM, Body, operation
from gateway.ratelimit import TOKEN_PER_CLIENT, limit_client
from gateway.state import downstream_of, settings_of
from services.token.domain.grants import GRANTS


class TokenRequest(FormModel):
    """RFC 6749 section 4.1.3, 4.4.2 and 6"""

    # The token service's registry says which grant types there are.
    grant_type: str = Field(description=" | ".join(GRANTS))
    code: str | Omitted = None
    redirect_uri: str | Omitted = None
    code_verifier: str | Omitted = None
    refresh_token: str | Omitted = None
    device_code: str | Omitted = None
    subject_token: str | Omitted = None
    subject_token_type: str | Omitted = None
    actor_token: str | Omitted = None
    actor_token_type: str | Omitted = None
    requested_token_type: str | Omitted = None
    scope: str | Omitted = None
    resource: str | Omitted = None
    audience: str | Omitted = None
    client_id: str | Omitted = None
    client_secret: str | Omitted = None


class TokenResponse(Resource):
    """RFC 6749 section 5.1"""

    access_token: str
    token_type: str
    expires_in: int | Omitted = None
    scope: str | Omitted = None
    refresh_token: str | Omitted = None
    id_token: str | Omitted = None
    issued_token_type: str | Omitted = None


def token_request(form: Form, request: Request) -> token_pb2.TokenRequest:
    """The contract's parameters; any other is ignored (RFC 6749 section 3.2), and the
    token service hands each grant only those it declares."""
    credentials = extract_client_credentials(request, form)
    grant_type = form.require("grant_type")
    return token_pb2.TokenRequest(
        grant_type=grant_type,
        credentials=credentials,
        scope=form.get("scope"),
        code=form.get("code"),
        redirect_uri=form.get("redirect_uri"),
        code_verifier=form.get("code_verifier"),
        refresh_token=form.get("refresh_token"),
        resource=form.getlist("resource"),
        device_code=form.get("device_code"),
        subject_token=form.get("subject_token"),
        subject_token_type=form.get("subject_token_type"),
        actor_token=form.get("actor_token"),
        actor_token_type=form.get("actor_token_type"),
        requested_token_type=form.get("requested_token_type"),
        audience=form.getlist("audience"),
        dpop=dpop_proof(request, TOKEN),
    )


def render_token(response: token_pb2.TokenResponse) -> dict[str, Any]:
    """RFC 6749 section 5.1; optional members only when they have a value."""
    body: dict[str, Any] = {
        "access_token": response.access_token,
        "token_type": response.token_type or "Bearer",
    }
    if response.expires_in:
        body["expires_in"] = response.expires_in
    for name in ("scope", "refresh_token", "id_token", "issued_token_type"):
        value = getattr(response, name)
        if value:
            body[name] = value
    return body


@operation(
    "token",
    "Token endpoint (RFC 6749 section 3.2)",
    tags=OAUTH,
    body=Body(TokenRequest, FORM),
    responses={
        200: ok(TokenResponse),
        **errors(400, 413, 429, 500, 501, 503),
        401: error(401, "invalid_client (WWW-Authenticate: Basic)", challenge=True),
    },
    security=CLIENT_AUTH,
)
async def token_endpoint(request: Request) -> Response:
    form = await read_form(request, settings_of(request).max_body_bytes)
    if (refused := await limit_client(request, TOKEN_PER_CLIENT, form)) is not None:
        return refused
    exchange = token_request(form, request)
    downstream = downstream_of(request)
    await require_allowed_origin(request, downstream, exchange.credentials.client_id)
    response = await downstream.token.call.Exchange(exchange)
    return JSONResponse(
        render_token(response), headers={**NO_STORE, **nonce_headers(response.dpop_nonce)}
    )
