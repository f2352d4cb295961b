"""The authorization code grant: the token request (RFC 6749 section 4.1.3) with PKCE
(RFC 7636 section 4.6) as OAuth 2.1 section 4.1.3 requires it.

Steps, each raising one error: ``code`` present -> consume it through the
authorize service (any failure revokes the family the code would have named:
a replayed code kills what its first use issued; but a code this client's
earlier exchange consumed and then answered 503 for is taken back from
``unfinished_exchanges``) -> issued to this client ->
``redirect_uri`` as in the authorization request -> PKCE -> the user still
enabled -> record the family -> issue the access token, a refresh token when
allowed and an ID token when ``openid`` was granted.
"""

from __future__ import annotations

from typing import Any, ClassVar

from common import pkce
from common.errors import InvalidDpopProof, InvalidGrant, InvalidRequest, TemporarilyUnavailable
from common.resources import ResourceInfo
from common.secrets import sha256_hex
from common.vocabulary import (
    CONFIDENTIAL_AUTH_METHODS,
    AuditOutcome,
    ClientAuthMethod,
    GrantType,
)
from services.token.domain.confirmation import NO_CONFIRMATION, Confirmation
from services.token.domain.grants.base import (
    GrantServices,
    TokenRequest,
    TokenResponse,
    resolve_target,
)
from services.token.domain.grants.user_tokens import (
    issue_user_tokens,
    refresh_token_allowed,
)
from services.token.domain.ports import AuthenticatedClient, ConsumedCode

REPLAY_REASON = "authorization code replayed"
# docs/operators.md, Audit events.
CODE_REPLAYED = "authorization_code.replayed"


class AuthorizationCodeGrant:
    """RFC 6749 section 4.1.3 + RFC 7636 section 4.6: a code for tokens of a person."""

    GRANT_TYPE: ClassVar[str] = GrantType.AUTHORIZATION_CODE
    # Section 4.1.3, RFC 7636 section 4.5; the scope is the one the code was issued for.
    PARAMETERS: ClassVar[frozenset[str]] = frozenset(
        {"code", "redirect_uri", "code_verifier", "resource"}
    )
    # Public clients (native apps, SPAs) use this grant with PKCE (OAuth 2.1 section 2.1).
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[tuple[str, ...]] = (
        *CONFIDENTIAL_AUTH_METHODS,
        ClientAuthMethod.NONE,
    )

    def __init__(self, services: GrantServices) -> None:
        self._services = services

    async def create_token_response(
        self, client: AuthenticatedClient, request: TokenRequest
    ) -> TokenResponse:
        if not request.code:
            raise InvalidRequest("Missing 'code'")
        grant = await self.consume_code(client, request.code)
        try:
            return await self.exchange(client, grant, request)
        except TemporarilyUnavailable:
            # The code is used at the authorize service but no grant may have been
            # recorded here: the retry this 503 invites may finish the exchange.
            if self._services.unfinished is not None:
                await self._services.unfinished.keep(grant)
            raise

    async def exchange(
        self, client: AuthenticatedClient, grant: ConsumedCode, request: TokenRequest
    ) -> TokenResponse:
        self.check_client(client, grant)
        self.check_redirect_uri(grant, request.redirect_uri)
        pkce.verify(grant.code_challenge, grant.code_challenge_method, request.code_verifier)
        self.check_dpop_binding(grant, request.confirmation.jkt)
        scope = list(grant.scopes)
        user_claims, enabled = await self._services.users.claims(grant.user_id, scope)
        if not enabled:
            raise InvalidGrant("The user account is disabled")
        target = await resolve_target(self._services, client, request.resource, grant.resource)
        return await self.issue(
            client, grant, scope, user_claims, target=target, confirmation=request.confirmation
        )

    async def consume_code(self, client: AuthenticatedClient, code: str) -> ConsumedCode:
        try:
            return await self._services.codes.consume(code, client.client_id)
        except InvalidGrant:
            unfinished = self._services.unfinished
            resumed = (
                await unfinished.take(sha256_hex(code), client.client_id) if unfinished else None
            )
            if resumed is not None:
                # Used by this client's exchange that answered 503 (unfinished_exchanges).
                return resumed
            # Unknown, expired, used or another client's: if it was used, what its first
            # use issued dies now (RFC 6749 section 4.1.2, RFC 9700 section 4.5).
            await self.revoke_replayed(sha256_hex(code))
            raise

    async def revoke_replayed(self, family_id: str) -> None:
        # Only a family this call revoked proves a replay (an unknown or expired code
        # names none), so each replay is reported once.
        if await self._services.families.revoke(family_id, REPLAY_REASON):
            self._services.audit.report(
                CODE_REPLAYED, target=f"grant:{family_id}", outcome=AuditOutcome.DENIED
            )

    @staticmethod
    def check_client(client: AuthenticatedClient, grant: ConsumedCode) -> None:
        # A deliberate second check: the authorize service made it when consuming
        # the code, but the tokens issued here are this service's to protect.
        if grant.client_id != client.client_id:
            raise InvalidGrant("The authorization code was not issued to this client")

    @staticmethod
    def check_dpop_binding(grant: ConsumedCode, dpop_jkt: str) -> None:
        """RFC 9449 section 10: a code bound to a DPoP key (``dpop_jkt``) is exchanged
        only with a proof made with that key."""
        if not grant.dpop_jkt:
            return
        if not dpop_jkt:
            raise InvalidDpopProof(
                "The authorization code is bound to a DPoP key: send a DPoP proof made with it"
            )
        if dpop_jkt != grant.dpop_jkt:
            raise InvalidDpopProof("The DPoP proof's key is not the one the code is bound to")

    @staticmethod
    def check_redirect_uri(grant: ConsumedCode, redirect_uri: str) -> None:
        """Section 4.1.3: the same redirect_uri when the request carried one; OAuth 2.1
        section 4.1.3 compares exactly. One sent without being required must match too."""
        if grant.redirect_uri_in_request and not redirect_uri:
            raise InvalidGrant("Missing 'redirect_uri': the authorization request had one")
        if redirect_uri and redirect_uri != grant.redirect_uri:
            raise InvalidGrant("'redirect_uri' does not match the authorization request")

    async def issue(
        self,
        client: AuthenticatedClient,
        grant: ConsumedCode,
        scope: list[str],
        user_claims: dict[str, Any],
        *,
        target: ResourceInfo | None = None,
        confirmation: Confirmation = NO_CONFIRMATION,
    ) -> TokenResponse:
        """``confirmation``: what the access tokens are bound to; the refresh tokens of
        a public client are bound to its DPoP key (RFC 9449 section 5; a confidential client's
        are bound to its authentication already)."""
        families = self._services.families
        with_refresh_token = refresh_token_allowed(client, scope)
        family, refresh_token = await families.start(
            grant,
            scope,
            with_refresh_token=with_refresh_token,
            resource=target.identifier if target is not None else "",
            dpop_jkt="" if client.is_confidential else confirmation.jkt,
        )
        # A replay of this code may have revoked the family between the consume call and
        # now, before its row existed: the denylist remembers it.
        if await families.is_revoked_id(family.family_id):
            # The replay found no row to mark; this is the first moment one exists.
            await self.revoke_replayed(family.family_id)
            raise InvalidGrant("The authorization code was used already")
        return issue_user_tokens(
            self._services,
            client,
            family,
            scope,
            refresh_token=refresh_token,
            nonce=grant.nonce,
            user_claims=user_claims,
            target=target,
            confirmation=confirmation,
        )
