"""The pushed authorization request endpoint (RFC 9126 section 2).

The client authenticates as at the token endpoint (public clients with their
client_id alone) and POSTs its authorization request's parameters; the authorize
service checks the credentials with the clients service, validates every parameter
and keeps them. The answer is 201 with the ``request_uri`` to send the browser to
``/oauth/authorize`` with (and ``client_id``); a request the authorization endpoint
would refuse is refused here, with the error it would have met (section 2.3).

A ``DPoP`` proof sent with the push (RFC 9449 section 10.1) is checked by the token
service first; its key binds the authorization code as a ``dpop_jkt`` would.
"""

from __future__ import annotations

from oauth2.v1 import authorize_pb2
from pydantic import Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from common.endpoints import PUSHED_AUTHORIZATION_REQUEST
from gateway.client_auth import extract_client_credentials
from gateway.cors import require_allowed_origin
from gateway.dpop import dpop_proof
from gateway.errors import NO_STORE
from gateway.forms import read_form
from gateway.models import FormModel, Omitted, Resource
from gateway.openapi.prose import CLIENT_AUTH, OAUTH
from gateway.openapi.responses import created, error, errors
from gateway.openapi.spec import FORM, Body, operation
from gateway.ratelimit import PAR_PER_CLIENT, limit_client
from gateway.state import downstream_of, settings_of

#: Client authentication's own parameters: they authenticate the push, and are not
#: part of the authorization request (RFC 9126 section 2.1).
CLIENT_AUTHENTICATION_PARAMETERS = frozenset({"client_secret"})


class PushedAuthorizationRequest(FormModel):
    """RFC 9126 section 2.1: the authorization request's parameters (RFC 6749
    section 4.1.1, OpenID Connect Core section 3.1.2.1) and client authentication"""

    response_type: str = Field(description="code")
    client_id: str | Omitted = None
    client_secret: str | Omitted = None
    redirect_uri: str | Omitted = None
    scope: str | Omitted = None
    state: str | Omitted = None
    nonce: str | Omitted = None
    code_challenge: str | Omitted = None
    code_challenge_method: str | Omitted = None
    prompt: str | Omitted = None
    max_age: str | Omitted = None
    response_mode: str | Omitted = None
    login_hint: str | Omitted = None
    resource: str | Omitted = Field(
        default=None, description="RFC 8707: the resource server the tokens are for"
    )
    request: str | Omitted = Field(
        default=None, description="RFC 9101: the request as a JWT signed with the client's key"
    )
    dpop_jkt: str | Omitted = Field(
        default=None, description="RFC 9449 section 10: the DPoP key the code is bound to"
    )


class PushedAuthorizationResponse(Resource):
    """RFC 9126 section 2.2"""

    request_uri: str
    expires_in: int


@operation(
    "pushAuthorizationRequest",
    "Pushed authorization request (RFC 9126)",
    tags=OAUTH,
    body=Body(PushedAuthorizationRequest, FORM),
    responses={
        201: created(PushedAuthorizationResponse),
        **errors(400, 413, 429, 500, 501, 503),
        401: error(401, "invalid_client (WWW-Authenticate: Basic)", challenge=True),
    },
    security=CLIENT_AUTH,
)
async def pushed_authorization_request_endpoint(request: Request) -> Response:
    form = await read_form(request, settings_of(request).max_body_bytes)
    if (refused := await limit_client(request, PAR_PER_CLIENT, form)) is not None:
        return refused
    credentials = extract_client_credentials(request, form)
    downstream = downstream_of(request)
    await require_allowed_origin(request, downstream, credentials.client_id)
    proof = dpop_proof(request, PUSHED_AUTHORIZATION_REQUEST)
    dpop_jkt = ""
    if proof.proof:
        dpop_jkt = (await downstream.token.call.CheckDpopProof(proof)).jkt
    pushed = await downstream.authorize.call.PushAuthorizationRequest(
        authorize_pb2.PushAuthorizationRequestRequest(
            dpop_jkt=dpop_jkt,
            credentials=credentials,
            parameters=[
                authorize_pb2.QueryParameter(name=name, value=value)
                for name, values in form.params.items()
                if name not in CLIENT_AUTHENTICATION_PARAMETERS
                for value in values
            ],
        )
    )
    body = {"request_uri": pushed.request_uri, "expires_in": pushed.expires_in}
    return JSONResponse(body, status_code=201, headers=NO_STORE)
