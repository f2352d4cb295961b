"""The refresh token grant (RFC 6749 section 6, OAuth 2.1 section 4.3) with rotation
on every use and reuse detection (OAuth 2.1 section 4.3.1, RFC 9700 section 4.14.2).

Steps, each raising one error: ``refresh_token`` present -> known -> issued to
this client -> not used before (a used one revokes the whole family: either
the client or an attacker holds a stolen copy) -> neither it nor its family
expired or revoked -> the scope no wider than the family's -> the user still
enabled (else the family is revoked) -> rotate atomically -> issue.
"""

from __future__ import annotations

from typing import ClassVar

from common.errors import InvalidDpopProof, InvalidGrant, InvalidRequest, InvalidScope
from common.scopes import parse_scope
from common.vocabulary import CONFIDENTIAL_AUTH_METHODS, AuditOutcome, ClientAuthMethod, GrantType
from services.token.domain.grants.base import (
    GrantServices,
    TokenRequest,
    TokenResponse,
    resolve_target,
)
from services.token.domain.grants.user_tokens import issue_user_tokens
from services.token.domain.ports import AuthenticatedClient, GrantFamily, StoredRefreshToken

# docs/operators.md, Audit events.
REUSE_DETECTED = "refresh_token.reuse_detected"


class RefreshTokenGrant:
    """RFC 6749 section 6: a new access token (and a new refresh token) for a refresh token."""

    GRANT_TYPE: ClassVar[str] = GrantType.REFRESH_TOKEN
    # Section 6.
    PARAMETERS: ClassVar[frozenset[str]] = frozenset({"refresh_token", "scope", "resource"})
    # OAuth 2.1 section 4.3.1: public clients too, protected by rotation.
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[tuple[str, ...]] = (
        *CONFIDENTIAL_AUTH_METHODS,
        ClientAuthMethod.NONE,
    )

    def __init__(self, services: GrantServices) -> None:
        self._services = services

    async def create_token_response(
        self, client: AuthenticatedClient, request: TokenRequest
    ) -> TokenResponse:
        if not request.refresh_token:
            raise InvalidRequest("Missing 'refresh_token'")
        stored, family = await self.find(client, request.refresh_token)
        await self.check_usable(stored, family)
        self.check_dpop_binding(family, request.confirmation.jkt)
        scope = self.validate_scope(stored, request.scope)
        # RFC 8707 section 2.2: the grant's resource, or one the request narrows to.
        target = await resolve_target(self._services, client, request.resource, family.resource)
        user_claims, enabled = await self._services.users.claims(family.subject, scope)
        if not enabled:
            await self._services.families.revoke(family.family_id, "user disabled")
            raise InvalidGrant("The user account is disabled")
        refresh_token = await self._services.families.rotate(stored, family)
        if refresh_token is None:
            # A concurrent request rotated it between our read and our write: reuse.
            await self.revoke_reused(family)
            raise InvalidGrant("The refresh token was already used")
        # No nonce on refresh (OpenID Connect Core section 12.2).
        return issue_user_tokens(
            self._services,
            client,
            family,
            scope,
            refresh_token=refresh_token,
            user_claims=user_claims,
            target=target,
            confirmation=request.confirmation,
        )

    @staticmethod
    def check_dpop_binding(family: GrantFamily, dpop_jkt: str) -> None:
        """RFC 9449 section 5: a public client's refresh token bound to a DPoP key is
        used only with a proof made with that key. Refused before rotation, so the
        refresh token stays usable by its holder."""
        if not family.dpop_jkt:
            return
        if not dpop_jkt:
            raise InvalidDpopProof(
                "The refresh token is bound to a DPoP key: send a DPoP proof made with it"
            )
        if dpop_jkt != family.dpop_jkt:
            raise InvalidDpopProof(
                "The DPoP proof's key is not the one the refresh token is bound to"
            )

    async def find(
        self, client: AuthenticatedClient, refresh_token: str
    ) -> tuple[StoredRefreshToken, GrantFamily]:
        found = await self._services.families.find_refresh_token(refresh_token)
        if found is None:
            raise InvalidGrant("Invalid refresh token")
        stored, family = found
        # Section 6: "ensure that the refresh token was issued to the authenticated client".
        if stored.client_id != client.client_id:
            raise InvalidGrant("The refresh token was not issued to this client")
        return stored, family

    async def check_usable(self, stored: StoredRefreshToken, family: GrantFamily) -> None:
        families = self._services.families
        if stored.used_at is not None:
            await self.revoke_reused(family)
            raise InvalidGrant("The refresh token was already used")
        if await families.is_revoked(family):
            raise InvalidGrant("The refresh token was revoked")
        if families.expired(stored, family):
            raise InvalidGrant("The refresh token has expired")

    async def revoke_reused(self, family: GrantFamily) -> None:
        """Either the client or an attacker holds a stolen copy: the family dies and the
        operators hear of it."""
        await self._services.families.revoke_reused(family.family_id)
        self._services.audit.report(
            REUSE_DETECTED,
            target=f"grant:{family.family_id}",
            outcome=AuditOutcome.DENIED,
            details={"client_id": family.client_id},
        )

    @staticmethod
    def validate_scope(stored: StoredRefreshToken, requested: str) -> list[str]:
        """Section 6: no scope beyond the original grant; empty means all of it."""
        scope = parse_scope(requested)
        if not scope:
            return list(stored.scope)
        for token in scope:
            if token not in stored.scope:
                raise InvalidScope(f"Scope '{token}' was not granted to this refresh token")
        return scope
