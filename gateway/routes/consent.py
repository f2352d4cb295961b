"""The consent page (docs/signin.md): the client's name and the scopes in the
words the authorize service gave, Allow (``decision=approve``) or Deny
(``decision=deny``), sent with ``AuthorizeService.CompleteConsent``; the gateway
follows what it answers (the code or ``access_denied`` at the redirect URI,
RFC 6749 section 4.1.2). Both 303; a missing or wrong CSRF token is a 403 page
and nothing happens.
"""

from __future__ import annotations

from oauth2.v1 import authorize_pb2
from starlette.requests import Request
from starlette.responses import Response

from common.errors import OAuthError
from gateway.authorization import (
    INTERACTION,
    expired_page,
    follow,
    page_location,
    request_failed_page,
)
from gateway.pages import csrf_failed_page, error_page, redirect, render
from gateway.routes.login import form_of
from gateway.state import downstream_of, sessions_of

DECISIONS = {
    "approve": authorize_pb2.CompleteConsentRequest.APPROVE,
    "deny": authorize_pb2.CompleteConsentRequest.DENY,
}


async def show_consent(request: Request) -> Response:
    store = sessions_of(request)
    session = await store.load(request)
    interaction_id = request.query_params.get(INTERACTION, "")
    view = session.view(interaction_id) if session is not None else None
    if session is None or view is None:
        return expired_page(request)
    if not isinstance(view.page, authorize_pb2.ConsentPage):
        # The interaction waits for a sign-in first.
        return redirect(page_location(request, view.kind, interaction_id))
    page = view.page
    response = render(
        request,
        "consent.html",
        {
            "client_name": page.client.client_name or page.client.client_id,
            "client_uri": page.client.client_uri,
            "scopes": [scope.description for scope in page.scopes],
            "device": page.device,
            "username": session.username,
            "csrf_token": session.csrf_token,
            "interaction": interaction_id,
        },
        form_targets=[page.redirect_uri],
    )
    await store.save(session, response)
    return response


async def submit_consent(request: Request) -> Response:
    store = sessions_of(request)
    session = await store.load(request)
    form = await form_of(request)
    if form is None or session is None or not session.csrf_valid(form.get("csrf_token")):
        return csrf_failed_page(request)
    decision = DECISIONS.get(form.get("decision"))
    if decision is None:
        return error_page(request, "Choose Allow or Deny.")
    interaction_id = form.get(INTERACTION)
    try:
        interaction = await downstream_of(request).authorize.call.CompleteConsent(
            authorize_pb2.CompleteConsentRequest(
                interaction_id=interaction_id,
                session=session.browser(),
                decision=decision,
            )
        )
    except OAuthError as exc:
        return request_failed_page(request, exc)
    response = follow(request, session, interaction, interaction_id)
    await store.save(session, response)
    return response
