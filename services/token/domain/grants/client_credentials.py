"""The client credentials grant (RFC 6749 section 4.4).

A confidential client gets an access token for itself: ``sub`` is its
client_id and no refresh token is issued (section 4.4.3). With a ``resource``
(RFC 8707) the token's ``aud`` is that resource server and its scopes only the
resource's.
"""

from __future__ import annotations

from typing import ClassVar

from common.errors import InvalidScope
from common.resources import scopes_for
from common.scopes import format_scope, parse_scope
from common.vocabulary import CONFIDENTIAL_AUTH_METHODS, GrantType
from services.token.domain.grants.base import (
    GrantServices,
    TokenRequest,
    TokenResponse,
    resolve_target,
)
from services.token.domain.ports import AuthenticatedClient


class ClientCredentialsGrant:
    """RFC 6749 section 4.4: access tokens for confidential clients acting for themselves."""

    GRANT_TYPE: ClassVar[str] = GrantType.CLIENT_CREDENTIALS
    # Section 4.4.2.
    PARAMETERS: ClassVar[frozenset[str]] = frozenset({"scope", "resource"})
    # Section 4.4: "The client credentials grant type MUST only be used by confidential
    # clients." The token endpoint checks this before calling the grant.
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[tuple[str, ...]] = CONFIDENTIAL_AUTH_METHODS

    def __init__(self, services: GrantServices) -> None:
        self._services = services
        self._access_tokens = services.access_tokens

    async def create_token_response(
        self, client: AuthenticatedClient, request: TokenRequest
    ) -> TokenResponse:
        scope = self.validate_scope(client, request.scope)
        audience, ttl = "", 0
        if request.resource:
            target = await resolve_target(self._services, client, request.resource)
            if target is not None:
                scope = scopes_for(target, scope)
                audience, ttl = target.identifier, target.access_token_ttl_seconds
        issued = self._access_tokens.issue(
            client_id=client.client_id,
            subject=client.client_id,
            scope=scope,
            alg=client.access_token_signing_alg,
            audience=audience,
            ttl_seconds=ttl,
            confirmation=request.confirmation,
        )
        # Section 4.4.3: a refresh token SHOULD NOT be included.
        return TokenResponse(
            access_token=issued.token,
            token_type=issued.token_type,
            expires_in=issued.expires_in,
            scope=format_scope(scope),
        )

    def validate_scope(self, client: AuthenticatedClient, requested: str) -> list[str]:
        """Section 3.3: the requested scope, or the client's whole registered scope."""
        scope = parse_scope(requested)
        if not scope:
            return list(client.scope)
        for token in scope:
            if token not in client.scope:
                raise InvalidScope(f"Scope '{token}' is not allowed for this client")
        return scope
