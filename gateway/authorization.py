"""The authorization step shared by ``/oauth/authorize``, ``/login`` and ``/consent``
(RFC 6749 section 4.1.1 and 4.1.2, OpenID Connect Core section 3.1.2, RFC 9207).

- :func:`parse_authorization_request`: the query string into an
  ``AuthorizationRequest`` (UTF-8 strict, repeated parameters recorded);
- :func:`authorization_response_uri`: the client's redirect URI with response
  parameters added to the query it was registered with;
- :func:`continue_authorization`: once the request is validated and kept in the
  session, decide: the login page, the consent page, or the code at once
  (docs/signin.md, step 2), honouring ``prompt`` and ``max_age``;
- :func:`issue_code`: the authorization response with ``code``, ``state``, ``iss``.
"""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from google.protobuf.timestamp_pb2 import Timestamp
from oauth2.v1 import authorize_pb2
from starlette.requests import Request
from starlette.responses import Response

from common.errors import InvalidRequest, OAuthError
from gateway.errors import safe_description
from gateway.pages import gateway_url, redirect
from gateway.sessions import PendingAuthorization, Session
from gateway.state import downstream_of, settings_of

#: AuthorizationRequest fields read from the query, by parameter name.
REQUEST_PARAMETERS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "max_age",
    "response_mode",
    "login_hint",
)

#: max_age sent to the authorize service when absent.
MAX_AGE_ABSENT = -1
#: max_age sent when the value is not a non-negative integer; the authorize
#: service answers it with invalid_request at the redirect URI, in its order
#: of checks (docs/signin.md, step 1).
MAX_AGE_INVALID = -2
_INT64_MAX = 2**63 - 1

#: Error codes an authorization response may carry (RFC 6749 section 4.1.2.1,
#: OpenID Connect Core section 3.1.2.6 and 6.1); anything else is server_error.
AUTHORIZATION_ERRORS = frozenset(
    {
        "invalid_request",
        "unauthorized_client",
        "access_denied",
        "unsupported_response_type",
        "invalid_scope",
        "server_error",
        "temporarily_unavailable",
        "interaction_required",
        "login_required",
        "account_selection_required",
        "consent_required",
        "request_not_supported",
        "request_uri_not_supported",
    }
)

_DIGITS = re.compile(r"[0-9]+")


def parse_max_age(value: str) -> int:
    if value == "":
        return MAX_AGE_ABSENT
    if _DIGITS.fullmatch(value) and int(value) <= _INT64_MAX:
        return int(value)
    return MAX_AGE_INVALID


def parse_authorization_request(query_string: bytes) -> authorize_pb2.AuthorizationRequest:
    """The parameters of an authorization request. Empty values count as omitted
    (RFC 6749 section 3.1); a parameter given twice keeps its first value and is
    named in ``duplicated_parameters`` for the authorize service to refuse."""
    try:
        pairs = parse_qsl(
            query_string.decode("utf-8"),
            keep_blank_values=True,
            encoding="utf-8",
            errors="strict",
        )
    except UnicodeDecodeError:
        raise InvalidRequest("The authorization request is not valid UTF-8") from None
    values: dict[str, str] = {}
    duplicated: list[str] = []
    for name, value in pairs:
        if value == "" or name not in REQUEST_PARAMETERS:
            continue
        if name in values:
            if name not in duplicated:
                duplicated.append(name)
            continue
        values[name] = value
    return authorize_pb2.AuthorizationRequest(
        response_type=values.get("response_type", ""),
        client_id=values.get("client_id", ""),
        redirect_uri=values.get("redirect_uri", ""),
        scope=values.get("scope", ""),
        state=values.get("state", ""),
        nonce=values.get("nonce", ""),
        code_challenge=values.get("code_challenge", ""),
        code_challenge_method=values.get("code_challenge_method", ""),
        prompt=values.get("prompt", ""),
        max_age=parse_max_age(values.get("max_age", "")),
        response_mode=values.get("response_mode", ""),
        login_hint=values.get("login_hint", ""),
        duplicated_parameters=duplicated,
    )


def authorization_response_uri(redirect_uri: str, params: dict[str, str]) -> str:
    """``redirect_uri`` with ``params`` added to its query (RFC 6749 section 3.1.2:
    the registered query is kept, byte for byte). Empty values are left out."""
    parts = urlsplit(redirect_uri)
    added = urlencode([(name, value) for name, value in params.items() if value])
    query = f"{parts.query}&{added}" if parts.query and added else parts.query or added
    # A redirect URI has no fragment (RFC 6749 section 3.1.2); never forward one.
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def error_response(
    request: Request,
    validated: authorize_pb2.ValidatedAuthorizationRequest,
    error: str,
    description: str = "",
) -> Response:
    """The error authorization response (RFC 6749 section 4.1.2.1, RFC 9207)."""
    if error not in AUTHORIZATION_ERRORS:
        error, description = "server_error", ""
    location = authorization_response_uri(
        validated.redirect_uri,
        {
            "error": error,
            "error_description": safe_description(description),
            "state": validated.request.state,
            "iss": settings_of(request).issuer,
        },
    )
    return redirect(location)


def error_response_for(
    request: Request, validated: authorize_pb2.ValidatedAuthorizationRequest, exc: OAuthError
) -> Response:
    """A downstream failure after the redirect URI was validated goes back to the client."""
    return error_response(request, validated, exc.error, exc.public_description)


def prompts_of(validated: authorize_pb2.ValidatedAuthorizationRequest) -> set[str]:
    return set(validated.request.prompt.split())


def login_needed(session: Session, pending: PendingAuthorization) -> bool:
    """Not signed in, or ``prompt=login`` / ``max_age`` ask for a fresh login that
    has not happened since this request arrived (OpenID Connect Core 3.1.2.1)."""
    if not session.signed_in:
        return True
    if pending.fresh_login:
        return False
    request = pending.validated.request
    if "login" in prompts_of(pending.validated):
        return True
    max_age = request.max_age
    # max_age=0 means "authenticate now", like prompt=login.
    return max_age == 0 or (max_age > 0 and time.time() - session.auth_time > max_age)


async def continue_authorization(request: Request, session: Session, authz_id: str) -> Response:
    """The next step for a pending request (docs/signin.md, step 2). Finishing it,
    with a code or an error, removes it from the session; the caller saves."""
    pending = session.pending[authz_id]
    validated = pending.validated
    prompts = prompts_of(validated)
    if login_needed(session, pending):
        if "none" in prompts:
            del session.pending[authz_id]
            return error_response(request, validated, "login_required", "Sign-in required")
        return redirect(gateway_url(request, f"/login?{urlencode({'authz': authz_id})}"))
    try:
        consent = await downstream_of(request).authorize.call.GetConsent(
            authorize_pb2.GetConsentRequest(
                client_id=validated.request.client_id, user_id=session.user_id
            )
        )
    except OAuthError as exc:
        del session.pending[authz_id]
        return error_response_for(request, validated, exc)
    covered = consent.exists and set(validated.scopes) <= set(consent.scopes)
    if "consent" in prompts or not covered:
        if "none" in prompts:
            del session.pending[authz_id]
            return error_response(request, validated, "consent_required", "Consent required")
        return redirect(gateway_url(request, f"/consent?{urlencode({'authz': authz_id})}"))
    return await issue_code(request, session, authz_id)


async def issue_code(request: Request, session: Session, authz_id: str) -> Response:
    """The successful authorization response (RFC 6749 section 4.1.2, RFC 9207)."""
    validated = session.pending.pop(authz_id).validated
    asked = validated.request
    try:
        issued = await downstream_of(request).authorize.call.IssueAuthorizationCode(
            authorize_pb2.IssueAuthorizationCodeRequest(
                client_id=asked.client_id,
                user_id=session.user_id,
                redirect_uri=validated.redirect_uri,
                scopes=list(validated.scopes),
                code_challenge=asked.code_challenge,
                code_challenge_method=asked.code_challenge_method,
                nonce=asked.nonce,
                auth_time=Timestamp(seconds=session.auth_time),
                redirect_uri_in_request=validated.redirect_uri_in_request,
                amr=session.amr,
            )
        )
    except OAuthError as exc:
        return error_response_for(request, validated, exc)
    location = authorization_response_uri(
        validated.redirect_uri,
        {"code": issued.code, "state": asked.state, "iss": settings_of(request).issuer},
    )
    return redirect(location)
