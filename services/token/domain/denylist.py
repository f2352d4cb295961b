"""The revocation list: jti values of revoked access tokens (RFC 7009 section 2)
and ids of revoked grant families (docs/signin.md, Grant families).

Three layers, so that a revocation on one replica is seen by every replica at
once and survives a restart or a Redis flush:

* the database row is the durable record (written first);
* the KeyValue key ``revoked:<jti>`` or ``revoked_family:<id>`` (TTL = the
  longest remaining lifetime of a token it kills) is what every replica checks
  when its local set misses;
* ``publish("revocations", jti)`` or ``publish("revocations", "family:<id>")``
  lets every replica's subscriber add the entry to its local set, so the common
  case costs no network round trip.

On start, and then every ``sync_interval`` seconds, unexpired rows are loaded
from the database into the local set, which repairs any lost message or key.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from common.kv import KeyValue
from common.timeutil import utcnow
from services.token.domain.ports import DenylistStore, RevokedFamily, RevokedToken

log = logging.getLogger(__name__)

CHANNEL = "revocations"
KEY_PREFIX = "revoked:"
FAMILY_KEY_PREFIX = "revoked_family:"
# A message naming a family; jtis (base64url) never contain a colon.
FAMILY_MESSAGE_PREFIX = "family:"
# Rows revoked this long before the previous sync are fetched again, to cover
# clock skew between replicas and transactions that committed late.
SYNC_OVERLAP = timedelta(seconds=30)
RESUBSCRIBE_DELAY_SECONDS = 1.0
# A family entry outlives the longest access token by this much: a token whose
# issuance was already past every check when the family was revoked is covered too.
FAMILY_ENTRY_MARGIN = timedelta(seconds=60)


def revoked_key(jti: str) -> str:
    return KEY_PREFIX + jti


def revoked_family_key(family_id: str) -> str:
    return FAMILY_KEY_PREFIX + family_id


class RevocationList:
    """Denylist of revoked access-token jtis and grant families shared by every replica
    (RFC 7009 section 2.1)."""

    def __init__(
        self,
        store: DenylistStore,
        kv: KeyValue,
        *,
        max_token_ttl_seconds: int,
        sync_interval: float = 30.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._kv = kv
        self._max_ttl = max_token_ttl_seconds
        self._sync_interval = sync_interval
        self._clock = clock
        # KeyValue key (revoked:<jti> / revoked_family:<id>) -> expiry (epoch seconds);
        # pruned as the tokens it kills expire.
        self._local: dict[str, float] = {}
        self._last_sync: datetime | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # -- life cycle ---------------------------------------------------------------------

    async def start(self) -> None:
        await self.sync()
        self._tasks = [
            asyncio.create_task(self._subscriber(), name="revocations-subscriber"),
            asyncio.create_task(self._maintenance(), name="revocations-maintenance"),
        ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    # -- revoking and checking ----------------------------------------------------------

    async def revoke(self, jti: str, client_id: str, expires_at: datetime) -> None:
        now = self._clock()
        if expires_at <= now:
            return  # an expired token is dead already
        await self._store.add(
            RevokedToken(jti=jti, client_id=client_id, expires_at=expires_at, revoked_at=now)
        )
        await self._spread(revoked_key(jti), jti, expires_at.timestamp(), now)

    async def revoke_family(self, family_id: str) -> None:
        """Kill every access token carrying ``grant_id`` = ``family_id``. The entry lives
        as long as the longest access token: none of the family is issued afterwards."""
        now = self._clock()
        expires_at = now + timedelta(seconds=self._max_ttl) + FAMILY_ENTRY_MARGIN
        await self._store.add_family(
            RevokedFamily(family_id=family_id, expires_at=expires_at, revoked_at=now)
        )
        await self._spread(
            revoked_family_key(family_id),
            FAMILY_MESSAGE_PREFIX + family_id,
            expires_at.timestamp(),
            now,
        )

    async def _spread(self, key: str, message: str, exp: float, now: datetime) -> None:
        self._local[key] = exp
        try:
            await self._kv.set(key, str(int(exp) + 1), ttl=exp - now.timestamp())
            await self._kv.publish(CHANNEL, message)
        except Exception:
            log.warning("revocation %s not published; replicas see it at their next sync", key)

    async def is_revoked(self, jti: str) -> bool:
        return await self._check(revoked_key(jti), self._store.is_revoked, jti)

    async def is_family_revoked(self, family_id: str) -> bool:
        return await self._check(
            revoked_family_key(family_id), self._store.is_family_revoked, family_id
        )

    async def is_token_revoked(self, claims: dict[str, object]) -> bool:
        """An access token is dead when its jti or its grant family is revoked."""
        if await self.is_revoked(str(claims["jti"])):
            return True
        grant_id = claims.get("grant_id")
        return (
            isinstance(grant_id, str) and bool(grant_id) and await self.is_family_revoked(grant_id)
        )

    async def _check(
        self, key: str, durable: Callable[[str, datetime], Awaitable[bool]], name: str
    ) -> bool:
        exp = self._local.get(key)
        if exp is not None:
            return exp > self._clock().timestamp()
        try:
            return await self._kv.exists(key)
        except Exception:
            log.warning("revocation check fell back to the database")
            return await durable(name, self._clock())

    def known_locally(self, jti: str) -> bool:
        return revoked_key(jti) in self._local

    def family_known_locally(self, family_id: str) -> bool:
        return revoked_family_key(family_id) in self._local

    # -- background work ----------------------------------------------------------------

    async def sync(self) -> None:
        """Load rows revoked since the last sync into the local set; prune the expired."""
        now = self._clock()
        since = None if self._last_sync is None else self._last_sync - SYNC_OVERLAP
        loaded = [
            (revoked_key(entry.jti), entry.expires_at)
            for entry in await self._store.list_unexpired(now, revoked_since=since)
        ] + [
            (revoked_family_key(entry.family_id), entry.expires_at)
            for entry in await self._store.list_unexpired_families(now, revoked_since=since)
        ]
        for key, expires_at in loaded:
            exp = expires_at.timestamp()
            self._local[key] = exp
            if self._last_sync is None:
                # At start the KeyValue may be empty (Redis flushed, or the in-process
                # stand-in restarted): put back what the database knows.
                with contextlib.suppress(Exception):
                    await self._kv.set(key, str(int(exp) + 1), ttl=exp - now.timestamp())
        self._last_sync = now
        self._prune(now.timestamp())

    def _prune(self, now: float) -> None:
        for key in [key for key, exp in self._local.items() if exp <= now]:
            del self._local[key]

    async def _subscriber(self) -> None:
        while True:
            try:
                async for message in self._kv.subscribe(CHANNEL):
                    await self._on_message(message)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("revocations subscription lost; resubscribing")
            await asyncio.sleep(RESUBSCRIBE_DELAY_SECONDS)
            # Messages published while we were away are in the database.
            with contextlib.suppress(Exception):
                await self.sync()

    async def _on_message(self, message: str) -> None:
        if not message:
            return
        if message.startswith(FAMILY_MESSAGE_PREFIX):
            key = revoked_family_key(message.removeprefix(FAMILY_MESSAGE_PREFIX))
        else:
            key = revoked_key(message)
        if key in self._local:
            return
        exp: float | None = None
        with contextlib.suppress(Exception):
            raw = await self._kv.get(key)
            if raw is not None:
                exp = float(raw)
        # Without the key we do not know the expiry; no token outlives the maximum TTL.
        self._local[key] = exp if exp is not None else self._clock().timestamp() + self._max_ttl

    async def _maintenance(self) -> None:
        while True:
            await asyncio.sleep(self._sync_interval)
            try:
                await self.sync()
                deleted = await self._store.delete_expired(self._clock())
                if deleted:
                    log.info("deleted %d expired revocation entries", deleted)
            except Exception:
                log.warning("revocation list sync failed", exc_info=True)
