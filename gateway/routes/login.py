"""The login page (docs/signin.md): username and password.

- ``GET /login?interaction=``: the form of a waiting interaction (the client's
  name, the username prefilled from ``login_hint``); without one, a plain
  sign-in form, or "You are signed in". The plain form stores nothing: its
  CSRF token is a double-submit cookie until the sign-in creates the session.
- ``POST /login``: CSRF first (403, nothing else happens); then
  ``AuthorizeService.CompleteLogin`` for an interaction (or ``Login`` for the
  plain form), with its backoff: one message whatever was wrong (401 "Invalid
  username or password."), a lockout is 429 with ``Retry-After``, a service
  too busy to check the password (the Argon2 queue is full) 503 with
  ``Retry-After``, at once. Success replaces the session id and answers 303 to
  what the interaction says next.
"""

from __future__ import annotations

import re
import time

from oauth2.v1 import authorize_pb2
from starlette.requests import Request
from starlette.responses import Response

from common.errors import OAuthError, SlowDown
from gateway.authorization import INTERACTION, expired_page, follow
from gateway.forms import Form, read_form
from gateway.pages import csrf_failed_page, gateway_url, redirect, render
from gateway.ratelimit import limit_user
from gateway.sessions import Session, new_sid
from gateway.state import downstream_of, remote_addr_of, sessions_of, settings_of

INVALID_CREDENTIALS = "Invalid username or password."
LOCKED = "Too many failed sign-in attempts; try again later."
UNAVAILABLE = "Sign-in is unavailable right now. Try again in a moment."
#: Retry-After when the lockout message does not say how long.
DEFAULT_RETRY_AFTER = 30
_SECONDS = re.compile(r"(\d+) seconds?")


def login_page(
    request: Request,
    csrf_token: str,
    interaction_id: str,
    page: authorize_pb2.LoginPage | None,
    *,
    username: str = "",
    error: str = "",
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    return render(
        request,
        "login.html",
        {
            # The page as the authorize service sent it: the template reads what it shows.
            "page": page,
            "client_name": (page.client.client_name or page.client.client_id) if page else "",
            "csrf_token": csrf_token,
            "interaction": interaction_id if page is not None else "",
            "username": username,
            "error": error,
        },
        status_code=status_code,
        # The POST is followed by redirects ending at the client's redirect URI.
        form_targets=[page.redirect_uri] if page else [],
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


def _login_page_of(session: Session | None, interaction_id: str) -> authorize_pb2.LoginPage | None:
    view = session.view(interaction_id) if session is not None else None
    if view is None or not isinstance(view.page, authorize_pb2.LoginPage):
        return None
    return view.page


async def show_login(request: Request) -> Response:
    store = sessions_of(request)
    session = await store.load(request)
    interaction_id = request.query_params.get(INTERACTION, "")
    page = _login_page_of(session, interaction_id)
    if interaction_id and page is None:
        return expired_page(request)
    response: Response
    if session is None:
        # The plain form, to nobody we know: nothing is stored for it.
        token = store.form_token(request)
        response = login_page(request, token, interaction_id, page)
        store.set_form_token(response, token)
        return response
    if page is None and session.signed_in:
        response = render(request, "signed_in.html", {"username": session.username})
    else:
        response = login_page(request, session.csrf_token, interaction_id, page)
    await store.save(session, response)
    return response


async def submit_login(request: Request) -> Response:
    store = sessions_of(request)
    loaded = await store.load(request)
    form = await form_of(request)
    if form is None or not _csrf_valid(request, loaded, form):
        return csrf_failed_page(request)
    # Without a session only the plain form can have been posted (_csrf_valid).
    session = loaded or store.new()
    interaction_id = form.get(INTERACTION)
    page = _login_page_of(session, interaction_id)
    username, password = form.get("username"), form.get("password")

    def again(error: str, status_code: int, headers: dict[str, str] | None = None) -> Response:
        csrf_token = session.csrf_token if loaded is not None else form.get("csrf_token")
        return login_page(
            request, csrf_token, interaction_id, page, username=username, error=error,
            status_code=status_code, headers=headers,
        )  # fmt: skip

    if not username or not password:
        return again(INVALID_CREDENTIALS, 401)
    if (wait := await limit_user(request, username)) is not None:
        # The same form and message as the authorize service's lockout.
        return again(LOCKED, 429, {"Retry-After": str(wait)})
    authorize = downstream_of(request).authorize.call
    # Drawn before CompleteLogin: the code it may issue at once records this sid.
    sid = new_sid()
    outcome: authorize_pb2.LoginOutcome | None = None
    try:
        if interaction_id:
            outcome = await authorize.CompleteLogin(
                authorize_pb2.CompleteLoginRequest(
                    interaction_id=interaction_id,
                    session=session.browser(signing_in=sid),
                    username=username,
                    password=password,
                    remote_addr=remote_addr_of(request),
                )
            )
            signed_in = outcome.signed_in
        else:
            signed_in = await authorize.Login(
                authorize_pb2.LoginRequest(
                    username=username, password=password, remote_addr=remote_addr_of(request)
                )
            )
    except SlowDown as exc:
        found = _SECONDS.search(exc.description)
        retry_after = exc.retry_after or (int(found.group(1)) if found else DEFAULT_RETRY_AFTER)
        return again(exc.description or LOCKED, 429, {"Retry-After": str(retry_after)})
    except OAuthError as exc:
        if exc.status_code >= 500:
            # Overloaded carries how soon to retry; nothing was counted against the user.
            retry = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
            return again(UNAVAILABLE, exc.status_code, retry)
        # access_denied, or anything else the service refused: one message.
        return again(INVALID_CREDENTIALS, 401)

    if outcome is not None and not outcome.HasField("signed_in"):
        # The interaction expired or finished before the password was looked at.
        response = follow(request, session, outcome.next, interaction_id)
        await store.save(session, response)
        return response
    session.sign_in(
        user_id=signed_in.user.user_id,
        username=signed_in.user.username or username,
        auth_time=signed_in.auth_time.seconds
        if signed_in.HasField("auth_time")
        else int(time.time()),
        amr=list(signed_in.amr) or ["pwd"],
        sid=sid,
    )
    if outcome is not None:
        response = follow(request, session, outcome.next, interaction_id)
    else:
        response = redirect(gateway_url(request, "/login"))
    if loaded is None:
        store.clear_form_token(response)
    await store.save(session, response)
    return response


def _csrf_valid(request: Request, session: Session | None, form: Form) -> bool:
    """The session's token; without a session, the plain form's double-submit
    cookie (an interaction's form always has a session behind it)."""
    presented = form.get("csrf_token")
    if session is not None:
        return session.csrf_valid(presented)
    return not form.get(INTERACTION) and sessions_of(request).form_token_valid(request, presented)
