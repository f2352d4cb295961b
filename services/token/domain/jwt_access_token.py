"""JWT access tokens (RFC 9068): issuing and verifying them.

Self-contained: issuing writes no row (DESIGN.md, Tokens); revocation is a
denylist of ``jti`` values checked after verification.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import jwt

from common.errors import UnauthorizedClient
from common.scopes import format_scope
from common.secrets import random_token
from services.token.domain.confirmation import BEARER, NO_CONFIRMATION, Confirmation
from services.token.domain.jwk import SUPPORTED_ALGS
from services.token.domain.keys import KeyManager

# RFC 9068 section 2.1; "application/at+jwt" is the long form of the same media type.
TOKEN_TYPE_HEADERS = ("at+jwt", "application/at+jwt")
REQUIRED_CLAIMS = ["iss", "exp", "iat", "jti", "client_id"]

JTI_BYTES = 16
#: Tokens whose signature and claims :class:`JwtAccessTokenVerifier` has checked and
#: keeps, most recently used first out: a resource server introspects the same token
#: on every call it is shown, until it expires (about 1 KiB each).
VERIFIED_TOKENS_KEPT: Final = 4096


@dataclass(frozen=True)
class AccessTokenPolicy:
    """Server-wide settings of access tokens."""

    issuer: str
    ttl_seconds: int
    default_alg: str
    # Empty means the issuer is the audience.
    audience: tuple[str, ...] = ()

    @property
    def aud_claim(self) -> str | list[str]:
        audience = list(self.audience) or [self.issuer]
        # RFC 7519 section 4.1.3: a single audience may be a plain string.
        return audience[0] if len(audience) == 1 else audience


@dataclass(frozen=True)
class IssuedAccessToken:
    token: str
    jti: str
    expires_in: int
    exp: int
    iat: int
    # RFC 6749 section 5.1: "Bearer", or "DPoP" for a token bound to a DPoP key.
    token_type: str = BEARER


class JwtAccessTokenIssuer:
    """Signs RFC 9068 section 2 access tokens with the active key of the chosen alg."""

    def __init__(
        self,
        keys: KeyManager,
        policy: AccessTokenPolicy,
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
        scope: list[str],
        alg: str = "",
        extra_claims: Mapping[str, Any] | None = None,
        audience: str | list[str] = "",
        ttl_seconds: int = 0,
        not_after: int = 0,
        confirmation: Confirmation = NO_CONFIRMATION,
    ) -> IssuedAccessToken:
        """``extra_claims`` (``auth_time``, ``grant_id``, ``act``) never replace a claim set
        here. ``audience`` (a resource, RFC 8707) replaces the default ``aud``;
        ``ttl_seconds`` (the resource's) the default lifetime; ``not_after`` (epoch
        seconds, a token exchange's subject token's ``exp``) caps ``exp``; ``confirmation``
        binds the token to a DPoP key or a TLS certificate (its ``cnf``)."""
        alg = alg or self._policy.default_alg
        if alg not in SUPPORTED_ALGS:
            raise UnauthorizedClient(
                f"access_token_signing_alg {alg!r} is not supported by this server"
            )
        key = self._keys.signing_key(alg)
        iat = int(self._clock())
        ttl = ttl_seconds or self._policy.ttl_seconds
        if not_after:
            ttl = max(1, min(ttl, not_after - iat))
        exp = iat + ttl
        jti = random_token(JTI_BYTES)
        claims: dict[str, Any] = {
            **(extra_claims or {}),
            "iss": self._policy.issuer,
            "sub": subject,
            "aud": audience or self._policy.aud_claim,
            "client_id": client_id,
            "exp": exp,
            "iat": iat,
            "jti": jti,
        }
        if scope:
            claims["scope"] = format_scope(scope)
        cnf = confirmation.claim()
        if cnf:
            claims["cnf"] = cnf
        token = jwt.encode(
            claims, key.private_key, algorithm=alg, headers={"kid": key.kid, "typ": "at+jwt"}
        )
        return IssuedAccessToken(
            token=token,
            jti=jti,
            expires_in=ttl,
            exp=exp,
            iat=iat,
            token_type=confirmation.token_type,
        )


class JwtAccessTokenVerifier:
    """RFC 9068 section 4 validation, minus the denylist: None for anything not valid.

    A token that passed is kept (:data:`VERIFIED_TOKENS_KEPT`, keyed by the whole
    token, so only a token that verified can be found): shown again, only what can
    change since is checked again, its expiry and not-before against the clock and
    its key still being the published one it was verified with; the signature, the
    header and the issuer are what they were. The denylist is the caller's, on every
    use (services/token/domain/denylist.py)."""

    def __init__(self, keys: KeyManager, issuer: str) -> None:
        self._keys = keys
        self._issuer = issuer
        self._verified: OrderedDict[str, tuple[str, object, dict[str, Any]]] = OrderedDict()

    async def verify(self, token: str) -> dict[str, Any] | None:
        kept = self._verified.get(token)
        if kept is not None:
            kept_kid, verified_with, kept_claims = kept
            key_now = await self._keys.verification_key(kept_kid)
            if key_now is verified_with and _within_lifetime(kept_claims, time.time()):
                self._verified.move_to_end(token)
                return dict(kept_claims)
            # Expired, or its key reloaded or withdrawn: judged afresh below.
            del self._verified[token]
        try:
            header = jwt.get_unverified_header(token)
        except (jwt.PyJWTError, ValueError, TypeError):
            return None
        kid, alg, typ = header.get("kid"), header.get("alg"), header.get("typ")
        if not isinstance(kid, str) or not isinstance(typ, str):
            return None
        if typ.lower() not in TOKEN_TYPE_HEADERS:
            return None
        key = await self._keys.verification_key(kid)
        # The key decides the alg, never the token (RFC 8725 section 3.1).
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
                    "require": REQUIRED_CLAIMS,
                    # The signature proves we issued it; a replica whose clock runs a
                    # little behind must not call a fresh token "not yet valid".
                    "verify_iat": False,
                    # The audience is for the resource server to judge (RFC 7662 2.2).
                    "verify_aud": False,
                },
            )
        except (jwt.PyJWTError, ValueError, TypeError):
            return None
        if not isinstance(claims.get("jti"), str) or not isinstance(claims.get("client_id"), str):
            return None
        self._verified[token] = (kid, key, dict(claims))
        if len(self._verified) > VERIFIED_TOKENS_KEPT:
            self._verified.popitem(last=False)
        return claims


def _within_lifetime(claims: Mapping[str, Any], now: float) -> bool:
    """PyJWT's exp and nbf checks with no leeway, as :meth:`JwtAccessTokenVerifier.verify`
    asks for them: expired at ``exp``, valid from ``nbf``."""
    nbf = claims.get("nbf")
    return float(claims["exp"]) > now and (nbf is None or float(nbf) <= now)
