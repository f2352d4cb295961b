"""The end-session endpoint (OpenID Connect RP-Initiated Logout 1.0, docs/signin.md).

Parameters: ``id_token_hint`` (checked by ``TokenService.DecodeIdTokenHint``;
an expired token is still a hint), ``client_id``, ``post_logout_redirect_uri``
(exact match against the client's registered ones through
``ClientsService.ValidateRedirectUri(kind="post_logout")``; anything wrong is a
page, never a redirect) and ``state``.

- ``GET /logout``: signed in -> a confirmation page whose form carries the CSRF
  token; not signed in -> straight to the validated URI, or "You are signed out".
- ``POST /logout`` with the confirmation form: CSRF checked (403, nothing
  happens), the session deleted server-side and its cookie expired, then 303 to
  the validated URI (+ ``state``) or to ``GET /logout`` ("You are signed out").
  Then ``TokenService.EndSession`` with the sign-in's ``sid``: the session's grants
  without offline access are revoked and its clients sent logout tokens in the
  background (OpenID Connect Back-Channel Logout 1.0); the person does not wait for
  them, and a token service that does not answer does not keep them signed in.
  A client may also POST its logout request (section 2 allows it); such a POST,
  recognisable by the absence of ``csrf_token``, is answered with 303 to the
  same request as a GET, because SameSite=Lax keeps the session cookie off a
  cross-site POST.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from oauth2.v1 import clients_pb2, token_pb2
from starlette.requests import Request
from starlette.responses import Response

from common.errors import OAuthError
from common.urls import with_query
from gateway.pages import UNAVAILABLE, csrf_failed_page, error_page, gateway_url, redirect, render
from gateway.routes.login import form_of
from gateway.state import downstream_of, sessions_of

log = logging.getLogger(__name__)

LOGOUT_PARAMETERS = ("id_token_hint", "client_id", "post_logout_redirect_uri", "state")
NOT_REGISTERED = "The post_logout_redirect_uri is not registered for this client."


@dataclass(frozen=True)
class LogoutRequest:
    client_id: str = ""
    client_name: str = ""
    post_logout_redirect_uri: str = ""
    state: str = ""


class LogoutRefused(Exception):
    """The logout request cannot be honoured as asked; the message is shown."""

    def __init__(self, message: str, status_code: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


async def validate_logout_request(request: Request, params: Mapping[str, str]) -> LogoutRequest:
    downstream = downstream_of(request)
    client_id = params.get("client_id", "")
    hint = params.get("id_token_hint", "")
    if hint:
        try:
            decoded = await downstream.token.call.DecodeIdTokenHint(
                token_pb2.DecodeIdTokenHintRequest(id_token_hint=hint)
            )
        except OAuthError as exc:
            if exc.status_code >= 500:
                raise LogoutRefused(UNAVAILABLE, exc.status_code) from None
            raise LogoutRefused("The id_token_hint is not valid.") from None
        if client_id and decoded.client_id != client_id:
            raise LogoutRefused("The client_id does not match the id_token_hint.")
        client_id = client_id or decoded.client_id
    uri = params.get("post_logout_redirect_uri", "")
    if not uri:
        return LogoutRequest(client_id=client_id)
    if not client_id:
        raise LogoutRefused("A post_logout_redirect_uri needs a client_id or an id_token_hint.")
    try:
        answer = await downstream.clients.call.ValidateRedirectUri(
            clients_pb2.ValidateRedirectUriRequest(
                client_id=client_id, redirect_uri=uri, kind="post_logout"
            )
        )
    except OAuthError as exc:
        if exc.status_code >= 500:
            raise LogoutRefused(UNAVAILABLE, exc.status_code) from None
        raise LogoutRefused(NOT_REGISTERED) from None
    if not answer.valid:
        raise LogoutRefused(NOT_REGISTERED)
    return LogoutRequest(
        client_id=client_id,
        client_name=answer.client.client_name,
        post_logout_redirect_uri=uri,
        state=params.get("state", ""),
    )


def after_logout(request: Request, logout: LogoutRequest) -> Response:
    if logout.post_logout_redirect_uri:
        location = with_query(logout.post_logout_redirect_uri, {"state": logout.state})
        return redirect(location)
    return redirect(gateway_url(request, "/logout"))


async def show_logout(request: Request) -> Response:
    store = sessions_of(request)
    session = await store.load(request)
    try:
        logout = await validate_logout_request(request, request.query_params)
    except LogoutRefused as exc:
        return error_page(request, exc.message, status_code=exc.status_code)
    if session is None or not session.signed_in:
        if logout.post_logout_redirect_uri:
            return after_logout(request, logout)
        return render(request, "signed_out.html")
    response = render(
        request,
        "logout.html",
        {
            "csrf_token": session.csrf_token,
            "username": session.username,
            "client_id": logout.client_id,
            "client_name": logout.client_name,
            "post_logout_redirect_uri": logout.post_logout_redirect_uri,
            "state": logout.state,
        },
        form_targets=[logout.post_logout_redirect_uri],
    )
    await store.save(session, response)
    return response


async def submit_logout(request: Request) -> Response:
    store = sessions_of(request)
    session = await store.load(request)
    form = await form_of(request)
    if form is None:
        return csrf_failed_page(request)
    presented = form.get("csrf_token")
    if not presented and any(form.get(name) for name in LOGOUT_PARAMETERS):
        # A client's own POSTed logout request: ask again as a GET, with the cookie.
        query = urlencode({name: form.get(name) for name in LOGOUT_PARAMETERS if form.get(name)})
        return redirect(gateway_url(request, f"/logout?{query}"))
    if session is None or not session.csrf_valid(presented):
        return csrf_failed_page(request)
    try:
        logout = await validate_logout_request(
            request, {name: form.get(name) for name in LOGOUT_PARAMETERS}
        )
    except LogoutRefused as exc:
        return error_page(request, exc.message, status_code=exc.status_code)
    response = after_logout(request, logout)
    await store.end(session, response)
    await end_session(request, session.sid, session.user_id)
    return response


async def end_session(request: Request, sid: str, subject: str) -> None:
    """Back-channel logout of the session that just ended (docs/signin.md)."""
    if not sid:
        return
    try:
        await downstream_of(request).token.call.EndSession(
            token_pb2.EndSessionRequest(sid=sid, subject=subject)
        )
    except OAuthError as exc:
        log.warning("ending session at the token service failed: %s", exc.error)
