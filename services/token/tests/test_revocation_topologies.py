"""Revocation on Redis Sentinel and Redis Cluster: fan-out between replicas, and a
Sentinel failover during a bounded load of revocations loses none.

"Loses no revocation" means: every revocation whose call returned (its row is in
PostgreSQL, written first) is refused by every token replica after the failover,
including one that checks the KeyValue rather than its local set, even when the
failover dropped the writes the old primary acknowledged last (replication is
asynchronous). services/token/domain/denylist.py says how.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy.ext.asyncio import AsyncEngine

from common.kv import RedisKeyValue
from services.token.domain.denylist import CHANNEL, DISTRUST_AFTER_OUTAGE_SECONDS
from services.token.tests.test_revocation_spread import Replica, token_jti
from tests.redis_topologies import Cluster, SentinelGroup, redis_cluster, sentinel_group

#: Tokens revoked in the load, and when (by count) the failover is forced.
LOAD = 40
FAILOVER_AFTER = 10


#: Minutes of the suite's time: make test-slow (and CI) runs it, make test does not.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sentinel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelGroup]:
    with sentinel_group(tmp_path_factory.mktemp("sentinel")) as group:
        yield group


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with redis_cluster(tmp_path_factory.mktemp("cluster")) as running:
        yield running


async def _subscribed(node: redis.Redis, channel: str, count: int) -> None:
    for _ in range(300):
        numsub = dict(node.pubsub_numsub(channel))
        if numsub.get(channel.encode(), 0) >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{count} subscribers never joined {channel}")


async def test_a_sentinel_failover_during_revocations_loses_none(
    sentinel: SentinelGroup, shared_engine: AsyncEngine, kek: bytes
) -> None:
    prefix = f"t{uuid.uuid4().hex[:6]}:"
    a = await Replica(shared_engine, RedisKeyValue(sentinel.url, prefix), kek).start()
    b = await Replica(shared_engine, RedisKeyValue(sentinel.url, prefix), kek).start()
    try:
        await _subscribed(sentinel.node(sentinel.primary()[1]), prefix + CHANNEL, 2)
        kept = [await a.issue() for _ in range(3)]
        tokens = [await a.issue() for _ in range(LOAD)]
        revoked: list[str] = []
        failover: asyncio.Task[tuple[str, int]] | None = None
        started = time.monotonic()
        for n, token in enumerate(tokens):
            if n == FAILOVER_AFTER:
                failover = asyncio.create_task(asyncio.to_thread(sentinel.failover))
            # Both replicas revoke, so each has revocations the other learns only
            # through the message, the key or the database.
            await (a if n % 2 else b).revoke(token)
            revoked.append(token)
            await asyncio.sleep(0.05)
        assert failover is not None
        new_primary = await failover
        assert time.monotonic() - started < 60
        # The worst a failover can do: the new primary has none of the keys (the
        # old one acknowledged them, and they had not reached its replica yet).
        new = sentinel.node(new_primary[1])
        lost = [prefix + "revoked:" + token_jti(token) for token in revoked]
        new.delete(*lost)
        # The replicas move their subscriptions to the new primary and write the
        # recent revocations again from the database (twice, the second time
        # DISTRUST_AFTER_OUTAGE_SECONDS / 2 later).
        await _subscribed(new, prefix + CHANNEL, 2)
        deadline = time.monotonic() + DISTRUST_AFTER_OUTAGE_SECONDS
        while time.monotonic() < deadline and new.exists(*lost) < len(lost):
            await asyncio.sleep(0.2)
        assert new.exists(*lost) == len(lost), "revocation keys were not written again"
        # A replica that missed every message (its local set emptied) still
        # refuses every revoked token, now from the KeyValue alone.
        for replica in (a, b):
            replica.revocations._local.clear()
        for token in revoked:
            assert not await a.active(token), "a revoked token is active on A"
            assert not await b.active(token), "a revoked token is active on B"
        for token in kept:
            assert await a.active(token) and await b.active(token)
    finally:
        await a.stop()
        await b.stop()


async def test_revocation_fans_out_on_cluster(
    cluster: Cluster, shared_engine: AsyncEngine, kek: bytes
) -> None:
    prefix = f"t{uuid.uuid4().hex[:6]}:"
    a = await Replica(shared_engine, RedisKeyValue(cluster.url, prefix), kek).start()
    b = await Replica(shared_engine, RedisKeyValue(cluster.url, prefix), kek).start()
    try:
        token = await a.issue()
        assert await b.active(token)
        # Wait until B's subscriber is up: a message then reaches its local set.
        probe = await a.issue()
        await a.revoke(probe)
        for _ in range(200):
            if b.revocations.known_locally(token_jti(probe)):
                break
            await a.kv.publish(CHANNEL, token_jti(probe))
            await asyncio.sleep(0.05)
        await a.revoke(token)
        # At once through the KeyValue (one MGET over keys in different slots)...
        assert not await b.active(token)
        # ...and through pub/sub into B's local set.
        for _ in range(200):
            if b.revocations.known_locally(token_jti(token)):
                break
            await asyncio.sleep(0.02)
        assert b.revocations.known_locally(token_jti(token))
    finally:
        await a.stop()
        await b.stop()


async def test_a_cluster_failover_loses_no_revocation(
    tmp_path: Path, shared_engine: AsyncEngine, kek: bytes
) -> None:
    """The same on Cluster: a replica takes over a primary (CLUSTER FAILOVER) after
    revocations whose keys the cluster then lacks; every replica writes them again
    and refuses every revoked token."""
    with redis_cluster(tmp_path, replicas=1) as running:
        prefix = f"t{uuid.uuid4().hex[:6]}:"
        a = await Replica(
            shared_engine, RedisKeyValue(running.url, prefix, timeout=2.0), kek
        ).start()
        b = await Replica(
            shared_engine, RedisKeyValue(running.url, prefix, timeout=2.0), kek
        ).start()
        try:
            kept = await a.issue()
            revoked = [await a.issue() for _ in range(10)]
            for n, token in enumerate(revoked):
                await (a if n % 2 else b).revoke(token)
            await asyncio.to_thread(running.failover)
            raw = running.client()
            lost = [prefix + "revoked:" + token_jti(token) for token in revoked]
            for key in lost:
                raw.delete(key)
            deadline = time.monotonic() + 2 * DISTRUST_AFTER_OUTAGE_SECONDS
            while time.monotonic() < deadline and sum(raw.exists(k) for k in lost) < len(lost):
                await asyncio.sleep(0.2)
            assert sum(raw.exists(k) for k in lost) == len(lost), "keys were not written again"
            for replica in (a, b):
                replica.revocations._local.clear()
            for token in revoked:
                assert not await a.active(token) and not await b.active(token)
            assert await a.active(kept) and await b.active(kept)
        finally:
            await a.stop()
            await b.stop()
