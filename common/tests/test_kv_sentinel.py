"""The KeyValue on Redis Sentinel (redis+sentinel://): the contract of test_kv.py
on a primary found through a sentinel, and a failover followed."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis

from common.kv import Cell, KeyValue, RedisKeyValue, follow_channel

# The contract of test_kv.py, run here on the `kv` fixture below.
from common.tests.test_kv import (  # noqa: F401
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
from tests.redis_topologies import SentinelGroup, sentinel_group

#: Minutes of the suite's time: make test-slow (and CI) runs it, make test does not.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sentinel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelGroup]:
    with sentinel_group(tmp_path_factory.mktemp("sentinel")) as group:
        yield group


@pytest.fixture
async def kv(sentinel: SentinelGroup) -> AsyncIterator[KeyValue]:
    # Every new connection first asks a sentinel where the primary is: 50 commands on
    # a cold pool at once (the concurrency test) take longer than the 0.5 s default on
    # a busy machine, so this contract runs with a longer command timeout.
    store = RedisKeyValue(sentinel.url, f"t{uuid.uuid4().hex[:6]}:", timeout=2.0)
    yield store
    await store.close()


async def _eventually(what: str, check: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if callable(check) and await check():
                return
        except (redis.RedisError, OSError, TimeoutError):
            pass
        await asyncio.sleep(0.1)
    raise AssertionError(f"never: {what}")


async def test_commands_reach_the_primary_the_sentinel_names(sentinel: SentinelGroup) -> None:
    prefix = f"t{uuid.uuid4().hex[:6]}:"
    kv = RedisKeyValue(sentinel.url, prefix)
    try:
        await kv.set("where", "primary")
        _, port = sentinel.primary()
        assert sentinel.node(port).get(prefix + "where") == b"primary"
        assert await kv.gcra_all([Cell("a", 1, 1), Cell("b", 1, 1)]) == (None, 0.0)
        assert sentinel.node(port).exists(prefix + "a", prefix + "b") == 2
    finally:
        await kv.close()


async def test_a_failover_is_followed(sentinel: SentinelGroup) -> None:
    """After SENTINEL FAILOVER the client writes to the new primary, what was
    replicated before is still read, and the subscription comes back (reporting
    the gap) without anyone restarting anything."""
    prefix = f"t{uuid.uuid4().hex[:6]}:"
    kv = RedisKeyValue(sentinel.url, prefix)
    publisher = RedisKeyValue(sentinel.url, prefix)
    received: list[str] = []
    gaps: list[float] = []
    lost: list[float] = []

    async def on_message(message: str) -> None:
        received.append(message)

    async def on_gap() -> None:
        gaps.append(time.monotonic())

    follower = asyncio.create_task(
        follow_channel(
            kv, "chan", on_message, on_gap, resubscribe_delay=0.2,
            on_lost=lambda: lost.append(time.monotonic()),
        )
    )  # fmt: skip
    try:
        await kv.set("before", "1")
        await _eventually("a message before", lambda: _publish_seen(publisher, received, "m1"))
        sentinel.node(sentinel.primary()[1]).execute_command("WAIT", 1, 2000)  # type: ignore[no-untyped-call]
        old = sentinel.primary()
        new = sentinel.failover()
        assert new != old
        # Until the sentinel has turned the old primary into a replica, a pooled
        # connection may still write to it (and the write is lost): the client moves
        # over when that connection is closed or answers READONLY.
        await _eventually(
            "writes reach the new primary",
            lambda: _set_on(kv, sentinel.node(new[1]), prefix, "after", "2"),
        )
        assert await kv.get("before") == b"1"
        assert await kv.incr("n") == 1
        await _eventually("a message after", lambda: _publish_seen(publisher, received, "m2"))
        assert lost and gaps, "the dropped subscription was not reported"
    finally:
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)
        await kv.close()
        await publisher.close()


async def _set_on(kv: KeyValue, node: redis.Redis, prefix: str, key: str, value: str) -> bool:
    await kv.set(key, value)
    return bool(node.get(prefix + key) == value.encode())


async def _publish_seen(publisher: KeyValue, received: list[str], message: str) -> bool:
    if message not in received:
        await publisher.publish("chan", message)
        await asyncio.sleep(0.2)
    return message in received


def test_tmp_dir_is_left_clean(tmp_path: Path) -> None:
    """The helper stops every server it started: no redis-server is left on its ports."""
    with sentinel_group(tmp_path) as group:
        ports = list(group.processes)
        processes = list(group.processes.values())
    assert all(proc.poll() is not None for proc in processes)
    for port in ports:
        with pytest.raises(redis.ConnectionError):
            redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1).ping()
