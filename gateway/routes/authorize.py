"""The authorization endpoint (RFC 6749 section 3.1 and 4.1.1, OpenID Connect Core
section 3.1.2.1), in steps:

1. parse the query (UTF-8 strict, repeated parameters recorded);
2. ``ValidateAuthorizationRequest``: a failed call (unknown client, redirect URI
   missing or not registered) is a page, never a redirect (section 4.1.2.1);
   a returned ``error`` goes to the validated redirect URI;
3. refuse what this server does not do, at the redirect URI: request objects
   (OpenID Connect Core section 6) and response modes other than ``query``;
4. keep the request in the session under a random ``authz`` id and continue
   (:func:`gateway.authorization.continue_authorization`).

``GET /oauth/authorize/resume?authz=`` continues a kept request after the login
page; the login page's POST redirects there.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from common.errors import OAuthError
from gateway.authorization import (
    continue_authorization,
    error_response,
    parse_authorization_request,
)
from gateway.pages import error_page
from gateway.state import downstream_of, sessions_of

#: Response modes this server answers with (OAuth 2.0 Multiple Response Type
#: Encoding Practices); query is the default of the code flow.
RESPONSE_MODES = frozenset({"", "query"})

EXPIRED = (
    "This sign-in request has expired or was already completed. "
    "Return to the application and try again."
)


def request_failed_page(request: Request, exc: OAuthError) -> Response:
    """The request cannot be answered at a redirect URI we trust: say so here."""
    if exc.status_code >= 500:
        return error_page(
            request,
            "The service is temporarily unavailable. Try again in a moment.",
            status_code=exc.status_code,
        )
    message = exc.public_description or "The authorization request is not valid."
    return error_page(request, message, status_code=400)


async def authorization_endpoint(request: Request) -> Response:
    try:
        asked = parse_authorization_request(request.scope.get("query_string", b""))
        validated = await downstream_of(request).authorize.call.ValidateAuthorizationRequest(asked)
    except OAuthError as exc:
        return request_failed_page(request, exc)
    if not validated.redirect_uri:
        # The service must name where to answer; without it nothing may be redirected.
        return error_page(request, "The authorization request is not valid.")
    if not validated.HasField("request"):
        validated.request.CopyFrom(asked)
    if validated.error:
        return error_response(request, validated, validated.error, validated.error_description)
    params = request.query_params
    if params.get("request"):
        return error_response(
            request, validated, "request_not_supported", "Request objects are not supported"
        )
    if params.get("request_uri"):
        return error_response(
            request, validated, "request_uri_not_supported", "request_uri is not supported"
        )
    if validated.request.response_mode not in RESPONSE_MODES:
        return error_response(
            request,
            validated,
            "invalid_request",
            "Unsupported response_mode; only 'query' is supported",
        )

    store = sessions_of(request)
    session = await store.load_or_create(request)
    authz_id = session.add_pending(validated)
    response = await continue_authorization(request, session, authz_id)
    await store.save(session, response)
    return response


async def resume_authorization(request: Request) -> Response:
    store = sessions_of(request)
    session = await store.load(request)
    authz_id = request.query_params.get("authz", "")
    if session is None or session.get_pending(authz_id) is None:
        return error_page(request, EXPIRED)
    response = await continue_authorization(request, session, authz_id)
    await store.save(session, response)
    return response
