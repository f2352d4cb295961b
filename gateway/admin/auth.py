"""The admin API's bearer-token check (RFC 6750).

Steps, each with one answer:

1. the ``Authorization: Bearer`` header (section 2.1; the admin API takes no
   other way of sending a token): absent -> 401 with a bare
   ``Bearer realm="oauth2-admin"`` challenge (section 3.1: no error code);
   malformed -> 401 ``invalid_token``;
2. ``TokenService.VerifyAccessToken(required_scopes=["admin"], audience=issuer)``:
   signature, expiry, audience and revocation -> 401 ``invalid_token``; a valid
   token without the ``admin`` scope -> 403 ``insufficient_scope`` with
   ``scope="admin"`` in the challenge.

The token's ``client_id`` is the actor of every admin call it authorizes.
"""

from __future__ import annotations

from oauth2.v1 import token_pb2
from starlette.requests import Request
from starlette.responses import Response

from common.errors import InsufficientScope, InvalidToken, OAuthError
from gateway.bearer import authorization_bearer, is_b64token
from gateway.errors import bearer_challenge, error_response
from gateway.state import downstream_of, settings_of

REALM = "oauth2-admin"
REQUIRED_SCOPE = "admin"
MISSING_TOKEN = "An access token with the 'admin' scope is required"  # noqa: S105


class Unauthorized(Exception):
    """The request may not use the admin API; ``response`` says why."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def challenge_response(error: OAuthError | None) -> Response:
    """401/403 with the RFC 6750 section 3 challenge and the RFC 6749 section 5.2
    body. ``None``: no credentials were sent, so the challenge names no error.
    Every refusal other than the scope is ``invalid_token``."""
    if error is None:
        return error_response(InvalidToken(MISSING_TOKEN), challenge=bearer_challenge(REALM))
    if isinstance(error, InsufficientScope):
        challenge = bearer_challenge(REALM, error, describe=False, scope=REQUIRED_SCOPE)
        return error_response(error, challenge=challenge)
    denied = InvalidToken(error.public_description)
    return error_response(denied, challenge=bearer_challenge(REALM, denied))


def bearer_token(request: Request) -> str:
    """The token of ``Authorization: Bearer``, "" when there is none."""
    token = authorization_bearer(request)
    if token is None:
        return ""
    if not is_b64token(token):
        raise Unauthorized(challenge_response(InvalidToken("Malformed bearer token")))
    return token


async def admin_client_id(request: Request) -> str:
    """The client_id of a valid admin token, or :class:`Unauthorized`. A token
    service that cannot answer raises its error (503) unchanged."""
    token = bearer_token(request)
    if not token:
        raise Unauthorized(challenge_response(None))
    try:
        verified = await downstream_of(request).token.call.VerifyAccessToken(
            token_pb2.VerifyAccessTokenRequest(
                token=token,
                required_scopes=[REQUIRED_SCOPE],
                audience=settings_of(request).issuer,
            )
        )
    except (InvalidToken, InsufficientScope) as exc:
        raise Unauthorized(challenge_response(exc)) from None
    if not verified.active:
        raise Unauthorized(challenge_response(InvalidToken("The access token is not active")))
    if REQUIRED_SCOPE not in verified.scope.split():
        raise Unauthorized(
            challenge_response(InsufficientScope("The access token lacks the 'admin' scope"))
        )
    return str(verified.client_id)
