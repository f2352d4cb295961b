"""OpenID Connect ID tokens (Core sections 2 and 3.1.3.6) and the ``id_token_hint`` of
the end-session endpoint (RP-Initiated Logout 1.0 section 2).

An ID token is a JWS signed with the ``id_token_signing_alg`` key (RS256 by
default, which Core section 15.1 makes mandatory to support), header
``typ: JWT`` and the key's ``kid``, so that clients verify it against the JWKS.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from common.errors import InvalidRequest
from common.vocabulary import SigningAlg
from services.token.domain.keys import KeyManager

# Core section 3.1.3.6: the hash of the alg of the ID token's JOSE header.
AT_HASH_DIGESTS: dict[str, Callable[[bytes], Any]] = {
    SigningAlg.RS256: hashlib.sha256,
    SigningAlg.ES256: hashlib.sha256,
}

# Claims the protocol sets; the user's profile claims never replace them.
PROTOCOL_CLAIMS = frozenset(
    {"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "auth_time", "nonce", "acr", "amr"}
    | {"azp", "at_hash", "c_hash", "sid"}
)

INVALID_HINT = "Invalid id_token_hint"


def at_hash(access_token: str, alg: str) -> str:
    """Core section 3.1.3.6: base64url of the left half of the hash of the ASCII token."""
    digest = AT_HASH_DIGESTS[alg](access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class IdTokenPolicy:
    """Server-wide settings of ID tokens."""

    issuer: str
    ttl_seconds: int
    alg: str = SigningAlg.RS256


class IdTokenIssuer:
    """Core section 2: signs ID tokens with the active key of the configured alg."""

    def __init__(
        self,
        keys: KeyManager,
        policy: IdTokenPolicy,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys = keys
        self._policy = policy
        self._clock = clock

    def issue(
        self,
        *,
        client_id: str,
        subject: str,
        access_token: str,
        auth_time: int | None,
        amr: tuple[str, ...] = (),
        nonce: str = "",
        user_claims: Mapping[str, Any] | None = None,
        sid: str = "",
    ) -> str:
        """``sid``: the browser session of the sign-in (Back-Channel Logout 1.0 section
        2.4, Front-Channel Logout 1.0 section 3); "" none, as for a device."""
        alg = self._policy.alg
        key = self._keys.signing_key(alg)
        iat = int(self._clock())
        claims: dict[str, Any] = {
            name: value
            for name, value in (user_claims or {}).items()
            if name not in PROTOCOL_CLAIMS
        }
        claims.update(
            iss=self._policy.issuer,
            sub=subject,
            aud=[client_id],
            exp=iat + self._policy.ttl_seconds,
            iat=iat,
            azp=client_id,
            at_hash=at_hash(access_token, alg),
        )
        if auth_time is not None:
            claims["auth_time"] = auth_time
        if amr:
            claims["amr"] = list(amr)
        if nonce:
            # Section 3.1.3.6: only when the authentication request carried one.
            claims["nonce"] = nonce
        if sid:
            claims["sid"] = sid
        return jwt.encode(
            claims, key.private_key, algorithm=alg, headers={"kid": key.kid, "typ": "JWT"}
        )


@dataclass(frozen=True)
class IdTokenHint:
    """Who an ``id_token_hint`` names (RP-Initiated Logout 1.0 section 2)."""

    sub: str
    # azp, or the single aud.
    client_id: str


def issued_to(claims: Mapping[str, Any]) -> str:
    """The client an ID token was issued to: its ``azp``, or its single ``aud``
    (OpenID Connect Core section 2); "" when neither says."""
    azp, aud = claims.get("azp"), claims.get("aud")
    if isinstance(azp, str) and azp:
        return azp
    if isinstance(aud, str):
        return aud
    if isinstance(aud, list) and len(aud) == 1 and isinstance(aud[0], str):
        return aud[0]
    return ""


class IdTokenHintDecoder:
    """Checks an ID token we issued: our signature and ``iss``. An expired one is still a
    valid hint (RP-Initiated Logout 1.0 section 4: the session may outlive it)."""

    def __init__(self, keys: KeyManager, issuer: str) -> None:
        self._keys = keys
        self._issuer = issuer

    async def decode(self, hint: str) -> IdTokenHint:
        claims = await self._claims(hint, verify_exp=False)
        if claims is None:
            raise InvalidRequest(INVALID_HINT)
        sub, client_id = claims.get("sub"), issued_to(claims)
        if not isinstance(sub, str) or not sub or not client_id:
            raise InvalidRequest(INVALID_HINT)
        return IdTokenHint(sub=sub, client_id=client_id)

    async def verify(self, token: str) -> dict[str, Any] | None:
        """The claims of an ID token we issued that has not expired, else None: a
        token exchange's subject or actor token (RFC 8693 section 3)."""
        return await self._claims(token, verify_exp=True)

    async def _claims(self, token: str, *, verify_exp: bool) -> dict[str, Any] | None:
        try:
            header = jwt.get_unverified_header(token)
        except (jwt.PyJWTError, ValueError, TypeError):
            return None
        kid, alg, typ = header.get("kid"), header.get("alg"), header.get("typ", "JWT")
        # Our ID tokens say typ JWT: an access token (at+jwt) or a logout token
        # (logout+jwt) is no ID token, whatever its signature.
        if not isinstance(kid, str) or not isinstance(typ, str) or typ.upper() != "JWT":
            return None
        key = await self._keys.verification_key(kid)
        if key is None or alg != key.alg:
            return None
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.public_key,
                algorithms=[key.alg],
                issuer=self._issuer,
                leeway=0,
                options={
                    "require": ["iss", "sub", "aud", *(["exp"] if verify_exp else [])],
                    "verify_exp": verify_exp,
                    "verify_iat": False,
                    "verify_aud": False,
                },
            )
        except (jwt.PyJWTError, ValueError, TypeError):
            return None
        return claims
