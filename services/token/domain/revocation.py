"""Token revocation (RFC 7009).

A token that does not verify, has expired or is unknown is answered with
success and nothing happens (section 2.2). A valid token issued to another
client is refused with unauthorized_client (section 2.1) and stays valid.
"""

from __future__ import annotations

from datetime import UTC, datetime

from common.errors import InvalidClient, UnauthorizedClient
from services.token.domain.denylist import RevocationList
from services.token.domain.jwt_access_token import JwtAccessTokenVerifier
from services.token.domain.ports import ClientAuthenticator, ClientCredentials


class Revocation:
    """RFC 7009 section 2: revoke an access token by adding its jti to the denylist."""

    def __init__(
        self,
        authenticator: ClientAuthenticator,
        verifier: JwtAccessTokenVerifier,
        revocations: RevocationList,
    ) -> None:
        self._authenticator = authenticator
        self._verifier = verifier
        self._revocations = revocations

    async def revoke(
        self, token: str, token_type_hint: str, credentials: ClientCredentials
    ) -> None:
        client_id = await self.authenticate_client(credentials)
        # Section 2.1: the hint only speeds up a lookup; there is one kind of token to try.
        del token_type_hint
        claims = await self._verifier.verify(token)
        if claims is None:
            return
        if claims["client_id"] != client_id:
            raise UnauthorizedClient("The token was not issued to this client")
        expires_at = datetime.fromtimestamp(int(claims["exp"]), UTC)
        await self._revocations.revoke(claims["jti"], claims["client_id"], expires_at)

    async def authenticate_client(self, credentials: ClientCredentials) -> str:
        # Public clients may revoke their own tokens too (section 2.1, OAuth 2.1 section 7.1),
        # so any client the registry authenticates is accepted here.
        if not credentials.client_id:
            raise InvalidClient("Client authentication failed")
        client = await self._authenticator.authenticate(credentials)
        return client.client_id
