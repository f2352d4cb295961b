"""The consent page (docs/signin.md, step 4): the client's name and the scopes in
plain words, Allow (``decision=approve``) or Deny (``decision=deny``).

Approve: ``GrantConsent`` (remembered, so the next sign-in skips this page unless
``prompt=consent``), then the code at the redirect URI. Deny: ``access_denied``
there (RFC 6749 section 4.1.2.1). Both 303; a missing or wrong CSRF token is a
403 page and nothing happens.
"""

from __future__ import annotations

from urllib.parse import urlencode

from oauth2.v1 import authorize_pb2
from starlette.requests import Request
from starlette.responses import Response

from common.errors import OAuthError
from gateway.authorization import error_response, error_response_for, issue_code, login_needed
from gateway.pages import csrf_failed_page, error_page, gateway_url, redirect, render
from gateway.routes.authorize import EXPIRED
from gateway.routes.login import form_of
from gateway.state import downstream_of, sessions_of

#: What each scope lets the client see or do, in the words of the person asked.
SCOPE_DESCRIPTIONS = {
    "openid": "Confirm your identity",
    "profile": "Your name and username",
    "email": "Your email address",
    "offline_access": "Stay signed in when you are not using the app",
}


def describe_scope(scope: str) -> str:
    return SCOPE_DESCRIPTIONS.get(scope, f"Access to \u201c{scope}\u201d")


def _login_location(request: Request, authz_id: str) -> str:
    return gateway_url(request, f"/login?{urlencode({'authz': authz_id})}")


async def show_consent(request: Request) -> Response:
    store = sessions_of(request)
    session = await store.load(request)
    authz_id = request.query_params.get("authz", "")
    pending = session.get_pending(authz_id) if session is not None else None
    if session is None or pending is None:
        return error_page(request, EXPIRED)
    if login_needed(session, pending):
        return redirect(_login_location(request, authz_id))
    validated = pending.validated
    client_uri = validated.client_uri if validated.client_uri.startswith("https://") else ""
    response = render(
        request,
        "consent.html",
        {
            "client_name": validated.client_name or validated.request.client_id,
            "client_uri": client_uri,
            "scopes": [describe_scope(scope) for scope in validated.scopes],
            "username": session.username,
            "csrf_token": session.csrf_token,
            "authz": authz_id,
        },
        form_targets=[validated.redirect_uri],
    )
    await store.save(session, response)
    return response


async def submit_consent(request: Request) -> Response:
    store = sessions_of(request)
    session = await store.load(request)
    form = await form_of(request)
    if form is None or session is None or not session.csrf_valid(form.get("csrf_token")):
        return csrf_failed_page(request)
    authz_id = form.get("authz")
    pending = session.get_pending(authz_id)
    if pending is None:
        return error_page(request, EXPIRED)
    if login_needed(session, pending):
        # Not signed in, or prompt=login / max_age still want a fresh login.
        return redirect(_login_location(request, authz_id))
    decision = form.get("decision")
    validated = pending.validated
    if decision == "deny":
        del session.pending[authz_id]
        response = error_response(
            request, validated, "access_denied", "The user denied the request"
        )
    elif decision == "approve":
        try:
            await downstream_of(request).authorize.call.GrantConsent(
                authorize_pb2.GrantConsentRequest(
                    client_id=validated.request.client_id,
                    user_id=session.user_id,
                    scopes=list(validated.scopes),
                )
            )
        except OAuthError as exc:
            del session.pending[authz_id]
            response = error_response_for(request, validated, exc)
        else:
            response = await issue_code(request, session, authz_id)
    else:
        return error_page(request, "Choose Allow or Deny.")
    await store.save(session, response)
    return response
