"""Grant families and their refresh tokens (RFC 6749 section 6, OAuth 2.1 section 4.3,
RFC 9700 section 4.14.2).

A family is everything issued from one authorization code; its id is the
code's ``sha256_hex`` (docs/signin.md). Refresh tokens are opaque 256-bit
values stored only as SHA-256 hex, rotated on every use; revoking a family
marks its row and puts its id on the revocation list, which kills its access
tokens at introspection at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from common.secrets import random_token, sha256_hex
from common.timeutil import utcnow
from services.token.domain.denylist import RevocationList
from services.token.domain.ports import (
    ConsumedCode,
    GrantFamily,
    GrantStore,
    StoredRefreshToken,
)
from services.token.metrics import REFRESH_TOKEN_REUSE

REUSE_REASON = "refresh token reused"


@dataclass(frozen=True)
class RefreshTokenPolicy:
    """Lifetimes: one refresh token, and the family however often it rotates."""

    ttl_seconds: int
    family_max_age_seconds: int
    # A family without a refresh token lives as long as its access tokens.
    access_token_ttl_seconds: int


class GrantFamilies:
    """Records families, issues and rotates their refresh tokens, revokes them."""

    def __init__(
        self,
        store: GrantStore,
        revocations: RevocationList,
        policy: RefreshTokenPolicy,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._revocations = revocations
        self._policy = policy
        self._clock = clock

    async def start(
        self,
        grant: ConsumedCode,
        scope: list[str],
        *,
        with_refresh_token: bool,
        resource: str = "",
        dpop_jkt: str = "",
    ) -> tuple[GrantFamily, str]:
        """Record the family of a code just consumed, with its first refresh token when
        ``with_refresh_token`` (both in one write); the family and that token ("" when
        none). Raises InvalidGrant if the family exists."""
        now = self._clock()
        lifetime = (
            self._policy.family_max_age_seconds
            if with_refresh_token
            else self._policy.access_token_ttl_seconds
        )
        family = GrantFamily(
            family_id=grant.code_id,
            client_id=grant.client_id,
            subject=grant.user_id,
            scope=tuple(scope),
            created_at=now,
            expires_at=now + timedelta(seconds=lifetime),
            auth_time=grant.auth_time,
            amr=grant.amr,
            resource=resource,
            sid=grant.sid,
            dpop_jkt=dpop_jkt,
        )
        if not with_refresh_token:
            await self._store.create_family(family)
            return family, ""
        token, stored = self._new_refresh_token(family)
        await self._store.create_family(family, stored)
        return family, token

    async def rotate(self, used: StoredRefreshToken, family: GrantFamily) -> str | None:
        """Mark ``used`` used and store its successor, atomically. None when another
        request used it first: the caller treats that as reuse."""
        token, successor = self._new_refresh_token(family)
        if not await self._store.rotate_refresh_token(used.token_hash, successor, self._clock()):
            return None
        return token

    def _new_refresh_token(self, family: GrantFamily) -> tuple[str, StoredRefreshToken]:
        now = self._clock()
        expires_at = min(now + timedelta(seconds=self._policy.ttl_seconds), family.expires_at)
        token = random_token()
        # The refresh token keeps the family's scope (RFC 6749 section 6) even when an
        # access token was asked for less.
        return token, StoredRefreshToken(
            token_hash=sha256_hex(token),
            family_id=family.family_id,
            client_id=family.client_id,
            subject=family.subject,
            scope=family.scope,
            issued_at=now,
            expires_at=expires_at,
        )

    async def find_refresh_token(self, token: str) -> tuple[StoredRefreshToken, GrantFamily] | None:
        """The stored refresh token and its family, whatever their state."""
        return await self._store.get_refresh_token_with_family(sha256_hex(token))

    async def active_refresh_token(
        self, token: str
    ) -> tuple[StoredRefreshToken, GrantFamily] | None:
        """RFC 7662 section 2.2: unused, unexpired, family neither expired nor revoked."""
        found = await self.find_refresh_token(token)
        if found is None:
            return None
        stored, family = found
        now = self._clock()
        if stored.used_at is not None or stored.expires_at <= now or family.expires_at <= now:
            return None
        if await self.is_revoked(family):
            return None
        return found

    async def is_revoked(self, family: GrantFamily) -> bool:
        # The denylist also knows families revoked before their row was written.
        return family.revoked_at is not None or await self._revocations.is_family_revoked(
            family.family_id
        )

    async def is_revoked_id(self, family_id: str) -> bool:
        return await self._revocations.is_family_revoked(family_id)

    async def revoke(self, family_id: str, reason: str) -> bool:
        """Kill the family's refresh tokens and access tokens; harmless when unknown.
        True when this call revoked a recorded family (it existed and was not revoked)."""
        # The denylist first: it is what stops access tokens, and it works without a row.
        await self._revocations.revoke_family(family_id)
        return await self._store.revoke_family(family_id, reason, self._clock())

    async def revoke_reused(self, family_id: str) -> None:
        """A rotated refresh token came back (RFC 9700 section 4.14.2): the family dies,
        and the reuse is counted."""
        await self.revoke(family_id, REUSE_REASON)
        REFRESH_TOKEN_REUSE.inc()

    async def of_session(self, sid: str) -> list[GrantFamily]:
        """The families not revoked of the browser session ``sid`` (Back-Channel Logout
        1.0: what a logout of that session ends); none for ""."""
        if not sid:
            return []
        return await self._store.families_of_session(sid)

    def expired(self, stored: StoredRefreshToken, family: GrantFamily) -> bool:
        now = self._clock()
        return stored.expires_at <= now or family.expires_at <= now
