"""The revocation list on its own: fallbacks, expiry, background sync."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta

from common.kv import MemoryKeyValue
from common.timeutil import utcnow
from services.token.domain.denylist import (
    CHANNEL,
    RevocationList,
    not_before_key,
    revoked_family_key,
    revoked_key,
)
from services.token.tests.fakes import MemoryDenylistStore


class BrokenKeyValue(MemoryKeyValue):
    """Redis is down: every call fails."""

    async def get(self, key: str) -> bytes | None:
        raise ConnectionError("redis down")

    async def exists(self, key: str) -> bool:
        raise ConnectionError("redis down")

    async def set(self, key: str, value: bytes | str, ttl: float | None = None) -> None:
        raise ConnectionError("redis down")

    async def subscribe(self, channel: str) -> AsyncIterator[str]:
        raise ConnectionError("redis down")
        yield ""  # pragma: no cover - makes this an async generator


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now


async def test_redis_down_falls_back_to_the_database() -> None:
    store = MemoryDenylistStore()
    writer = RevocationList(store, BrokenKeyValue(), max_token_ttl_seconds=3600)
    await writer.revoke("jti-1", "svc", utcnow() + timedelta(minutes=5))
    assert "jti-1" in store.entries  # durable even though Redis failed
    reader = RevocationList(store, BrokenKeyValue(), max_token_ttl_seconds=3600)
    assert await reader.is_revoked("jti-1")
    assert not await reader.is_revoked("jti-2")


async def test_expired_entries_leave_the_local_set_and_the_store() -> None:
    store = MemoryDenylistStore()
    kv = MemoryKeyValue()
    clock = Clock()
    revocations = RevocationList(
        store, kv, max_token_ttl_seconds=3600, sync_interval=0.01, clock=clock
    )
    await revocations.revoke("jti-1", "svc", clock.now + timedelta(seconds=30))
    assert await revocations.is_revoked("jti-1")
    await revocations.start()
    try:
        clock.now += timedelta(seconds=31)
        for _ in range(100):
            if not store.entries and not revocations.known_locally("jti-1"):
                break
            await asyncio.sleep(0.01)
        assert store.entries == {}
        assert not revocations.known_locally("jti-1")
    finally:
        await revocations.close()


async def test_revoking_an_expired_token_records_nothing() -> None:
    store = MemoryDenylistStore()
    revocations = RevocationList(store, MemoryKeyValue(), max_token_ttl_seconds=3600)
    await revocations.revoke("jti-1", "svc", utcnow() - timedelta(seconds=1))
    assert store.entries == {}


async def test_subscriber_adds_published_jtis_with_their_expiry() -> None:
    kv = MemoryKeyValue()
    a = RevocationList(MemoryDenylistStore(), kv, max_token_ttl_seconds=3600)
    b = RevocationList(MemoryDenylistStore(), kv, max_token_ttl_seconds=3600)
    await b.start()
    try:
        await asyncio.sleep(0)  # let the subscriber subscribe
        exp = utcnow() + timedelta(minutes=5)
        await a.revoke("jti-1", "svc", exp)
        assert await kv.get(revoked_key("jti-1")) == str(int(exp.timestamp()) + 1).encode()
        for _ in range(100):
            if b.known_locally("jti-1"):
                break
            await asyncio.sleep(0.01)
        assert b.known_locally("jti-1")
        assert await b.is_revoked("jti-1")
    finally:
        await b.close()


async def test_revoked_families_spread_like_jtis() -> None:
    """A family on replica A: durable row, KeyValue key with a TTL, pub/sub to B."""
    kv = MemoryKeyValue()
    store_a = MemoryDenylistStore()
    a = RevocationList(store_a, kv, max_token_ttl_seconds=600)
    b = RevocationList(MemoryDenylistStore(), kv, max_token_ttl_seconds=600)
    await b.start()
    try:
        await asyncio.sleep(0)
        await a.revoke_family("fam-1")
        entry = store_a.families["fam-1"]
        assert entry.expires_at - entry.revoked_at == timedelta(seconds=660)
        assert await kv.exists(revoked_family_key("fam-1"))
        for _ in range(100):
            if b.family_known_locally("fam-1"):
                break
            await asyncio.sleep(0.01)
        assert b.family_known_locally("fam-1")
        assert not b.known_locally("fam-1")  # a family is not a jti
        assert await b.is_family_revoked("fam-1")
        assert await b.is_token_revoked({"jti": "j", "grant_id": "fam-1"})
        assert not await b.is_token_revoked({"jti": "j", "grant_id": "fam-2"})
        assert not await b.is_token_revoked({"jti": "j"})
    finally:
        await b.close()


async def test_families_survive_a_redis_flush_and_fall_back_to_the_database() -> None:
    store = MemoryDenylistStore()
    await RevocationList(store, BrokenKeyValue(), max_token_ttl_seconds=600).revoke_family("f")
    assert "f" in store.families
    # Redis down: the database answers.
    assert await RevocationList(
        store, BrokenKeyValue(), max_token_ttl_seconds=600
    ).is_family_revoked("f")
    # A fresh replica on an empty KeyValue loads it at start and puts the key back.
    kv = MemoryKeyValue()
    fresh = RevocationList(store, kv, max_token_ttl_seconds=600)
    await fresh.sync()
    assert fresh.family_known_locally("f")
    assert await kv.exists(revoked_family_key("f"))


class PausedKeyValue(MemoryKeyValue):
    """Redis hung, or its circuit open: calls fail while ``away``; a subscription
    already open stays open and hears nothing meanwhile."""

    def __init__(self) -> None:
        super().__init__()
        self.away = False

    def _check(self) -> None:
        if self.away:
            raise TimeoutError("redis does not answer")

    async def get(self, key: str) -> bytes | None:
        self._check()
        return await super().get(key)

    async def set(self, key: str, value: bytes | str, ttl: float | None = None) -> None:
        self._check()
        await super().set(key, value, ttl)

    async def exists(self, key: str) -> bool:
        self._check()
        return await super().exists(key)

    async def publish(self, channel: str, message: str) -> None:
        self._check()
        await super().publish(channel, message)


async def test_what_redis_missed_is_written_once_it_answers() -> None:
    """A revocation made while Redis did not answer reaches the KeyValue (key and
    message) as soon as it answers again, not at the next sync: a replica that has
    not heard of it would otherwise take the missing key for "not revoked"."""
    kv = PausedKeyValue()
    writer = RevocationList(
        MemoryDenylistStore(), kv, max_token_ttl_seconds=600, respread_interval=0.01
    )
    listener = RevocationList(MemoryDenylistStore(), kv, max_token_ttl_seconds=600)
    await writer.start()
    await listener.start()
    try:
        for _ in range(100):  # the listener's subscription is open
            if kv._subscribers.get(CHANNEL):
                break
            await asyncio.sleep(0.01)
        kv.away = True
        exp = utcnow() + timedelta(minutes=5)
        await writer.revoke("jti-1", "svc", exp)
        await writer.revoke_family("fam-1")
        await writer.revoke_principal("subject", "user-1")
        assert await writer.is_revoked("jti-1")  # its own local set
        assert writer.unspread() == 3
        await asyncio.sleep(0.05)
        assert writer.unspread() == 3  # still away: kept, tried again
        kv.away = False
        for _ in range(200):
            if writer.unspread() == 0 and listener.known_locally("jti-1"):
                break
            await asyncio.sleep(0.01)
        assert writer.unspread() == 0
        assert await kv.get(revoked_key("jti-1")) == str(int(exp.timestamp()) + 1).encode()
        assert await kv.exists(revoked_family_key("fam-1"))
        assert await kv.exists(not_before_key("subject", "user-1"))
        # A replica with nothing of its own (another database here) learns it from
        # the KeyValue; one that listens has it locally.
        fresh = RevocationList(MemoryDenylistStore(), kv, max_token_ttl_seconds=600)
        assert await fresh.is_revoked("jti-1")
        assert await fresh.is_family_revoked("fam-1")
        assert listener.known_locally("jti-1") and listener.family_known_locally("fam-1")
        assert listener.not_before_known_locally("subject", "user-1") is not None
    finally:
        await writer.close()
        await listener.close()


class CountingPausedKeyValue(PausedKeyValue):
    def __init__(self) -> None:
        super().__init__()
        self.sets = 0

    async def set(self, key: str, value: bytes | str, ttl: float | None = None) -> None:
        self.sets += 1
        await super().set(key, value, ttl)


async def test_a_start_without_redis_costs_one_call_not_one_per_entry() -> None:
    """Putting the database's entries back into the KeyValue at start: with Redis
    hung, one failed call (a timeout each would keep the replica from starting);
    the rest follows once it answers."""
    store = MemoryDenylistStore()
    writer = RevocationList(store, MemoryKeyValue(), max_token_ttl_seconds=600)
    for n in range(5):
        await writer.revoke(f"jti-{n}", "svc", utcnow() + timedelta(minutes=5))
    await writer.revoke_principal("client", "svc")
    kv = CountingPausedKeyValue()
    kv.away = True
    replica = RevocationList(store, kv, max_token_ttl_seconds=600, respread_interval=0.01)
    await replica.start()
    try:
        assert kv.sets == 1
        assert replica.unspread() == 6
        assert await replica.is_revoked("jti-3")  # its local set, from the database
        kv.away = False
        for _ in range(200):
            if replica.unspread() == 0:
                break
            await asyncio.sleep(0.01)
        assert replica.unspread() == 0
        assert all([await kv.exists(revoked_key(f"jti-{n}")) for n in range(5)])
        assert await kv.exists(not_before_key("client", "svc"))
    finally:
        await replica.close()


async def test_a_not_before_written_again_never_replaces_a_newer_one() -> None:
    kv = PausedKeyValue()
    clock = Clock()
    a = RevocationList(
        MemoryDenylistStore(), kv, max_token_ttl_seconds=600, respread_interval=0.01, clock=clock
    )
    await a.start()
    try:
        kv.away = True
        await a.revoke_principal("subject", "user-1")
        kv.away = False
        # Meanwhile another replica revoked the subject again, later.
        newer = repr((clock.now + timedelta(seconds=30)).timestamp())
        await kv.set(not_before_key("subject", "user-1"), newer, ttl=600)
        for _ in range(200):
            if a.unspread() == 0:
                break
            await asyncio.sleep(0.01)
        assert a.unspread() == 0
        assert await kv.get(not_before_key("subject", "user-1")) == newer.encode()
    finally:
        await a.close()


async def test_after_an_outage_a_missing_key_is_checked_in_the_database() -> None:
    """A revocation made while Redis did not answer is in the database at once but
    reaches Redis only when its replica writes it again: a replica that found Redis
    away does not take the missing key for "not revoked" meanwhile."""
    store = MemoryDenylistStore()  # shared: one database
    kv = PausedKeyValue()
    # The writer never gets to write it again here (a long interval): the gap.
    writer = RevocationList(store, kv, max_token_ttl_seconds=600, respread_interval=3600)
    reader = RevocationList(store, kv, max_token_ttl_seconds=600)
    kv.away = True
    await writer.revoke("jti-1", "svc", utcnow() + timedelta(minutes=5))
    await writer.revoke_principal("subject", "user-1")
    assert writer.unspread() == 2
    assert await reader.is_revoked("jti-1")  # Redis away: the database says so
    kv.away = False  # back, but the key is not written yet
    assert not await kv.exists(revoked_key("jti-1"))
    assert await reader.is_revoked("jti-1")
    claims = {"jti": "other", "sub": "user-1", "iat": int(utcnow().timestamp()) - 5}
    assert await reader.is_token_revoked(claims)
    assert not await reader.is_revoked("jti-2")
    # A replica that never found Redis away trusts it (and its rewrite follows).
    trusting = RevocationList(store, kv, max_token_ttl_seconds=600)
    assert not await trusting.is_revoked("jti-1")


class RoundTripCountingKeyValue(MemoryKeyValue):
    """Counts the calls that would each be a round trip to Redis."""

    def __init__(self) -> None:
        super().__init__()
        self.round_trips: list[str] = []

    async def get(self, key: str) -> bytes | None:
        self.round_trips.append("get")
        return await super().get(key)

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        self.round_trips.append("get_many")
        return [await MemoryKeyValue.get(self, key) for key in keys]

    async def exists(self, key: str) -> bool:
        self.round_trips.append("exists")
        return await super().exists(key)


async def test_one_token_is_checked_in_one_round_trip_and_each_check_still_counts() -> None:
    kv = RoundTripCountingKeyValue()
    store = MemoryDenylistStore()
    writer = RevocationList(store, kv, max_token_ttl_seconds=600)
    reader = RevocationList(store, kv, max_token_ttl_seconds=600)  # never heard a thing
    iat = int(utcnow().timestamp()) - 5
    base = {"jti": "j1", "grant_id": "fam", "sub": "user-1", "client_id": "svc", "iat": iat}
    kv.round_trips.clear()
    assert not await reader.is_token_revoked(base)
    assert kv.round_trips == ["get_many"]
    # Each of the four checks alone makes the token dead, read in that one round trip.
    await writer.revoke("j2", "svc", utcnow() + timedelta(minutes=5))
    await writer.revoke_family("fam-2")
    await writer.revoke_principal("subject", "user-2")
    await writer.revoke_principal("client", "svc-2")
    for changed in (
        {"jti": "j2"},
        {"grant_id": "fam-2"},
        {"sub": "user-2"},
        {"client_id": "svc-2"},
    ):
        fresh = RevocationList(store, kv, max_token_ttl_seconds=600)
        kv.round_trips.clear()
        assert await fresh.is_token_revoked(base | changed), changed
        assert kv.round_trips == ["get_many"], changed
    # A token issued after the not-before lives.
    later = base | {"sub": "user-2", "iat": int(utcnow().timestamp()) + 5}
    assert not await RevocationList(store, kv, max_token_ttl_seconds=600).is_token_revoked(later)
