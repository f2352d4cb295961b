"""Canned behaviour of the fake services: one client, one person, a few tokens.

The rules mimic the real services' contract (docs/signin.md) closely enough for
the gateway's side of it: unknown client or unregistered redirect URI fail the
call; later errors come back in ``error``; consent is remembered.
"""

from __future__ import annotations

import json
import time
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from oauth2.v1 import authorize_pb2, clients_pb2, token_pb2

from common.errors import (
    AccessDenied,
    InsufficientScope,
    InvalidRequest,
    InvalidToken,
    NotFound,
    SlowDown,
)

CLIENT_ID = "photo-book"
# Markup in the name: the pages must escape it.
CLIENT_NAME = "Photo <Book> & Co"
# A registered query that must survive byte for byte.
REDIRECT_URI = "https://app.example.com/cb?tenant=a%20b"
POST_LOGOUT_URI = "https://app.example.com/bye"

USERNAME = "alice"
PASSWORD = "wonderland"
USER_ID = "u-alice"
LOCKED_USERNAME = "locked"
LOCKOUT = "Too many failed sign-in attempts; try again in 120 seconds"

ID_TOKEN_HINT = "hint-for-photo-book"
GOOD_TOKEN = "good-token"
# An access token of the admin client (client_credentials, scope "admin").
ADMIN_TOKEN = "admin-token"
ADMIN_CLIENT_ID = "admin-cli"
ADMIN_CLIENT_SECRET = "bootstrap-secret"


def validate_authorization_request(
    request: authorize_pb2.AuthorizationRequest,
) -> authorize_pb2.ValidatedAuthorizationRequest:
    if request.client_id != CLIENT_ID:
        raise InvalidRequest("Unknown client")
    if request.redirect_uri not in ("", REDIRECT_URI):
        raise InvalidRequest("The redirect_uri is not registered for this client")
    validated = authorize_pb2.ValidatedAuthorizationRequest(
        request=request,
        redirect_uri=REDIRECT_URI,
        client_name=CLIENT_NAME,
        scopes=request.scope.split() or ["openid"],
        redirect_uri_in_request=bool(request.redirect_uri),
        client_uri="https://app.example.com/",
    )
    if request.duplicated_parameters:
        validated.error = "invalid_request"
        validated.error_description = f"'{request.duplicated_parameters[0]}' is repeated"
    elif request.response_type != "code":
        validated.error = "unsupported_response_type"
        validated.error_description = "Only response_type=code is supported"
    elif request.max_age < -1:
        validated.error = "invalid_request"
        validated.error_description = "max_age must be a non-negative integer"
    return validated


def login(request: authorize_pb2.LoginRequest) -> authorize_pb2.LoginResponse:
    if request.username == LOCKED_USERNAME:
        raise SlowDown(LOCKOUT)
    if (request.username, request.password) != (USERNAME, PASSWORD):
        raise AccessDenied("Invalid username or password")
    return authorize_pb2.LoginResponse(
        user=authorize_pb2.User(user_id=USER_ID, username=USERNAME, enabled=True),
        auth_time=Timestamp(seconds=int(time.time())),
        amr=["pwd"],
    )


class ConsentBook:
    def __init__(self) -> None:
        self.granted: dict[tuple[str, str], list[str]] = {}

    def get(self, request: authorize_pb2.GetConsentRequest) -> authorize_pb2.Consent:
        scopes = self.granted.get((request.client_id, request.user_id))
        return authorize_pb2.Consent(
            client_id=request.client_id,
            user_id=request.user_id,
            scopes=scopes or [],
            exists=scopes is not None,
        )

    def grant(self, request: authorize_pb2.GrantConsentRequest) -> authorize_pb2.Consent:
        key = (request.client_id, request.user_id)
        scopes = [*self.granted.get(key, [])]
        scopes += [scope for scope in request.scopes if scope not in scopes]
        self.granted[key] = scopes
        return authorize_pb2.Consent(
            client_id=request.client_id, user_id=request.user_id, scopes=scopes, exists=True
        )


class CodeMint:
    def __init__(self) -> None:
        self.issued = 0

    def __call__(
        self, request: authorize_pb2.IssueAuthorizationCodeRequest
    ) -> authorize_pb2.IssueAuthorizationCodeResponse:
        self.issued += 1
        return authorize_pb2.IssueAuthorizationCodeResponse(code=f"code-{self.issued}")


def user_claims(request: authorize_pb2.GetUserClaimsRequest) -> authorize_pb2.UserClaims:
    if request.user_id not in (USER_ID, "u-disabled"):
        raise NotFound("No such user")
    claims: dict[str, Any] = {}
    if "profile" in request.scopes:
        claims |= {"name": "Alice Liddell", "preferred_username": USERNAME}
    if "email" in request.scopes:
        claims |= {"email": "alice@example.com", "email_verified": True}
    return authorize_pb2.UserClaims(
        sub=request.user_id,
        claims_json=json.dumps(claims),
        enabled=request.user_id == USER_ID,
    )


def verify_access_token(
    request: token_pb2.VerifyAccessTokenRequest,
) -> token_pb2.IntrospectResponse:
    if request.token == ADMIN_TOKEN:
        return token_pb2.IntrospectResponse(
            active=True, client_id=ADMIN_CLIENT_ID, sub=ADMIN_CLIENT_ID, scope="admin"
        )
    subjects = {GOOD_TOKEN: USER_ID, "disabled-user": "u-disabled", "ghost": "u-ghost"}
    if request.token in subjects and "admin" in request.required_scopes:
        raise InsufficientScope("The access token lacks the 'admin' scope")
    if request.token in subjects:
        return token_pb2.IntrospectResponse(
            active=True, sub=subjects[request.token], scope="openid profile email"
        )
    if request.token == "no-openid":
        raise InsufficientScope("The access token lacks the 'openid' scope")
    if request.token == "inactive":
        return token_pb2.IntrospectResponse(active=False)
    raise InvalidToken("The access token expired")


def decode_id_token_hint(request: token_pb2.DecodeIdTokenHintRequest) -> token_pb2.IdTokenHint:
    if request.id_token_hint != ID_TOKEN_HINT:
        raise InvalidRequest("id_token_hint is not a token of this server")
    return token_pb2.IdTokenHint(sub=USER_ID, client_id=CLIENT_ID)


def validate_redirect_uri(
    request: clients_pb2.ValidateRedirectUriRequest,
) -> clients_pb2.ValidateRedirectUriResponse:
    valid = (request.client_id, request.redirect_uri, request.kind) == (
        CLIENT_ID,
        POST_LOGOUT_URI,
        "post_logout",
    )
    return clients_pb2.ValidateRedirectUriResponse(
        valid=valid,
        client=clients_pb2.Client(client_id=CLIENT_ID, client_name=CLIENT_NAME) if valid else None,
    )
