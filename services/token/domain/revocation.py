"""Token revocation (RFC 7009).

A token that does not verify, has expired or is unknown is answered with
success and nothing happens (section 2.2). A valid token issued to another
client is refused with unauthorized_client (section 2.1) and stays valid.

An access token is revoked by its jti. A refresh token revokes its whole grant
family, access tokens included (section 2.1: the server "SHOULD also
invalidate all access tokens based on the same authorization grant").
"""

from __future__ import annotations

from datetime import UTC, datetime

from common.errors import InvalidClient, UnauthorizedClient
from services.token.domain.denylist import RevocationList
from services.token.domain.grant_families import GrantFamilies
from services.token.domain.introspection import looks_like_jwt
from services.token.domain.jwt_access_token import JwtAccessTokenVerifier
from services.token.domain.ports import ClientAuthenticator, ClientCredentials

NOT_THIS_CLIENTS = "The token was not issued to this client"


class Revocation:
    """RFC 7009 section 2: revoke an access token (denylist) or a refresh token (family)."""

    def __init__(
        self,
        authenticator: ClientAuthenticator,
        verifier: JwtAccessTokenVerifier,
        revocations: RevocationList,
        families: GrantFamilies,
    ) -> None:
        self._authenticator = authenticator
        self._verifier = verifier
        self._revocations = revocations
        self._families = families

    async def revoke(
        self, token: str, token_type_hint: str, credentials: ClientCredentials
    ) -> None:
        client_id = await self.authenticate_client(credentials)
        # Section 2.1: the hint only speeds up a lookup; the token's shape says its kind.
        del token_type_hint
        if looks_like_jwt(token):
            await self.revoke_access_token(token, client_id)
        elif token:
            await self.revoke_refresh_token(token, client_id)

    async def revoke_access_token(self, token: str, client_id: str) -> None:
        claims = await self._verifier.verify(token)
        if claims is None:
            return
        if claims["client_id"] != client_id:
            raise UnauthorizedClient(NOT_THIS_CLIENTS)
        expires_at = datetime.fromtimestamp(int(claims["exp"]), UTC)
        await self._revocations.revoke(claims["jti"], claims["client_id"], expires_at)

    async def revoke_refresh_token(self, token: str, client_id: str) -> None:
        found = await self._families.find_refresh_token(token)
        if found is None:
            return
        stored, family = found
        if stored.client_id != client_id:
            raise UnauthorizedClient(NOT_THIS_CLIENTS)
        if family.revoked_at is None:
            await self._families.revoke(family.family_id, "revoked by the client")

    async def authenticate_client(self, credentials: ClientCredentials) -> str:
        # Public clients may revoke their own tokens too (section 2.1, OAuth 2.1 section 7.1),
        # so any client the registry authenticates is accepted here.
        if not credentials.client_id:
            raise InvalidClient("Client authentication failed")
        client = await self._authenticator.authenticate(credentials)
        return client.client_id
