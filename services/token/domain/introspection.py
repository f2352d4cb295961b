"""Token introspection (RFC 7662).

Only authenticated confidential clients may ask (section 2.1 requires
authorisation; section 4 warns against token scanning). Whatever is wrong with
the token itself, the answer is ``{"active": false}`` and nothing else
(section 2.2): no error tells a caller why.
"""

from __future__ import annotations

from dataclasses import dataclass

from common.errors import InvalidClient
from services.token.domain.denylist import RevocationList
from services.token.domain.jwt_access_token import JwtAccessTokenVerifier
from services.token.domain.ports import ClientAuthenticator, ClientCredentials


@dataclass(frozen=True)
class IntrospectionResult:
    """RFC 7662 section 2.2; every field but ``active`` is empty when inactive."""

    active: bool
    scope: str = ""
    client_id: str = ""
    token_type: str = ""
    exp: int = 0
    iat: int = 0
    sub: str = ""
    aud: tuple[str, ...] = ()
    iss: str = ""
    jti: str = ""


INACTIVE = IntrospectionResult(active=False)


async def authenticate_confidential_caller(
    authenticator: ClientAuthenticator, credentials: ClientCredentials
) -> str:
    """The client_id of an authenticated confidential client, else invalid_client."""
    if not credentials.client_id:
        raise InvalidClient("Client authentication failed")
    client = await authenticator.authenticate(credentials)
    if not client.is_confidential:
        raise InvalidClient("Introspection requires a confidential client")
    return client.client_id


class Introspection:
    """RFC 7662 section 2: is this access token active, and what does it carry?"""

    def __init__(
        self,
        authenticator: ClientAuthenticator,
        verifier: JwtAccessTokenVerifier,
        revocations: RevocationList,
    ) -> None:
        self._authenticator = authenticator
        self._verifier = verifier
        self._revocations = revocations

    async def introspect(
        self, token: str, token_type_hint: str, credentials: ClientCredentials
    ) -> IntrospectionResult:
        await authenticate_confidential_caller(self._authenticator, credentials)
        # token_type_hint is only a hint (section 2.1): every token is looked up as an
        # access token, the only kind this release issues.
        del token_type_hint
        claims = await self._verifier.verify(token)
        if claims is None or await self._revocations.is_revoked(claims["jti"]):
            return INACTIVE
        aud = claims.get("aud", ())
        return IntrospectionResult(
            active=True,
            scope=str(claims.get("scope", "")),
            client_id=claims["client_id"],
            token_type="Bearer",  # noqa: S106 - a token type, not a secret
            exp=int(claims["exp"]),
            iat=int(claims["iat"]),
            sub=str(claims.get("sub", "")),
            aud=(aud,) if isinstance(aud, str) else tuple(str(a) for a in aud),
            iss=str(claims["iss"]),
            jti=claims["jti"],
        )
