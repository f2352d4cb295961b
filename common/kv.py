"""Redis, or an in-process stand-in with the same interface for the embedded default.

Services depend on :class:`KeyValue` only. Keys and channels are prefixed with
``redis_key_prefix`` so several deployments (and test runs) can share a server.
The stand-in is correct for one process; the embedded default runs one replica
of each service, which is the only place it is used.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff

from common.deadline import remaining
from common.errors import TemporarilyUnavailable
from common.redis_url import parse_redis_url
from common.settings import CommonSettings
from common.telemetry import instrument_redis

log = logging.getLogger(__name__)

#: GCRA (the generic cell rate algorithm) in one atomic step, on the server's clock so
#: that every replica agrees, for one or several limits applied in order (one round
#: trip for all the limits of a request). KEYS[i] holds limit i's theoretical arrival
#: time (TAT) in microseconds; ARGV[3i-2..3i]: its emission interval (us per request),
#: burst and cost. A request is admitted by a limit when TAT + cost*interval -
#: burst*interval <= now; the key expires when the bucket is full again. The first
#: limit that refuses ends the step, and the limits after it are not counted (as if
#: they had been asked one by one and the caller had stopped there). Returns {0, 0}
#: when every limit admitted, else {i, microseconds until limit i would admit}.
_GCRA_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
for i = 1, #KEYS do
  local interval = tonumber(ARGV[3 * i - 2])
  local burst = tonumber(ARGV[3 * i - 1])
  local cost = tonumber(ARGV[3 * i])
  local tat = tonumber(redis.call('GET', KEYS[i]) or now)
  if tat < now then tat = now end
  local new_tat = tat + cost * interval
  local allow_at = new_tat - burst * interval
  if allow_at > now then
    return {i, allow_at - now}
  end
  redis.call('SET', KEYS[i], new_tat, 'PX', math.max(1, math.ceil((new_tat - now) / 1000)))
end
return {0, 0}
"""

#: INCRBY KEYS[1] by ARGV[1]; a new counter expires in ARGV[2] ms (0: never).
_INCR_LUA = """
local count = redis.call('INCRBY', KEYS[1], ARGV[1])
if tonumber(ARGV[2]) > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2], 'NX')
end
return count
"""


@dataclass(frozen=True, slots=True)
class Cell:
    """One GCRA limit to apply: its key, sustained rate and burst, and the cost of
    this request (:meth:`KeyValue.gcra_all`)."""

    key: str
    rate_per_second: float
    burst: int
    cost: int = 1


class KeyValue(Protocol):
    async def get(self, key: str) -> bytes | None: ...
    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]: ...
    async def set(self, key: str, value: bytes | str, ttl: float | None = None) -> None: ...
    async def set_if_absent(
        self, key: str, value: bytes | str, ttl: float | None = None
    ) -> bool: ...
    async def delete(self, *keys: str) -> int: ...
    async def take(self, key: str) -> bytes | None: ...
    async def exists(self, key: str) -> bool: ...
    async def incr(self, key: str, ttl: float | None = None, amount: int = 1) -> int: ...
    async def gcra_all(self, cells: Sequence[Cell]) -> tuple[int | None, float]: ...
    async def publish(self, channel: str, message: str) -> None: ...
    def subscribe(self, channel: str) -> AsyncIterator[str]: ...
    async def ping(self) -> bool: ...
    async def close(self) -> None: ...


class unavailable_as:
    """Redis down or not answering in time, as ``TemporarilyUnavailable(description)``:
    a 503 with Retry-After for whoever needed it, never a 500. For callers that
    cannot do without the KeyValue (sessions, the login throttle: failing open
    there would let guesses past a lockout); the rate limiter fails open instead."""

    def __init__(self, description: str) -> None:
        self._description = description

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        if isinstance(exc, aioredis.RedisError | OSError | TimeoutError):
            raise TemporarilyUnavailable(
                self._description, detail=f"key-value store: {type(exc).__name__}: {exc}"
            ) from exc


#: A Redis command's timeout when the request's budget (common.deadline) leaves
#: more: Redis answers in well under a millisecond, so this only bounds a hang.
DEFAULT_REDIS_TIMEOUT_SECONDS = 0.5
#: After a command finds Redis away (refused, reset, timed out), the next ones
#: fail at once for this long instead of each waiting out its own timeout; a
#: successful ping (the dependency watch, /ready) ends the pause early.
UNREACHABLE_PAUSE_SECONDS = 1.0
#: On Sentinel and Cluster, a subscriber asks this often whether the primaries are
#: still the ones it subscribed under (:meth:`RedisKeyValue._primary_moved`).
PRIMARY_CHECK_SECONDS = 1.0

_T = TypeVar("_T")


class RedisKeyValue:
    """redis-py asyncio client behind the KeyValue interface.

    Each command has at most ``timeout`` seconds, less when the request's budget
    has less left. When Redis is away the first command to find out pays one
    timeout and the next ones, for :data:`UNREACHABLE_PAUSE_SECONDS`, fail at once
    with ``ConnectionError``: a hung Redis costs a request one short timeout, not
    one per command (the callers decide what a failure means: a 503, failing open
    for the rate limiter, the cache's source of truth)."""

    def __init__(
        self,
        url: str,
        prefix: str,
        *,
        timeout: float = DEFAULT_REDIS_TIMEOUT_SECONDS,
        tls_ca_file: Path | None = None,
        tls_cert_file: Path | None = None,
        tls_key_file: Path | None = None,
    ) -> None:
        target = parse_redis_url(url)
        if target.topology == "cluster" and "{" in prefix:
            # Every key would hash on the prefix's tag: the whole data set on one node.
            raise ValueError("redis_key_prefix must not contain '{' on Redis Cluster")
        tls: dict[str, Any] = {}
        if target.tls:
            if tls_ca_file is not None:
                tls["ssl_ca_certs"] = str(tls_ca_file)
            if tls_cert_file is not None and tls_key_file is not None:
                tls["ssl_certfile"], tls["ssl_keyfile"] = str(tls_cert_file), str(tls_key_file)
        # The socket timeouts are a backstop; asyncio.timeout below is the bound. A
        # command that finds its pooled connection closed (Redis restarted, a failover)
        # is sent again at once on a new one: once, with no backoff, and never after a
        # timeout (a hung Redis is not waited for twice).
        sockets: dict[str, Any] = {
            "socket_timeout": max(2.0, timeout),
            "socket_connect_timeout": max(2.0, timeout),
            "health_check_interval": 30,
        }
        retry = Retry(NoBackoff(), 1, supported_errors=(aioredis.ConnectionError,))
        self._cluster: RedisCluster | None = None
        self._sentinel: Sentinel | None = None
        self._service_name = target.service_name
        self._cluster_ready = False
        #: Connection options of one server, for the plain connection that subscribes
        #: on Redis Cluster (:meth:`subscribe`).
        self._node_options: dict[str, Any] = {}
        self._redis: aioredis.Redis | RedisCluster
        if target.topology == "sentinel":
            # A failover is followed: the pool asks the sentinels for the primary on
            # every new connection, and a connection to a demoted primary (READONLY,
            # or closed by the sentinels) is dropped and the command sent once more.
            self._sentinel = Sentinel(
                list(target.nodes),
                sentinel_kwargs={
                    **sockets,
                    **({"ssl": True} if target.tls else {}),
                    **{k: v for k, v in target.options.items() if k.startswith("ssl_")},
                    **tls,
                    **target.sentinel_options,
                },
                **target.options,
                **tls,
            )
            self._redis = self._sentinel.master_for(target.service_name, **sockets, retry=retry)
        elif target.topology == "cluster":
            self._node_options = {**target.options, **tls, **sockets}
            self._cluster = RedisCluster(
                startup_nodes=[ClusterNode(host, port) for host, port in target.nodes],
                retry=Retry(NoBackoff(), 1),
                **self._node_options,
            )
            self._redis = self._cluster
        else:
            self._redis = aioredis.Redis.from_url(url, **sockets, retry=retry, **tls)
        instrument_redis(self._redis)
        self._prefix = prefix
        self._timeout = timeout
        self._unreachable_until = 0.0
        self._gcra = self._redis.register_script(_GCRA_LUA)
        self._incr_script = self._redis.register_script(_INCR_LUA)

    def _k(self, key: str) -> str:
        return self._prefix + key

    async def _run(self, command: Awaitable[_T]) -> _T:
        if time.monotonic() < self._unreachable_until:
            _close(command)
            raise aioredis.ConnectionError("Redis did not answer a moment ago")
        timeout = remaining(self._timeout)
        if timeout <= 0:
            _close(command)
            raise TimeoutError("the request's deadline has passed")
        if self._cluster is not None and not self._cluster_ready:
            # Learning the slots (CLUSTER SLOTS, a connection to each node) is set-up,
            # not a command: it gets a connection's timeout, once.
            try:
                async with asyncio.timeout(remaining(max(2.0, self._timeout))):
                    await self._cluster.initialize()
            except BaseException:
                _close(command)
                raise
            self._cluster_ready = True
        try:
            async with asyncio.timeout(timeout):
                return await command
        except (aioredis.ConnectionError, aioredis.TimeoutError, OSError, TimeoutError):
            # A timeout cut short by the request's own budget says little about Redis.
            if timeout >= min(self._timeout, _MEANINGFUL_TIMEOUT_SECONDS):
                self._unreachable_until = time.monotonic() + UNREACHABLE_PAUSE_SECONDS
            raise

    async def get(self, key: str) -> bytes | None:
        value = await self._run(self._redis.get(self._k(key)))
        return value.encode() if isinstance(value, str) else value

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """The values of ``keys`` in one round trip (MGET), None where absent."""
        if not keys:
            return []
        prefixed = [self._k(key) for key in keys]
        if self._cluster is not None:
            # One MGET per slot, sent to their nodes at once; each value is judged
            # alone by every caller, so the read need not be atomic across slots.
            values = await self._run(self._cluster.mget_nonatomic(prefixed))
        else:
            values = await self._run(self._redis.mget(prefixed))
        return [value.encode() if isinstance(value, str) else value for value in values]

    async def set(self, key: str, value: bytes | str, ttl: float | None = None) -> None:
        await self._run(self._redis.set(self._k(key), value, px=_ms(ttl)))

    async def set_if_absent(self, key: str, value: bytes | str, ttl: float | None = None) -> bool:
        return bool(await self._run(self._redis.set(self._k(key), value, px=_ms(ttl), nx=True)))

    async def delete(self, *keys: str) -> int:
        if not keys:
            return 0
        return int(await self._run(self._redis.delete(*(self._k(k) for k in keys))))

    async def take(self, key: str) -> bytes | None:
        """The value, deleted in the same step (GETDEL): of two callers, one gets it."""
        value = await self._run(self._redis.getdel(self._k(key)))
        return value.encode() if isinstance(value, str) else value

    async def exists(self, key: str) -> bool:
        return bool(await self._run(self._redis.exists(self._k(key))))

    async def incr(self, key: str, ttl: float | None = None, amount: int = 1) -> int:
        # One script (INCRBY, then PEXPIRE NX): atomic on one server and on Cluster
        # alike, where a MULTI pipeline is not.
        ttl_ms = max(1, int(ttl * 1000)) if ttl else 0
        return int(await self._run(self._incr_script(keys=[self._k(key)], args=[amount, ttl_ms])))

    async def gcra_all(self, cells: Sequence[Cell]) -> tuple[int | None, float]:
        """Each limit in order, atomically and in one round trip (EVALSHA): (None, 0)
        when every one admitted the request, else (the index of the first that
        refused, seconds until it would admit); the limits after it are not counted.

        On Redis Cluster one script runs over each run of consecutive keys in one
        slot (keys sharing a hash tag ``{...}``), the runs one after the other: the
        same answer, a round trip per run."""
        start = 0
        for group in _same_slot_runs([self._k(cell.key) for cell in cells], self._cluster):
            args: list[int] = []
            for cell in cells[start : start + len(group)]:
                args += (_interval_us(cell.rate_per_second), cell.burst, cell.cost)
            refused, wait_us = await self._run(self._gcra(keys=group, args=args))
            if refused:
                return start + int(refused) - 1, int(wait_us) / 1_000_000
            start += len(group)
        return None, 0.0

    async def publish(self, channel: str, message: str) -> None:
        await self._run(self._redis.publish(self._k(channel), message))

    async def subscribe(self, channel: str) -> AsyncIterator[str]:
        node: aioredis.Redis | None = None
        if self._cluster is not None:
            # Cluster delivers a PUBLISH on any node to the subscribers of every node:
            # a plain connection to the primary of the channel's slot (which spreads
            # the channels over the nodes) is enough, on any redis-py version.
            await self._run(asyncio.sleep(0))  # the slots, learnt once
            primary = self._cluster.get_node_from_key(self._k(channel))
            if primary is None:
                raise aioredis.ConnectionError(f"no Cluster node serves channel {channel}")
            node = aioredis.Redis(host=primary.host, port=int(primary.port), **self._node_options)
            pubsub = node.pubsub(ignore_subscribe_messages=True)
        else:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        primaries = await self._cluster_primaries()
        try:
            await pubsub.subscribe(self._k(channel))
            checked_at = time.monotonic()
            while True:
                message = await pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=PRIMARY_CHECK_SECONDS
                )
                if message and message.get("type") == "message":
                    data = message["data"]
                    yield data.decode() if isinstance(data, bytes) else str(data)
                if time.monotonic() - checked_at >= PRIMARY_CHECK_SECONDS:
                    checked_at = time.monotonic()
                    if await self._primary_moved(pubsub, primaries):
                        raise aioredis.ConnectionError("the Redis primary changed (a failover)")
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
            if node is not None:
                with contextlib.suppress(Exception):
                    await node.aclose()

    async def _primary_moved(self, pubsub: PubSub, primaries: frozenset[str] | None) -> bool:
        """Whether the sentinels name another primary than the one ``pubsub`` listens
        on, or on Cluster whether the primaries are other than ``primaries`` (those at
        the start of the subscription). A failover closes the old primary's ordinary
        connections but not its subscribers, who would go on hearing messages through
        replication or the cluster bus and never learn that writes may have been
        lost: their subscription is ended instead, so that they resubscribe (to the
        new primary) and report the gap (:func:`follow_channel`)."""
        if self._cluster is not None:
            now = await self._cluster_primaries()
            return primaries is not None and now is not None and now != primaries
        connection = pubsub.connection
        if self._sentinel is None or connection is None:
            return False
        try:
            async with asyncio.timeout(self._timeout):
                host, port = await self._sentinel.discover_master(self._service_name)
        except (aioredis.RedisError, OSError, TimeoutError):
            return False  # no answer is no news: the subscription still works
        where = (getattr(connection, "host", None), getattr(connection, "port", None))
        return where != (host, int(port))

    async def _cluster_primaries(self) -> frozenset[str] | None:
        """The addresses of the Cluster's primaries that are not failing (CLUSTER
        NODES of one node); None when not on Cluster or no node answered."""
        if self._cluster is None:
            return None
        try:
            async with asyncio.timeout(self._timeout):
                nodes = await self._cluster.cluster_nodes()
        except (aioredis.RedisError, OSError, TimeoutError):
            return None
        return frozenset(
            address
            for address, node in nodes.items()
            if "master" in str(node.get("flags", "")) and "fail" not in str(node.get("flags", ""))
        )

    async def ping(self) -> bool:
        """Whether Redis answers now, past any pause; an answer ends the pause."""
        try:
            async with asyncio.timeout(remaining(self._timeout)):
                answered = bool(await self._redis.ping())
        except (aioredis.RedisError, OSError, TimeoutError):
            return False
        if answered:
            self._unreachable_until = 0.0
        return answered

    async def close(self) -> None:
        await self._redis.aclose()
        if self._sentinel is not None:
            for sentinel in self._sentinel.sentinels:
                with contextlib.suppress(Exception):
                    await sentinel.aclose()


def _same_slot_runs(keys: list[str], cluster: RedisCluster | None) -> list[list[str]]:
    """``keys`` cut into runs of consecutive keys in one hash slot (one run when not
    on Cluster, where any keys go together)."""
    if cluster is None or not keys:
        return [keys]
    runs: list[list[str]] = []
    last_slot = -1
    for key in keys:
        slot = cluster.keyslot(key)
        if runs and slot == last_slot:
            runs[-1].append(key)
        else:
            runs.append([key])
        last_slot = slot
    return runs


#: Below this, a timeout is the request's budget running out, not Redis hanging.
_MEANINGFUL_TIMEOUT_SECONDS = 0.1


def _close(command: Awaitable[object]) -> None:
    """A command coroutine that will not be awaited: closed, so no warning says so."""
    if inspect.iscoroutine(command):
        command.close()


class MemoryKeyValue:
    """The in-process stand-in: a dict with expiry and local pub/sub."""

    def __init__(self) -> None:
        self._data: dict[str, tuple[bytes, float | None]] = {}
        self._subscribers: dict[str, set[asyncio.Queue[str]]] = {}
        self._gcra_calls = 0

    def _live(self, key: str) -> bytes | None:
        item = self._data.get(key)
        if item is None:
            return None
        value, expires = item
        if expires is not None and expires <= time.monotonic():
            del self._data[key]
            return None
        return value

    async def get(self, key: str) -> bytes | None:
        return self._live(key)

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        return [await self.get(key) for key in keys]

    async def set(self, key: str, value: bytes | str, ttl: float | None = None) -> None:
        raw = value.encode() if isinstance(value, str) else value
        self._data[key] = (raw, time.monotonic() + ttl if ttl else None)

    async def set_if_absent(self, key: str, value: bytes | str, ttl: float | None = None) -> bool:
        if self._live(key) is not None:
            return False
        await self.set(key, value, ttl)
        return True

    async def delete(self, *keys: str) -> int:
        removed = 0
        for key in keys:
            if self._live(key) is not None:
                removed += 1
            self._data.pop(key, None)
        return removed

    async def take(self, key: str) -> bytes | None:
        value = self._live(key)
        self._data.pop(key, None)
        return value

    async def exists(self, key: str) -> bool:
        return self._live(key) is not None

    async def incr(self, key: str, ttl: float | None = None, amount: int = 1) -> int:
        current = self._live(key)
        count = int(current or b"0") + amount
        expires = self._data[key][1] if current is not None else None
        if expires is None and ttl:
            expires = time.monotonic() + ttl
        self._data[key] = (str(count).encode(), expires)
        return count

    async def gcra_all(self, cells: Sequence[Cell]) -> tuple[int | None, float]:
        # The same arithmetic as _GCRA_LUA, on the monotonic clock; no await between
        # reading and writing, so it is atomic within the event loop.
        self._gcra_calls += 1
        if self._gcra_calls % _SWEEP_EVERY == 0:
            self._sweep()
        now = int(time.monotonic() * 1_000_000)
        for index, cell in enumerate(cells):
            interval = _interval_us(cell.rate_per_second)
            stored = self._live(cell.key)
            tat = max(int(stored) if stored is not None else now, now)
            new_tat = tat + cell.cost * interval
            allow_at = new_tat - cell.burst * interval
            if allow_at > now:
                return index, (allow_at - now) / 1_000_000
            expires = time.monotonic() + (new_tat - now) / 1e6
            self._data[cell.key] = (str(new_tat).encode(), expires)
        return None, 0.0

    def _sweep(self) -> None:
        """Drop expired keys: rate-limit keys are many (one per address or username)
        and most are never read again, so expiring on read alone would keep them."""
        now = time.monotonic()
        for key in [k for k, (_, expires) in self._data.items() if expires and expires <= now]:
            del self._data[key]

    async def publish(self, channel: str, message: str) -> None:
        for queue in list(self._subscribers.get(channel, ())):
            queue.put_nowait(message)

    async def subscribe(self, channel: str) -> AsyncIterator[str]:
        queue: asyncio.Queue[str] = asyncio.Queue()
        self._subscribers.setdefault(channel, set()).add(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._subscribers[channel].discard(queue)

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        self._data.clear()


async def follow_channel(
    kv: KeyValue,
    channel: str,
    on_message: Callable[[str], Awaitable[None]],
    on_gap: Callable[[], Awaitable[None]],
    *,
    resubscribe_delay: float = 1.0,
    on_lost: Callable[[], None] | None = None,
) -> None:
    """Handle every message on ``channel`` for as long as the task runs. Pub/sub
    delivers at most once: when the subscription drops, ``on_lost`` is called at
    once (if given), then after a pause ``on_gap`` so the caller reloads what it may
    have missed from its durable source, and the channel is subscribed again."""
    while True:
        try:
            async for message in kv.subscribe(channel):
                await on_message(message)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("subscription to %s lost; resubscribing", channel)
        if on_lost is not None:
            on_lost()
        await asyncio.sleep(resubscribe_delay)
        with contextlib.suppress(Exception):
            await on_gap()


#: Calls of MemoryKeyValue.gcra between two sweeps of expired keys.
_SWEEP_EVERY = 1024


def _interval_us(rate_per_second: float) -> int:
    if rate_per_second <= 0:
        raise ValueError("rate_per_second must be positive")
    return max(1, round(1_000_000 / rate_per_second))


def _ms(ttl: float | None) -> int | None:
    return max(1, int(ttl * 1000)) if ttl else None


def create_kv(settings: CommonSettings) -> KeyValue:
    if settings.redis_url:
        return RedisKeyValue(
            settings.redis_url,
            settings.redis_key_prefix,
            timeout=settings.redis_timeout_seconds,
            tls_ca_file=settings.redis_tls_ca_file,
            tls_cert_file=settings.redis_tls_cert_file,
            tls_key_file=settings.redis_tls_key_file,
        )
    return MemoryKeyValue()
