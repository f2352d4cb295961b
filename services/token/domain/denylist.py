"""The revocation list: jti values of revoked access tokens (RFC 7009 section 2).

Three layers, so that a revocation on one replica is seen by every replica at
once and survives a restart or a Redis flush:

* the database row is the durable record (written first);
* the KeyValue key ``revoked:<jti>`` (TTL = the token's remaining lifetime) is
  what every replica checks when its local set misses;
* ``publish("revocations", jti)`` lets every replica's subscriber add the jti
  to its local set, so the common case costs no network round trip.

On start, and then every ``sync_interval`` seconds, unexpired rows are loaded
from the database into the local set, which repairs any lost message or key.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from common.kv import KeyValue
from common.timeutil import utcnow
from services.token.domain.ports import DenylistStore, RevokedToken

log = logging.getLogger(__name__)

CHANNEL = "revocations"
KEY_PREFIX = "revoked:"
# Rows revoked this long before the previous sync are fetched again, to cover
# clock skew between replicas and transactions that committed late.
SYNC_OVERLAP = timedelta(seconds=30)
RESUBSCRIBE_DELAY_SECONDS = 1.0


def revoked_key(jti: str) -> str:
    return KEY_PREFIX + jti


class RevocationList:
    """Denylist of revoked access-token jtis shared by every replica (RFC 7009 section 2.1)."""

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
        # jti -> expiry (epoch seconds); pruned as tokens expire.
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
        exp = expires_at.timestamp()
        self._local[jti] = exp
        try:
            await self._kv.set(revoked_key(jti), str(int(exp) + 1), ttl=exp - now.timestamp())
            await self._kv.publish(CHANNEL, jti)
        except Exception:
            log.warning("revocation of %s not published; replicas see it at their next sync", jti)

    async def is_revoked(self, jti: str) -> bool:
        exp = self._local.get(jti)
        if exp is not None:
            return exp > self._clock().timestamp()
        try:
            return await self._kv.exists(revoked_key(jti))
        except Exception:
            log.warning("revocation check fell back to the database")
            return await self._store.is_revoked(jti, self._clock())

    def known_locally(self, jti: str) -> bool:
        return jti in self._local

    # -- background work ----------------------------------------------------------------

    async def sync(self) -> None:
        """Load rows revoked since the last sync into the local set; prune the expired."""
        now = self._clock()
        since = None if self._last_sync is None else self._last_sync - SYNC_OVERLAP
        entries = await self._store.list_unexpired(now, revoked_since=since)
        for entry in entries:
            exp = entry.expires_at.timestamp()
            self._local[entry.jti] = exp
            if self._last_sync is None:
                # At start the KeyValue may be empty (Redis flushed, or the in-process
                # stand-in restarted): put back what the database knows.
                with contextlib.suppress(Exception):
                    await self._kv.set(
                        revoked_key(entry.jti), str(int(exp) + 1), ttl=exp - now.timestamp()
                    )
        self._last_sync = now
        self._prune(now.timestamp())

    def _prune(self, now: float) -> None:
        for jti in [jti for jti, exp in self._local.items() if exp <= now]:
            del self._local[jti]

    async def _subscriber(self) -> None:
        while True:
            try:
                async for jti in self._kv.subscribe(CHANNEL):
                    await self._on_message(jti)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("revocations subscription lost; resubscribing")
            await asyncio.sleep(RESUBSCRIBE_DELAY_SECONDS)
            # Messages published while we were away are in the database.
            with contextlib.suppress(Exception):
                await self.sync()

    async def _on_message(self, jti: str) -> None:
        if not jti or jti in self._local:
            return
        exp: float | None = None
        with contextlib.suppress(Exception):
            raw = await self._kv.get(revoked_key(jti))
            if raw is not None:
                exp = float(raw)
        # Without the key we do not know the expiry; no token outlives the maximum TTL.
        self._local[jti] = exp if exp is not None else self._clock().timestamp() + self._max_ttl

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
