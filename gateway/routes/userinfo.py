"""The UserInfo endpoint (OpenID Connect Core section 5.3) behind RFC 6750 bearer
tokens, in steps:

1. find the access token: ``Authorization: Bearer`` (section 2.1) or, on POST,
   the form body's ``access_token`` (section 2.2), never both and never the
   query string (OAuth 2.1 drops section 2.3) -> 400 ``invalid_request``;
   or ``Authorization: DPoP`` with a ``DPoP`` proof (RFC 9449 section 7);
   none at all -> 401 with a bare ``Bearer realm`` challenge (section 3.1);
2. ``TokenService.VerifyAccessToken(required_scopes=["openid"], require_user)``:
   signature, expiry, audience, revocation, and a user behind it (a
   client_credentials token has none) -> 401 ``invalid_token`` or 403
   ``insufficient_scope``; a DPoP-bound token only as DPoP, with a proof of its
   key and ``ath`` -> 401 ``invalid_token`` / ``invalid_dpop_proof`` /
   ``use_dpop_nonce`` with a ``DPoP`` challenge;
3. ``AuthorizeService.GetUserClaims(sub, scopes)``: the claims the granted scopes
   allow; an unknown or disabled person -> 401 ``invalid_token``.

Every error carries ``WWW-Authenticate: Bearer realm="oauth2", error="...",
error_description="..."`` (section 3), or the ``DPoP`` challenge (RFC 9449
section 7.1) where DPoP was used or is needed, and the RFC 6749 section 5.2 JSON body.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from oauth2.v1 import authorize_pb2, token_pb2
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from common.endpoints import USERINFO
from common.errors import (
    DpopBoundToken,
    InvalidDpopProof,
    InvalidRequest,
    InvalidToken,
    OAuthError,
    UseDpopNonce,
)
from gateway.bearer import BEARER, DPOP, authorization_token, is_b64token
from gateway.client_certificate import presented_certificate
from gateway.cors import require_allowed_origin
from gateway.dpop import dpop_challenge, dpop_proof
from gateway.errors import NO_STORE, bearer_challenge, error_response
from gateway.forms import FORM_MEDIA_TYPE, read_form
from gateway.models import FormModel, Omitted, Resource
from gateway.openapi.prose import ACCESS_TOKEN, OPENID
from gateway.openapi.responses import error, errors, ok
from gateway.openapi.spec import FORM, Body, Endpoint, operation
from gateway.state import downstream_of, settings_of

REALM = "oauth2"
REQUIRED_SCOPES = ["openid"]


class UserInfo(Resource):
    """OpenID Connect Core section 5.3.2; the claims the granted scopes allow."""

    sub: str
    name: str | Omitted = None
    preferred_username: str | Omitted = None
    email: str | Omitted = None
    email_verified: bool | Omitted = None


class UserInfoForm(FormModel):
    """RFC 6750 section 2.2: the access token in the body, instead of the header."""

    access_token: str | Omitted = None


def _userinfo_operation(method: str) -> Callable[[Endpoint], Endpoint]:
    return operation(
        f"userinfo{method.capitalize()}",
        "UserInfo (OpenID Connect Core section 5.3)",
        tags=OPENID,
        body=Body(UserInfoForm, FORM, required=False) if method == "POST" else None,
        responses={
            200: ok(UserInfo),
            **errors(400, 403, 413, 429, 500, 503),
            401: error(
                401,
                "invalid_token; without any token the challenge names no error "
                '(RFC 6750 section 3.1): WWW-Authenticate: Bearer realm="oauth2"',
                challenge=True,
            ),
        },
        security=ACCESS_TOKEN,
        method=method,
    )


def bearer_error(error: OAuthError, scheme: str = BEARER) -> Response:
    """An RFC 6750 section 3 error: the challenge names the error and its description.
    The DPoP challenge (RFC 9449 section 7.1) when the token came as DPoP, is bound
    to a DPoP key, or the proof failed; a proof's failure is 401 here."""
    if error.status_code >= 500:
        return error_response(error)
    if isinstance(error, InvalidDpopProof | UseDpopNonce):
        return error_response(error, challenge=dpop_challenge(REALM, error), status_code=401)
    if scheme == DPOP or isinstance(error, DpopBoundToken):
        return error_response(error, challenge=dpop_challenge(REALM, error))
    challenge = bearer_challenge(REALM, error, scope=" ".join(REQUIRED_SCOPES))
    return error_response(error, challenge=challenge)


def no_token() -> Response:
    """Section 3.1: a request without any authentication gets no error code in
    the challenge; the body is the JSON error every other answer has, so that
    clients (and the OpenAPI document) see one shape."""
    return error_response(
        InvalidToken("An access token is required"), challenge=bearer_challenge(REALM)
    )


async def bearer_token(request: Request) -> tuple[str, str]:
    """The scheme and the access token the request presents; the token is "" when it
    presents none."""
    if request.query_params.get("access_token"):
        raise InvalidRequest("Send the access token in the Authorization header")
    presented = authorization_token(request)
    scheme, header_token = presented if presented is not None else (BEARER, None)
    if header_token is not None and not is_b64token(header_token):
        raise InvalidRequest(f"Malformed {scheme} authorization header")
    body_token = ""
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if request.method == "POST" and media_type == FORM_MEDIA_TYPE:
        form = await read_form(request, settings_of(request).max_body_bytes)
        body_token = form.get("access_token")
    if header_token and body_token:
        raise InvalidRequest("Use only one method to send the access token")
    return scheme, header_token or body_token


@_userinfo_operation("GET")
@_userinfo_operation("POST")
async def userinfo_endpoint(request: Request) -> Response:
    scheme = BEARER
    try:
        scheme, token = await bearer_token(request)
        if not token:
            return no_token()
        claims = await user_claims(request, token, scheme)
    except OAuthError as exc:
        return bearer_error(exc, scheme)
    return JSONResponse(claims, headers=NO_STORE)


async def user_claims(request: Request, token: str, scheme: str = BEARER) -> dict[str, Any]:
    downstream = downstream_of(request)
    verified = await downstream.token.call.VerifyAccessToken(
        # A client_credentials token names no user (its sub is the client's own id).
        token_pb2.VerifyAccessTokenRequest(
            token=token,
            required_scopes=REQUIRED_SCOPES,
            require_user=True,
            scheme=scheme,
            dpop=dpop_proof(request, USERINFO),
            client_certificate=presented_certificate(request),
        )
    )
    if not verified.active or not verified.sub:
        raise InvalidToken("The access token is not active")
    await require_allowed_origin(request, downstream, verified.client_id)
    try:
        found = await downstream.authorize.call.GetUserClaims(
            authorize_pb2.GetUserClaimsRequest(user_id=verified.sub, scopes=verified.scope.split())
        )
    except OAuthError as exc:
        if exc.status_code >= 500:
            raise
        raise InvalidToken("The access token's user is unknown") from None
    if not found.enabled:
        raise InvalidToken("The access token's user is disabled")
    claims: dict[str, Any] = json.loads(found.claims_json) if found.claims_json else {}
    claims["sub"] = found.sub or verified.sub
    return claims
