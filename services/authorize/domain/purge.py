"""Removing what expired a while ago (authorization codes, interactions): kept
:data:`RETENTION` past its expiry for the investigation of a replay and for an
"expired" answer with a way back to the client, then deleted, at most once per
:data:`PURGE_INTERVAL` per process since one indexed DELETE is cheap."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Final

log = logging.getLogger(__name__)

RETENTION: Final = timedelta(days=1)
PURGE_INTERVAL: Final = timedelta(minutes=1)


class ExpiredPurge:
    """Calls ``delete_expired(before)`` now and then; ``what`` names the rows in logs."""

    def __init__(
        self,
        delete_expired: Callable[[datetime], Awaitable[int]],
        what: str,
        clock: Callable[[], datetime],
    ) -> None:
        self._delete_expired = delete_expired
        self._what = what
        self._clock = clock
        self._last: datetime | None = None

    async def __call__(self) -> None:
        now = self._clock()
        if self._last is not None and now - self._last < PURGE_INTERVAL:
            return
        self._last = now
        removed = await self._delete_expired(now - RETENTION)
        if removed:
            log.info("purged %d %s", removed, self._what)
