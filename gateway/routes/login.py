"""The login page (docs/signin.md, step 3): username and password, checked by
``AuthorizeService.Login`` with backoff per user and per address.

- ``GET /login[?authz=]``: the form (with the client's name when an
  authorization request waits); signed in and nothing waiting: "You are signed in".
- ``POST /login``: CSRF first (403, nothing else happens); then one message
  whatever was wrong (401 "Invalid username or password."); a lockout is 429 with
  ``Retry-After``; success replaces the session id and answers 303, back to the
  authorization step or to ``/login``.
"""

from __future__ import annotations

import re
import time
from urllib.parse import urlencode

from oauth2.v1 import authorize_pb2
from starlette.requests import Request
from starlette.responses import Response

from common.errors import OAuthError, SlowDown
from gateway.forms import Form, read_form
from gateway.pages import csrf_failed_page, error_page, gateway_url, redirect, render
from gateway.routes.authorize import EXPIRED
from gateway.sessions import PendingAuthorization, Session
from gateway.state import downstream_of, remote_addr_of, sessions_of, settings_of

INVALID_CREDENTIALS = "Invalid username or password."
LOCKED = "Too many failed sign-in attempts; try again later."
UNAVAILABLE = "Sign-in is unavailable right now. Try again in a moment."
#: Retry-After when the lockout message does not say how long.
DEFAULT_RETRY_AFTER = 30
_SECONDS = re.compile(r"(\d+) seconds?")


def login_page(
    request: Request,
    session: Session,
    authz_id: str,
    pending: PendingAuthorization | None,
    *,
    username: str = "",
    error: str = "",
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    validated = pending.validated if pending is not None else None
    return render(
        request,
        "login.html",
        {
            "client_name": validated.client_name if validated else "",
            "csrf_token": session.csrf_token,
            "authz": authz_id if pending is not None else "",
            "username": username,
            "error": error,
        },
        status_code=status_code,
        # The POST is followed by redirects ending at the client's redirect URI.
        form_targets=[validated.redirect_uri] if validated else [],
        headers=headers,
    )


async def form_of(request: Request) -> Form | None:
    """The POSTed form, or None when it cannot be read (wrong media type, not
    UTF-8, too large, a repeated field): no form of ours looks like that, so the
    caller refuses it like a missing CSRF token."""
    try:
        return await read_form(request, settings_of(request).max_body_bytes)
    except OAuthError:
        return None


async def show_login(request: Request) -> Response:
    store = sessions_of(request)
    session = await store.load_or_create(request)
    authz_id = request.query_params.get("authz", "")
    pending = session.get_pending(authz_id)
    if authz_id and pending is None:
        return error_page(request, EXPIRED)
    response: Response
    if pending is None and session.signed_in:
        response = render(request, "signed_in.html", {"username": session.username})
    else:
        hint = pending.validated.request.login_hint if pending else ""
        response = login_page(request, session, authz_id, pending, username=hint)
    await store.save(session, response)
    return response


async def submit_login(request: Request) -> Response:
    store = sessions_of(request)
    session = await store.load(request)
    form = await form_of(request)
    if form is None or session is None or not session.csrf_valid(form.get("csrf_token")):
        return csrf_failed_page(request)
    authz_id = form.get("authz")
    pending = session.get_pending(authz_id)
    if authz_id and pending is None:
        return error_page(request, EXPIRED)
    username, password = form.get("username"), form.get("password")

    def again(error: str, status_code: int, headers: dict[str, str] | None = None) -> Response:
        return login_page(
            request, session, authz_id, pending, username=username, error=error,
            status_code=status_code, headers=headers,
        )  # fmt: skip

    if not username or not password:
        return again(INVALID_CREDENTIALS, 401)
    try:
        result = await downstream_of(request).authorize.call.Login(
            authorize_pb2.LoginRequest(
                username=username, password=password, remote_addr=remote_addr_of(request)
            )
        )
    except SlowDown as exc:
        found = _SECONDS.search(exc.description)
        retry_after = found.group(1) if found else str(DEFAULT_RETRY_AFTER)
        return again(exc.description or LOCKED, 429, {"Retry-After": retry_after})
    except OAuthError as exc:
        if exc.status_code >= 500:
            return again(UNAVAILABLE, exc.status_code)
        # access_denied, or anything else the service refused: one message.
        return again(INVALID_CREDENTIALS, 401)

    session.sign_in(
        user_id=result.user.user_id,
        username=result.user.username or username,
        auth_time=result.auth_time.seconds if result.HasField("auth_time") else int(time.time()),
        amr=list(result.amr) or ["pwd"],
    )
    if pending is not None:
        pending.fresh_login = True
        location = gateway_url(request, f"/oauth/authorize/resume?{urlencode({'authz': authz_id})}")
        response = redirect(location, form_targets=[pending.validated.redirect_uri])
    else:
        response = redirect(gateway_url(request, "/login"))
    await store.save(session, response)
    return response
