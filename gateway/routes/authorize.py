"""The authorization endpoint (RFC 6749 section 3.1 and 4.1.1, OpenID Connect Core
section 3.1.2.1): the query goes to ``AuthorizeService.StartAuthorization`` with
the browser's session, and the gateway follows the interaction it answers
(docs/signin.md). A failed call (unknown client, redirect URI missing or not
registered) is a page, never a redirect (RFC 6749 section 4.1.2.1).
"""

from __future__ import annotations

from oauth2.v1 import authorize_pb2
from starlette.requests import Request
from starlette.responses import Response

from common.errors import OAuthError
from gateway.authorization import follow, query_parameters, request_failed_page
from gateway.state import downstream_of, sessions_of


async def authorization_endpoint(request: Request) -> Response:
    store = sessions_of(request)
    session = await store.load_or_create(request)
    try:
        interaction = await downstream_of(request).authorize.call.StartAuthorization(
            authorize_pb2.StartAuthorizationRequest(
                parameters=query_parameters(request.scope.get("query_string", b"")),
                session=session.browser(),
            )
        )
    except OAuthError as exc:
        return request_failed_page(request, exc)
    response = follow(request, session, interaction)
    await store.save(session, response)
    return response
