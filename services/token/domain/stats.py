"""Counts for operators (docs/operators.md): tokens issued by grant_type, shared by
every replica through the KeyValue (``stats:issued:<grant_type>``, ``stats:since``),
and the grants that are active now."""

from __future__ import annotations

import logging
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


@dataclass(frozen=True)
class TokenStatistics:
    issued_by_grant_type: dict[str, int]
    active_grants: int
    since: datetime


class TokenStats:
    """Counts tokens issued; a KeyValue that fails loses a count, never a token."""

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

    async def start(self) -> None:
        """Set ``stats:since`` unless another replica (or an earlier run) set it."""
        try:
            await self._kv.set_if_absent(SINCE_KEY, repr(self._clock().timestamp()))
        except Exception:
            log.warning("token statistics: the KeyValue is unreachable")

    async def record_issued(self, grant_type: str) -> None:
        try:
            await self._kv.incr(ISSUED_KEY_PREFIX + grant_type)
        except Exception:
            log.warning("token statistics: issued %s not counted", grant_type)

    async def read(self) -> TokenStatistics:
        try:
            issued, raw_since = await self._read_counts()
        except Exception as exc:
            raise TemporarilyUnavailable(
                "The token statistics are unavailable", detail=f"{type(exc).__name__}: {exc}"
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
