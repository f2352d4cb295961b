"""The revocation list: jti values of revoked access tokens (RFC 7009 section 2),
ids of revoked grant families (docs/signin.md, Grant families) and not-before
times of subjects and clients (docs/operators.md): an access token whose ``iat``
is at or before the not-before of its ``sub`` or its ``client_id`` is dead.

Three layers, so that a revocation on one replica is seen by every replica at
once and survives a restart or a Redis flush:

* the database row is the durable record (written first);
* the KeyValue key ``revoked:<jti>``, ``revoked_family:<id>``,
  ``revoked_subject:<id>`` or ``revoked_client:<id>`` (TTL = the longest
  remaining lifetime of a token it kills; the last two hold the not-before time
  in epoch seconds) is what every replica checks when its local set misses;
* ``publish("revocations", jti)``, ``publish("revocations", "family:<id>")``,
  ``"subject:<id>"`` or ``"client:<id>"`` lets every replica's subscriber add the
  entry to its local set, so the common case costs no network round trip.

On start, and then every ``sync_interval`` seconds, unexpired rows are loaded
from the database into the local set, which repairs any lost message or key.

Fail closed without Redis: a check that cannot ask the KeyValue asks
the database. A key or message that could not be written (Redis down, hung, or
its circuit open) is written again every ``respread_interval`` seconds until it
is; until then the key is missing, so for DISTRUST_AFTER_OUTAGE_SECONDS after a
replica last found the KeyValue away, a missing key sends its check to the
database as well (a replica that saw no failure at all, having had no traffic
during the outage, trusts the KeyValue at once: the rewrite follows within a
second).

A Redis failover (Sentinel, Cluster) may lose the last writes the old primary
acknowledged. Every replica's subscription drops with it: from that moment the
replica distrusts "no such key" as after an outage, and once subscribed again it
reloads the recent rows from the database and writes their keys again, twice
(:meth:`RevocationList._on_gap`). So no revocation the database committed is
lost: each replica refuses it from its local set, the database or the rewritten key.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from common.kv import KeyValue, follow_channel
from common.timeutil import utcnow
from services.token.domain.ports import (
    DenylistStore,
    PrincipalKind,
    RevokedFamily,
    RevokedPrincipal,
    RevokedToken,
)

log = logging.getLogger(__name__)

CHANNEL = "revocations"
KEY_PREFIX = "revoked:"
FAMILY_KEY_PREFIX = "revoked_family:"
# A message naming a family; jtis (base64url) never contain a colon.
FAMILY_MESSAGE_PREFIX = "family:"
# Not-before entries: "subject:<id>" / "client:<id>" on the channel,
# revoked_subject:<id> / revoked_client:<id> in the KeyValue.
PRINCIPAL_KINDS: tuple[PrincipalKind, ...] = ("subject", "client")
# Rows revoked this long before the previous sync are fetched again, to cover
# clock skew between replicas and transactions that committed late.
SYNC_OVERLAP = timedelta(seconds=30)
RESUBSCRIBE_DELAY_SECONDS = 1.0
#: Seconds between two attempts to write the keys and messages that failed.
RESPREAD_SECONDS = 1.0
#: For this long after this replica last found the KeyValue away, its "no such key"
#: is not trusted alone: the database is asked as well. A revocation made during the
#: outage (on any replica) reaches the KeyValue only when its replica writes it again
#: (every RESPREAD_SECONDS) once the KeyValue is back; until then the key is missing.
DISTRUST_AFTER_OUTAGE_SECONDS = 10.0
# A family entry outlives the longest access token by this much: a token whose
# issuance was already past every check when the family was revoked is covered too.
FAMILY_ENTRY_MARGIN = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class _Write:
    """A KeyValue key's value until ``expires`` (epoch seconds), and the message
    that tells the other replicas ("" for none)."""

    value: str
    expires: float
    message: str = ""
    keep_newer: bool = False


def revoked_key(jti: str) -> str:
    return KEY_PREFIX + jti


def revoked_family_key(family_id: str) -> str:
    return FAMILY_KEY_PREFIX + family_id


def not_before_key(kind: PrincipalKind, principal_id: str) -> str:
    return f"revoked_{kind}:{principal_id}"


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
        respread_interval: float = RESPREAD_SECONDS,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._kv = kv
        self._max_ttl = max_token_ttl_seconds
        self._sync_interval = sync_interval
        self._respread_interval = respread_interval
        self._clock = clock
        # KeyValue key (revoked:<jti> / revoked_family:<id>) -> expiry (epoch seconds);
        # pruned as the tokens it kills expire.
        self._local: dict[str, float] = {}
        # not_before_key -> (not-before, expiry), epoch seconds.
        self._not_before: dict[str, tuple[float, float]] = {}
        self._last_sync: datetime | None = None
        # KeyValue key -> what could not be written yet (the latest value wins).
        self._unspread: dict[str, _Write] = {}
        self._respreading = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        # time.monotonic() when the keys of recent rows are to be written again
        # after a gap in the subscription (:meth:`_on_gap`).
        self._rewrite_at: float | None = None
        # time.monotonic() of the last KeyValue failure this replica saw.
        self._kv_failed_at = -DISTRUST_AFTER_OUTAGE_SECONDS

    # -- life cycle ---------------------------------------------------------------------

    async def start(self) -> None:
        await self.sync()
        self._tasks = [
            asyncio.create_task(self._subscriber(), name="revocations-subscriber"),
            asyncio.create_task(self._maintenance(), name="revocations-maintenance"),
            asyncio.create_task(self._respreader(), name="revocations-respread"),
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
        await self._spread_entry(revoked_key(jti), jti, expires_at.timestamp())

    async def revoke_family(self, family_id: str) -> None:
        """Kill every access token carrying ``grant_id`` = ``family_id``. The entry lives
        as long as the longest access token: none of the family is issued afterwards."""
        now = self._clock()
        expires_at = now + timedelta(seconds=self._max_ttl) + FAMILY_ENTRY_MARGIN
        await self._store.add_family(
            RevokedFamily(family_id=family_id, expires_at=expires_at, revoked_at=now)
        )
        await self._spread_entry(
            revoked_family_key(family_id), FAMILY_MESSAGE_PREFIX + family_id, expires_at.timestamp()
        )

    async def revoke_principal(self, kind: PrincipalKind, principal_id: str) -> datetime:
        """Kill every access token of this subject or client issued until now (docs/
        operators.md); returns the not-before time. Tokens issued later stay valid."""
        now = self._clock()
        stored = await self._store.add_principal(
            RevokedPrincipal(
                kind=kind,
                principal_id=principal_id,
                not_before=now,
                expires_at=now + timedelta(seconds=self._max_ttl) + FAMILY_ENTRY_MARGIN,
            )
        )
        key = not_before_key(kind, principal_id)
        nb, exp = stored.not_before.timestamp(), stored.expires_at.timestamp()
        self._remember_not_before(key, nb, exp)
        await self._spread(key, _Write(repr(nb), exp, f"{kind}:{principal_id}", keep_newer=True))
        return stored.not_before

    def _remember_not_before(self, key: str, nb: float, exp: float) -> None:
        known = self._not_before.get(key)
        if known is not None:
            nb, exp = max(nb, known[0]), max(exp, known[1])
        self._not_before[key] = (nb, exp)

    async def _spread_entry(self, key: str, message: str, exp: float) -> None:
        self._local[key] = exp
        await self._spread(key, _Write(str(int(exp) + 1), exp, message))

    async def _spread(self, key: str, write: _Write) -> None:
        """The key for replicas that check the KeyValue, the message for their local
        sets; what fails is written again until it is (:meth:`_respread`)."""
        try:
            await self._write(key, write)
        except Exception:
            self._kv_failed()
            log.warning("revocation %s not published yet; writing it again shortly", key)
            self._unspread[key] = write

    async def _write(self, key: str, write: _Write) -> None:
        ttl = write.expires - self._clock().timestamp()
        if ttl <= 0:
            return  # every token it kills has expired
        if write.keep_newer:
            # A not-before only moves forward: never put back an older one than
            # another replica wrote meanwhile.
            raw = await self._kv.get(key)
            with contextlib.suppress(ValueError):  # garbage there: replace it
                if raw is not None and float(raw) >= float(write.value):
                    ttl = 0
        if ttl > 0:
            await self._kv.set(key, write.value, ttl=ttl)
        if write.message:
            await self._kv.publish(CHANNEL, write.message)

    async def _respread(self) -> None:
        """Write what failed, in order, until the first failure (the KeyValue is
        still away: one failed call per round, not one per entry)."""
        async with self._respreading:
            written = 0
            for key, entry in list(self._unspread.items()):
                try:
                    await self._write(key, entry)
                except Exception:
                    self._kv_failed()
                    break
                written += 1
                if self._unspread.get(key) == entry:
                    del self._unspread[key]
            if written:
                log.info("%d revocation entries written to the KeyValue", written)

    async def _respreader(self) -> None:
        while True:
            await asyncio.sleep(self._respread_interval)
            if self._rewrite_at is not None and time.monotonic() >= self._rewrite_at:
                self._rewrite_at = None
                try:
                    await self.sync(rewrite=True)
                except Exception:
                    log.warning("revocation list sync failed", exc_info=True)
            if self._unspread:
                await self._respread()

    def unspread(self) -> int:
        """How many keys wait to be written to the KeyValue again."""
        return len(self._unspread)

    async def is_revoked(self, jti: str) -> bool:
        return await self._check(revoked_key(jti), self._store.is_revoked, jti)

    async def is_family_revoked(self, family_id: str) -> bool:
        return await self._check(
            revoked_family_key(family_id), self._store.is_family_revoked, family_id
        )

    async def is_token_revoked(self, claims: dict[str, Any]) -> bool:
        """An access token is dead when its jti or its grant family is revoked, or it was
        issued at or before the not-before of its subject or its client.

        What this replica knows decides first; the rest is one round trip to the
        KeyValue (MGET), however many checks, then judged as each check alone would."""
        now = self._clock().timestamp()
        pending: list[tuple[str, Callable[[bytes | None], Awaitable[bool]]]] = []
        jti = str(claims["jti"])
        revocations: list[tuple[str, Callable[[str, datetime], Awaitable[bool]], str]] = [
            (revoked_key(jti), self._store.is_revoked, jti)
        ]
        grant_id = claims.get("grant_id")
        if isinstance(grant_id, str) and grant_id:
            revocations.append(
                (revoked_family_key(grant_id), self._store.is_family_revoked, grant_id)
            )
        for key, durable, name in revocations:
            exp = self._local.get(key)
            if exp is None:
                pending.append((key, functools.partial(self._judge_revoked, durable, name)))
            elif exp > now:
                return True
        iat = claims.get("iat")
        if isinstance(iat, int | float):
            principals: tuple[tuple[PrincipalKind, str], ...] = (
                ("subject", "sub"),
                ("client", "client_id"),
            )
            for kind, claim in principals:
                principal = claims.get(claim)
                if not isinstance(principal, str) or not principal:
                    continue
                key = not_before_key(kind, principal)
                if self._known_not_before(key, iat, now):
                    return True
                pending.append(
                    (key, functools.partial(self._judge_not_before, key, kind, principal, iat))
                )
        if not pending:
            return False
        try:
            values = await self._kv.get_many([key for key, _ in pending])
        except Exception:
            self._kv_failed()
            values = [None] * len(pending)
        for (_, judge), raw in zip(pending, values, strict=True):
            if await judge(raw):
                return True
        return False

    def _known_not_before(self, key: str, iat: float, now: float) -> bool:
        """Whether a not-before this replica holds already refuses ``iat``. Unknown
        here, or known with an older time, is no answer: a newer revocation may not
        have reached this replica yet, and the KeyValue holds the latest."""
        known = self._not_before.get(key)
        return known is not None and iat <= known[0] and known[1] > now

    async def _judge_not_before(
        self, key: str, kind: PrincipalKind, principal_id: str, iat: float, raw: bytes | None
    ) -> bool:
        if raw is None:
            if not self._kv_trusted():
                log.warning("revocation check fell back to the database")
                stored = await self._store.principal_not_before(kind, principal_id, self._clock())
                return stored is not None and iat <= stored.timestamp()
            return False
        nb = float(raw)
        self._remember_not_before(key, nb, self._not_before_expiry(nb))
        return iat <= nb

    async def _check(
        self, key: str, durable: Callable[[str, datetime], Awaitable[bool]], name: str
    ) -> bool:
        exp = self._local.get(key)
        if exp is not None:
            return exp > self._clock().timestamp()
        return await self._judge_revoked(durable, name, await self._read(key))

    async def _judge_revoked(
        self, durable: Callable[[str, datetime], Awaitable[bool]], name: str, raw: bytes | None
    ) -> bool:
        if raw is not None:
            return True
        if self._kv_trusted():
            return False
        log.warning("revocation check fell back to the database")
        return await durable(name, self._clock())

    async def _read(self, key: str) -> bytes | None:
        """The KeyValue's value of ``key``; None also when it does not answer (then
        its "no such key" is not trusted for a while: :meth:`_kv_trusted`)."""
        try:
            return await self._kv.get(key)
        except Exception:
            self._kv_failed()
            return None

    def _kv_failed(self) -> None:
        self._kv_failed_at = time.monotonic()

    def _kv_trusted(self) -> bool:
        """Whether the KeyValue's "no such key" can be believed: not while it is
        away, nor for a while after (DISTRUST_AFTER_OUTAGE_SECONDS), since entries
        written to the database meanwhile are still on their way to it."""
        return time.monotonic() - self._kv_failed_at >= DISTRUST_AFTER_OUTAGE_SECONDS

    def known_locally(self, jti: str) -> bool:
        return revoked_key(jti) in self._local

    def family_known_locally(self, family_id: str) -> bool:
        return revoked_family_key(family_id) in self._local

    def not_before_known_locally(self, kind: PrincipalKind, principal_id: str) -> datetime | None:
        known = self._not_before.get(not_before_key(kind, principal_id))
        return datetime.fromtimestamp(known[0], UTC) if known is not None else None

    # -- background work ----------------------------------------------------------------

    async def sync(self, *, rewrite: bool = False) -> None:
        """Load rows revoked since the last sync into the local set; prune the expired.
        The first sync, and one with ``rewrite``, also write the keys of the rows it
        loaded to the KeyValue again (:meth:`_on_gap`)."""
        now = self._clock()
        since = None if self._last_sync is None else self._last_sync - SYNC_OVERLAP
        loaded = [
            (revoked_key(entry.jti), entry.expires_at)
            for entry in await self._store.list_unexpired(now, revoked_since=since)
        ] + [
            (revoked_family_key(entry.family_id), entry.expires_at)
            for entry in await self._store.list_unexpired_families(now, revoked_since=since)
        ]
        first = self._last_sync is None
        rewrite = rewrite or first
        for key, expires_at in loaded:
            exp = expires_at.timestamp()
            self._local[key] = exp
            if rewrite:
                # At start the KeyValue may be empty (Redis flushed, or the in-process
                # stand-in restarted), after a gap it may have lost the latest writes
                # (a failover): put back what the database knows.
                self._unspread.setdefault(key, _Write(str(int(exp) + 1), exp))
        for entry in await self._store.list_unexpired_principals(now, revoked_since=since):
            key = not_before_key(entry.kind, entry.principal_id)
            nb, exp = entry.not_before.timestamp(), entry.expires_at.timestamp()
            self._remember_not_before(key, nb, exp)
            if rewrite:
                self._unspread.setdefault(key, _Write(repr(nb), exp, keep_newer=True))
        self._last_sync = now
        self._prune(now.timestamp())
        if rewrite and self._unspread:
            # Without Redis this costs one failed call, not one per entry; the rest
            # is written by the background task once it answers.
            await self._respread()

    def _prune(self, now: float) -> None:
        for key in [key for key, exp in self._local.items() if exp <= now]:
            del self._local[key]
        for key in [key for key, (_, exp) in self._not_before.items() if exp <= now]:
            del self._not_before[key]

    async def _subscriber(self) -> None:
        # Messages published while the subscription was down are in the database.
        await follow_channel(
            self._kv,
            CHANNEL,
            self._on_message,
            self._on_gap,
            resubscribe_delay=RESUBSCRIBE_DELAY_SECONDS,
            on_lost=self._kv_failed,
        )

    async def _on_gap(self) -> None:
        """After the subscription dropped: a Redis restart or failover, where the last
        writes acknowledged by the old primary may not have reached its replicas
        (replication is asynchronous) and are gone. Until this replica knows again,
        "no such key" is not believed (``on_lost`` marked the KeyValue away, so a check
        asks the database); then the rows revoked since shortly before the last sync
        are loaded into the local set and their keys written again, so that replicas
        that check the KeyValue find every revocation the database holds."""
        self._kv_failed()
        await self.sync(rewrite=True)
        # The old primary may take writes until the sentinels have demoted it (a
        # second or so): once more, well before this replica trusts the KeyValue again.
        self._rewrite_at = time.monotonic() + DISTRUST_AFTER_OUTAGE_SECONDS / 2

    async def _on_message(self, message: str) -> None:
        if not message:
            return
        kind, separator, principal_id = message.partition(":")
        if separator and kind in PRINCIPAL_KINDS:
            await self._on_not_before(kind, principal_id)
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

    async def _on_not_before(self, kind: PrincipalKind, principal_id: str) -> None:
        key = not_before_key(kind, principal_id)
        now = self._clock()
        nb: float | None = None
        with contextlib.suppress(Exception):
            raw = await self._kv.get(key)
            if raw is not None:
                nb = float(raw)
        if nb is None:
            with contextlib.suppress(Exception):
                stored = await self._store.principal_not_before(kind, principal_id, now)
                nb = stored.timestamp() if stored is not None else None
        # Without either we know only that it happened just now.
        nb = nb if nb is not None else now.timestamp()
        self._remember_not_before(key, nb, self._not_before_expiry(nb))

    def _not_before_expiry(self, nb: float) -> float:
        """No token issued at or before ``nb`` is alive after this."""
        return nb + self._max_ttl + FAMILY_ENTRY_MARGIN.total_seconds()

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
