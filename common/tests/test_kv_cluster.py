"""The KeyValue on Redis Cluster (redis+cluster://): the contract of test_kv.py
across three primaries, multi-key commands over several slots, and pub/sub."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.crc import key_slot

from common.kv import Cell, KeyValue, RedisKeyValue, follow_channel

# The contract of test_kv.py, run here on the `kv` fixture below.
from common.tests.test_kv import (  # noqa: F401
    gcra,
    test_expiry,
    test_gcra_all_applies_the_limits_in_order_and_stops_at_the_first_refusal,
    test_gcra_cost_and_keys_apart,
    test_gcra_is_atomic_under_concurrency,
    test_get_many_reads_several_keys_at_once,
    test_publish_reaches_subscribers,
    test_set_get_delete,
    test_set_if_absent_and_incr,
    test_take_gives_a_value_once,
)
from gateway.ratelimit import CLIENT_PER_ADDRESS, OAUTH_PER_ADDRESS, TOKEN_PER_CLIENT, _key
from tests.redis_topologies import Cluster, redis_cluster

#: Minutes of the suite's time: make test-slow (and CI) runs it, make test does not.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with redis_cluster(tmp_path_factory.mktemp("cluster")) as running:
        yield running


@pytest.fixture
async def kv(cluster: Cluster) -> AsyncIterator[KeyValue]:
    store = RedisKeyValue(cluster.url, f"t{uuid.uuid4().hex[:6]}:", timeout=2.0)
    yield store
    await store.close()


def _slots(prefix: str, keys: list[str]) -> set[int]:
    return {key_slot((prefix + key).encode()) for key in keys}


async def test_multi_key_commands_span_slots(cluster: Cluster) -> None:
    prefix = f"t{uuid.uuid4().hex[:6]}:"
    kv = RedisKeyValue(cluster.url, prefix)
    keys = [f"revoked:{n}" for n in range(20)]
    assert len(_slots(prefix, keys)) > 1
    try:
        for n, key in enumerate(keys[::2]):
            await kv.set(key, str(n))
        values = await kv.get_many(keys)
        assert values == [str(n // 2).encode() if n % 2 == 0 else None for n in range(20)]
        assert await kv.delete(*keys) == 10
        assert await kv.get_many(keys) == [None] * 20
        # The keys landed on more than one node: the load spreads.
        client = cluster.client()
        nodes = {client.get_node_from_key(prefix + key).name for key in keys}  # type: ignore[no-untyped-call]
        assert len(nodes) > 1
    finally:
        await kv.close()


async def test_gcra_all_over_several_slots_stops_at_the_first_refusal(cluster: Cluster) -> None:
    prefix = f"t{uuid.uuid4().hex[:6]}:"
    kv = RedisKeyValue(cluster.url, prefix)
    a, b = "ratelimit:x:{aaa}", "ratelimit:x:{bbb}"
    assert len(_slots(prefix, [a, b])) == 2
    try:
        assert await kv.gcra_all([Cell(a, 0.01, 1), Cell(b, 0.01, 2)]) == (None, 0.0)
        index, wait = await kv.gcra_all([Cell(a, 0.01, 1), Cell(b, 0.01, 2)])
        assert index == 0 and wait > 0
        # The refused call did not count against b: it has one request left.
        assert (await gcra(kv, b, 0.01, 2))[0]
        assert not (await gcra(kv, b, 0.01, 2))[0]
    finally:
        await kv.close()


def test_rate_limit_keys_of_one_identity_share_a_slot() -> None:
    """The two per-address limits of a token request naming no client run in one
    script; different addresses and clients hash apart."""
    address = "192.0.2.7"
    assert key_slot(_key(OAUTH_PER_ADDRESS, address).encode()) == key_slot(
        _key(CLIENT_PER_ADDRESS, address).encode()
    )
    slots = {key_slot(_key(TOKEN_PER_CLIENT, f"client-{n}").encode()) for n in range(20)}
    assert len(slots) > 10


async def test_follow_channel_on_cluster_hears_every_publisher(cluster: Cluster) -> None:
    """A subscriber on one node hears messages published through another
    process's client, on whichever node that one sends them to."""
    prefix = f"t{uuid.uuid4().hex[:6]}:"
    subscriber = RedisKeyValue(cluster.url, prefix)
    publishers = [RedisKeyValue(cluster.url, prefix) for _ in range(3)]
    received: list[str] = []

    async def on_message(message: str) -> None:
        received.append(message)

    async def on_gap() -> None:
        return None

    task = asyncio.create_task(follow_channel(subscriber, "changes", on_message, on_gap))
    try:
        for _ in range(100):
            await publishers[0].publish("changes", "probe")
            await asyncio.sleep(0.05)
            if received:
                break
        for n, publisher in enumerate(publishers):
            await publisher.publish("changes", f"m{n}")
        for _ in range(100):
            if {"m0", "m1", "m2"} <= set(received):
                break
            await asyncio.sleep(0.05)
        assert {"m0", "m1", "m2"} <= set(received)
        # The channel carries the prefix: raw publishes elsewhere are not heard.
        raw = cluster.client()
        raw.publish("changes", "unprefixed")
        raw.publish(prefix + "changes", "prefixed")
        for _ in range(100):
            if "prefixed" in received:
                break
            await asyncio.sleep(0.05)
        assert "prefixed" in received and "unprefixed" not in received
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await subscriber.close()
        for publisher in publishers:
            await publisher.close()


def test_a_prefix_with_a_hash_tag_is_refused_on_cluster(cluster: Cluster) -> None:
    with pytest.raises(ValueError, match="must not contain"):
        RedisKeyValue(cluster.url, "oauth2:{all}:")


async def test_a_cluster_failover_ends_the_subscription(tmp_path: Path) -> None:
    """A subscriber hears of a failover anywhere in the cluster (a replica taking
    over a primary), though its own connection survives it: the subscription ends,
    the gap is reported, and messages flow again."""
    with redis_cluster(tmp_path, replicas=1) as running:
        kv = RedisKeyValue(running.url, "t:", timeout=2.0)
        received: list[str] = []
        lost: list[float] = []
        gaps: list[float] = []

        async def on_message(message: str) -> None:
            received.append(message)

        async def on_gap() -> None:
            gaps.append(time.monotonic())

        task = asyncio.create_task(
            follow_channel(
                kv, "chan", on_message, on_gap, resubscribe_delay=0.2,
                on_lost=lambda: lost.append(time.monotonic()),
            )
        )  # fmt: skip
        try:
            await _heard(kv, received, "before")
            await asyncio.to_thread(running.failover)
            for _ in range(100):
                if gaps:
                    break
                await asyncio.sleep(0.1)
            assert lost and gaps, "the failover was not reported"
            await _heard(kv, received, "after")
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await kv.close()


async def _heard(kv: KeyValue, received: list[str], message: str) -> None:
    for _ in range(100):
        await kv.publish("chan", message)
        await asyncio.sleep(0.1)
        if message in received:
            return
    raise AssertionError(f"{message!r} never heard")
