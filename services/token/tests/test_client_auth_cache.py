"""CachingClientAuthenticator: repeated successes skip the clients service; any change
of the client's generation, the TTL, the LRU bound or Redis away sends it there again."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from prometheus_client import REGISTRY

from common.client_generation import CHANGES_CHANNEL, generation_key, new_generation
from common.errors import InvalidClient
from common.kv import KeyValue, MemoryKeyValue, RedisKeyValue
from common.timeutil import utcnow
from services.token.app import build_authenticator
from services.token.client_auth_cache import CachingClientAuthenticator
from services.token.domain.ports import AuthenticatedClient, ClientCredentials
from services.token.settings import TokenSettings

SVC = ClientCredentials("svc", "s3cret", "client_secret_basic")


class Registry:
    """The clients service as the token service sees it: one secret per client,
    counting the calls that reach it."""

    def __init__(self) -> None:
        self.secrets = {"svc": "s3cret", "other": "0ther"}
        self.expire_at: datetime | None = None
        self.dpop_bound_access_tokens = False
        self.calls = 0

    async def authenticate(self, credentials: ClientCredentials) -> AuthenticatedClient:
        self.calls += 1
        if self.secrets.get(credentials.client_id) != credentials.client_secret:
            raise InvalidClient("Client authentication failed")
        return AuthenticatedClient(
            client_id=credentials.client_id,
            token_endpoint_auth_method=credentials.auth_method,
            grant_types=("client_credentials",),
            credentials_expire_at=self.expire_at,
            dpop_bound_access_tokens=self.dpop_bound_access_tokens,
        )


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "redis"])
async def kv(request: pytest.FixtureRequest) -> AsyncIterator[KeyValue]:
    if request.param == "memory":
        yield MemoryKeyValue()
        return
    redis_url: str = request.getfixturevalue("redis_url")
    prefix: str = request.getfixturevalue("redis_prefix")
    store = RedisKeyValue(redis_url, prefix + f"authcache{id(request)}:")
    yield store
    await store.close()


def cache(
    registry: Registry, kv: KeyValue, *, ttl: float = 30, max_entries: int = 100
) -> tuple[CachingClientAuthenticator, Clock]:
    clock = Clock()
    return (
        CachingClientAuthenticator(registry, kv, ttl=ttl, max_entries=max_entries, monotonic=clock),
        clock,
    )


def lookups(result: str) -> float:
    name = "oauth2_token_client_auth_cache_lookups_total"
    return REGISTRY.get_sample_value(name, {"result": result}) or 0.0


def invalidations(reason: str) -> float:
    name = "oauth2_token_client_auth_cache_invalidations_total"
    return REGISTRY.get_sample_value(name, {"reason": reason}) or 0.0


async def test_a_repeated_success_is_a_hit(kv: KeyValue) -> None:
    registry = Registry()
    authenticator, _ = cache(registry, kv)
    hits, misses = lookups("hit"), lookups("miss")
    first = await authenticator.authenticate(SVC)
    for _ in range(4):
        assert await authenticator.authenticate(SVC) == first
    assert registry.calls == 1
    assert (lookups("hit") - hits, lookups("miss") - misses) == (4, 1)


async def test_a_hit_is_the_whole_client(kv: KeyValue) -> None:
    """What the token endpoint reads of the client is served from here as the clients
    service answered it, its RFC 9449 section 5.2 dpop_bound_access_tokens too."""
    registry = Registry()
    registry.dpop_bound_access_tokens = True
    authenticator, _ = cache(registry, kv)
    first = await authenticator.authenticate(SVC)
    hit = await authenticator.authenticate(SVC)
    assert registry.calls == 1
    assert hit == first and hit.dpop_bound_access_tokens is True


async def test_another_secret_or_method_is_a_miss(kv: KeyValue) -> None:
    registry = Registry()
    authenticator, _ = cache(registry, kv)
    await authenticator.authenticate(SVC)
    with pytest.raises(InvalidClient):
        await authenticator.authenticate(ClientCredentials("svc", "guess", "client_secret_basic"))
    await authenticator.authenticate(ClientCredentials("svc", "s3cret", "client_secret_post"))
    await authenticator.authenticate(ClientCredentials("other", "0ther", "client_secret_basic"))
    assert registry.calls == 4


async def test_failures_are_never_cached(kv: KeyValue) -> None:
    registry = Registry()
    authenticator, _ = cache(registry, kv)
    wrong = ClientCredentials("svc", "guess", "client_secret_basic")
    for _ in range(3):
        with pytest.raises(InvalidClient):
            await authenticator.authenticate(wrong)
    assert registry.calls == 3  # each one reached the clients service, which counts them
    assert len(authenticator) == 0


async def test_the_secret_itself_is_not_kept(kv: KeyValue) -> None:
    authenticator, _ = cache(Registry(), kv)
    await authenticator.authenticate(SVC)
    ((key, _entry),) = authenticator._entries.items()
    assert SVC.client_secret.encode() not in key[2] and len(key[2]) == 32


async def test_a_new_generation_drops_the_entry(kv: KeyValue) -> None:
    """A change of the client (written by the clients service before it answers)
    sends the very next lookup to the clients service, which now refuses."""
    registry = Registry()
    authenticator, _ = cache(registry, kv)
    await authenticator.authenticate(SVC)
    await authenticator.authenticate(SVC)
    dropped = invalidations("generation")

    registry.secrets["svc"] = "rotated"
    await kv.set(generation_key("svc"), new_generation())
    with pytest.raises(InvalidClient):
        await authenticator.authenticate(SVC)
    assert invalidations("generation") - dropped == 1
    assert registry.calls == 2

    # The new secret is cached under the new generation, and the next change drops it too.
    new = ClientCredentials("svc", "rotated", "client_secret_basic")
    await authenticator.authenticate(new)
    await authenticator.authenticate(new)
    assert registry.calls == 3
    await kv.set(generation_key("svc"), new_generation())
    await authenticator.authenticate(new)
    assert registry.calls == 4


async def test_a_lost_generation_key_drops_the_entry(kv: KeyValue) -> None:
    """Redis restarted without its data: the generation an entry saw is gone, so
    the entry is not trusted."""
    registry = Registry()
    authenticator, _ = cache(registry, kv)
    await kv.set(generation_key("svc"), new_generation())
    await authenticator.authenticate(SVC)
    await kv.delete(generation_key("svc"))
    await authenticator.authenticate(SVC)
    assert registry.calls == 2


async def test_entries_expire_with_the_ttl(kv: KeyValue) -> None:
    registry = Registry()
    authenticator, clock = cache(registry, kv, ttl=30)
    await authenticator.authenticate(SVC)
    clock.now += 29.9
    await authenticator.authenticate(SVC)
    assert registry.calls == 1
    expired = invalidations("expired")
    clock.now += 0.2
    await authenticator.authenticate(SVC)
    assert registry.calls == 2
    assert invalidations("expired") - expired == 1


async def test_an_entry_never_outlives_its_secret(kv: KeyValue) -> None:
    registry = Registry()
    registry.expire_at = utcnow() + timedelta(seconds=5)
    authenticator, clock = cache(registry, kv, ttl=30)
    await authenticator.authenticate(SVC)
    clock.now += 4
    await authenticator.authenticate(SVC)
    assert registry.calls == 1
    clock.now += 2
    await authenticator.authenticate(SVC)
    assert registry.calls == 2


async def test_the_cache_is_bounded_least_recently_used_out_first(kv: KeyValue) -> None:
    registry = Registry()
    registry.secrets = {f"c{i}": "s" for i in range(5)}
    authenticator, _ = cache(registry, kv, max_entries=3)

    def creds(i: int) -> ClientCredentials:
        return ClientCredentials(f"c{i}", "s", "client_secret_basic")

    for i in range(3):
        await authenticator.authenticate(creds(i))
    await authenticator.authenticate(creds(0))  # c0 used last: c1 is now the oldest
    await authenticator.authenticate(creds(3))
    assert len(authenticator) == 3
    before = registry.calls
    await authenticator.authenticate(creds(0))
    await authenticator.authenticate(creds(2))
    await authenticator.authenticate(creds(3))
    assert registry.calls == before
    await authenticator.authenticate(creds(1))
    assert registry.calls == before + 1


async def test_redis_away_means_no_cache(redis_url: str) -> None:
    """Without the generation nothing is served or stored: every authentication goes
    to the clients service, and still works."""
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    kv = RedisKeyValue(f"redis://127.0.0.1:{port}/0", "x:", timeout=0.2)
    registry = Registry()
    authenticator, _ = cache(registry, kv)
    bypasses = lookups("bypass")
    try:
        for _ in range(3):
            assert (await authenticator.authenticate(SVC)).client_id == "svc"
    finally:
        await kv.close()
    assert registry.calls == 3
    assert len(authenticator) == 0
    assert lookups("bypass") - bypasses == 3


async def test_a_published_change_drops_the_clients_entries_at_once() -> None:
    kv = MemoryKeyValue()
    registry = Registry()
    authenticator, _ = cache(registry, kv)
    authenticator.start()
    await asyncio.sleep(0)  # the follower's first step subscribes to the stand-in
    try:
        await authenticator.authenticate(SVC)
        await authenticator.authenticate(ClientCredentials("other", "0ther", "client_secret_basic"))
        await authenticator._on_change("svc")  # what the follower does with a message
        assert len(authenticator) == 1
        await kv.publish(CHANGES_CHANNEL, "other")
        for _ in range(100):  # the follower runs on the loop: bounded polling
            if len(authenticator) == 0:
                break
            await asyncio.sleep(0)
        assert len(authenticator) == 0
    finally:
        await authenticator.close()


def test_no_cache_on_the_embedded_default_or_when_disabled() -> None:
    registry = Registry()
    kv = MemoryKeyValue()
    assert build_authenticator(TokenSettings(), registry, kv) is registry
    with_redis = TokenSettings(redis_url="redis://127.0.0.1:6379/0")
    assert isinstance(build_authenticator(with_redis, registry, kv), CachingClientAuthenticator)
    disabled = TokenSettings(redis_url="redis://127.0.0.1:6379/0", client_auth_cache_seconds=0)
    assert build_authenticator(disabled, registry, kv) is registry


async def test_an_authentication_racing_a_change_is_not_served_after_it(kv: KeyValue) -> None:
    """The clients service answered from the record before a change while the change
    was being written: the entry carries the generation read *before* the call, so
    the change's second write of the generation (after its commit) makes it stale."""
    registry = Registry()

    class Racing:
        async def authenticate(self, credentials: ClientCredentials) -> AuthenticatedClient:
            answer = await registry.authenticate(credentials)  # the old record
            await kv.set(generation_key(credentials.client_id), new_generation())
            registry.secrets["svc"] = "rotated"
            return answer

    authenticator = CachingClientAuthenticator(Racing(), kv, ttl=30, max_entries=10)
    await authenticator.authenticate(SVC)
    with pytest.raises(InvalidClient):
        await authenticator.authenticate(SVC)


async def test_a_client_assertion_always_reaches_the_clients_service(kv: KeyValue) -> None:
    # RFC 7523 section 3: each assertion is good once, which only the clients
    # service's replay check can tell; a cached success would let a replay in.
    registry = Registry()
    registry.secrets["jwt-app"] = ""
    authenticator, _ = cache(registry, kv)
    presented = ClientCredentials("jwt-app", "", "private_key_jwt", client_assertion="a.b.c")
    for _ in range(3):
        await authenticator.authenticate(presented)
    assert registry.calls == 3
    assert len(authenticator) == 0
