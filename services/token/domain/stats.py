"""Counts for operators (docs/operators.md): tokens issued by grant_type, shared by
every replica through the KeyValue (``stats:issued:<grant_type>``, ``stats:since``),
and the grants that are active now.

Tokens granted the ``admin`` scope are not counted: they are the admin API's own
(oauth2ctl's, an operator's automation), and reading the counts with oauth2ctl
must not change them. Only admin clients may hold that scope (dynamic
registration refuses it). The ``oauth2_tokens_issued_total`` metric, a measure of
load, still counts them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from common.errors import TemporarilyUnavailable
from common.kv import KeyValue
from common.timeutil import utcnow
from services.token.domain.ports import GrantStore

log = logging.getLogger(__name__)

ISSUED_KEY_PREFIX = "stats:issued:"
SINCE_KEY = "stats:since"
STATS_UNAVAILABLE = "The token statistics are unavailable"
#: The admin API's scope (gateway/admin/auth.py): tokens granted it are not counted.
ADMIN_SCOPE = "admin"


@dataclass(frozen=True)
class TokenStatistics:
    issued_by_grant_type: dict[str, int]
    active_grants: int
    since: datetime


class TokenStats:
    """Counts tokens issued. The token path only bumps a local counter; a background
    task adds the counts to the shared KeyValue every ``FLUSH_SECONDS`` (and reads
    flush first), so issuing a token costs no Redis round trip. A KeyValue that
    fails keeps the counts for the next flush; it never fails a token."""

    FLUSH_SECONDS: float = 2.0

    def __init__(
        self,
        kv: KeyValue,
        store: GrantStore,
        grant_types: Iterable[str],
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._kv = kv
        self._store = store
        self._grant_types = tuple(grant_types)
        self._clock = clock
        self._pending: Counter[str] = Counter()
        self._flusher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Set ``stats:since`` unless another replica (or an earlier run) set it, and
        start flushing in the background."""
        try:
            await self._kv.set_if_absent(SINCE_KEY, repr(self._clock().timestamp()))
        except Exception:
            log.warning("token statistics: the KeyValue is unreachable")
        self._flusher = asyncio.get_running_loop().create_task(self._flush_forever())

    async def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        await self.flush()

    def record_issued(self, grant_type: str, scope: str = "") -> None:
        """Count one token of ``grant_type`` granted ``scope``, unless it is an
        admin API token (the module's docstring says why)."""
        if ADMIN_SCOPE in scope.split(" "):
            return
        self._pending[grant_type] += 1

    async def flush(self) -> bool:
        """Add the local counts to the KeyValue; False when it failed. The first
        failure keeps every count not added yet: a KeyValue that does not answer
        costs one timeout per flush, not one per grant type."""
        pending, self._pending = self._pending, Counter()
        items = list(pending.items())
        for done, (grant_type, count) in enumerate(items):
            try:
                await self._kv.incr(ISSUED_KEY_PREFIX + grant_type, amount=count)
            except Exception:
                log.warning("token statistics: %d tokens not counted yet", sum(pending.values()))
                for kept, kept_count in items[done:]:
                    self._pending[kept] += kept_count
                return False
            del pending[grant_type]
        return True

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(self.FLUSH_SECONDS)
            await self.flush()

    async def read(self) -> TokenStatistics:
        if not await self.flush():
            # The KeyValue just failed: reading it now would fail again, later.
            raise TemporarilyUnavailable(STATS_UNAVAILABLE, detail="the flush failed")
        try:
            issued, raw_since = await self._read_counts()
        except Exception as exc:
            raise TemporarilyUnavailable(
                STATS_UNAVAILABLE, detail=f"{type(exc).__name__}: {exc}"
            ) from exc
        since = self._clock()
        if raw_since is not None:
            since = datetime.fromtimestamp(float(raw_since), UTC)
        active = await self._store.count_active_families(self._clock())
        return TokenStatistics(issued_by_grant_type=issued, active_grants=active, since=since)

    async def _read_counts(self) -> tuple[dict[str, int], bytes | None]:
        issued: dict[str, int] = {}
        for grant_type in self._grant_types:
            raw = await self._kv.get(ISSUED_KEY_PREFIX + grant_type)
            issued[grant_type] = int(raw) if raw is not None else 0
        raw_since = await self._kv.get(SINCE_KEY)
        if raw_since is None:
            # The KeyValue was flushed: counting starts again now.
            await self._kv.set_if_absent(SINCE_KEY, repr(self._clock().timestamp()))
            raw_since = await self._kv.get(SINCE_KEY)
        return issued, raw_since
