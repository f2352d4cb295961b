"""Tokens for a person, shared by the authorization_code and refresh_token grants
(docs/signin.md, Tokens for people).

The access token (RFC 9068) carries ``sub`` = the user, ``auth_time`` and the
private claim ``grant_id`` = the family, so revoking the family kills it; an ID
token (OpenID Connect Core section 3.1.3.3) comes along when ``openid`` is in
the scope, with the family's ``sid`` (Back-Channel Logout 1.0 section 2.4).
"""

from __future__ import annotations

from typing import Any

from common.resources import ResourceInfo, scopes_for
from common.scopes import format_scope
from common.vocabulary import GrantType, StandardScope
from services.token.domain.confirmation import NO_CONFIRMATION, Confirmation
from services.token.domain.grants.base import GrantServices, TokenResponse
from services.token.domain.ports import AuthenticatedClient, GrantFamily

OPENID = "openid"
OFFLINE_ACCESS = StandardScope.OFFLINE_ACCESS


def refresh_token_allowed(client: AuthenticatedClient, scope: list[str]) -> bool:
    """The client may refresh, and the user granted offline access or the client's
    registration says always (OpenID Connect Core section 11)."""
    return GrantType.REFRESH_TOKEN in client.grant_types and (
        OFFLINE_ACCESS in scope or client.always_issue_refresh_token
    )


def issue_user_tokens(
    services: GrantServices,
    client: AuthenticatedClient,
    family: GrantFamily,
    scope: list[str],
    *,
    refresh_token: str = "",
    nonce: str = "",
    user_claims: dict[str, Any] | None = None,
    target: ResourceInfo | None = None,
    confirmation: Confirmation = NO_CONFIRMATION,
) -> TokenResponse:
    """``target`` (RFC 8707): the access token is for that resource server, with the
    granted scopes it defines; the ID token is the client's as always. ``confirmation``:
    what the access token is bound to (RFC 9449, RFC 8705)."""
    access_scope = scopes_for(target, scope) if target is not None else scope
    auth_time = int(family.auth_time.timestamp()) if family.auth_time is not None else None
    extra: dict[str, Any] = {"grant_id": family.family_id}
    if auth_time is not None:
        extra["auth_time"] = auth_time
    access = services.access_tokens.issue(
        client_id=client.client_id,
        subject=family.subject,
        scope=access_scope,
        alg=client.access_token_signing_alg,
        extra_claims=extra,
        audience=target.identifier if target is not None else "",
        ttl_seconds=target.access_token_ttl_seconds if target is not None else 0,
        confirmation=confirmation,
    )
    id_token = ""
    if OPENID in scope:
        id_token = services.id_tokens.issue(
            client_id=client.client_id,
            subject=family.subject,
            access_token=access.token,
            auth_time=auth_time,
            amr=family.amr,
            nonce=nonce,
            user_claims=user_claims,
            # The sign-in's session, on refresh too: the client matches logouts to it.
            sid=family.sid,
        )
    return TokenResponse(
        access_token=access.token,
        token_type=access.token_type,
        expires_in=access.expires_in,
        scope=format_scope(access_scope),
        refresh_token=refresh_token,
        id_token=id_token,
    )
