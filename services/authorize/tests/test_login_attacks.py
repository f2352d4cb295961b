"""Sign-in as an attacker tries it: parallel guesses against a lockout,
lockouts that grow and may become permanent, unknown and known usernames that
answer alike, and a flood that fills the Argon2 queue (docs/signin.md,
"Login backoff" and "Bounded password hashing")."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import grpc
import pytest
from oauth2.v1 import authorize_pb2, authorize_pb2_grpc
from prometheus_client import REGISTRY

from common.db import create_engine
from common.errors import AccessDenied, OAuthError, Overloaded, SlowDown
from common.grpc_errors import from_rpc_error
from common.grpc_server import ErrorInterceptor
from common.kv import KeyValue, MemoryKeyValue, RedisKeyValue
from common.migrations import upgrade
from services.authorize.app import MIGRATIONS_DIR, build_domain, password_hasher, servicer_adder
from services.authorize.domain import (
    Argon2PasswordHasher,
    LoginPolicy,
    LoginThrottle,
    PasswordLogin,
    UserDirectory,
)
from services.authorize.domain.login import PERMANENTLY_LOCKED
from services.authorize.domain.model import NewUser, UserChanges
from services.authorize.servicer import AuthorizeServicer
from services.authorize.settings import AuthorizeSettings
from services.authorize.tests.conftest import CHEAP_ARGON2
from services.authorize.tests.fakes import (
    Clock,
    CountingHasher,
    FakeClientDirectory,
    MemoryUserStore,
    make_client_info,
)

PASSWORD = "correct horse battery staple"
WRONG = "wrong password!"


@pytest.fixture(params=["memory", "redis"])
async def any_kv(request: pytest.FixtureRequest) -> AsyncIterator[KeyValue]:
    """The in-process stand-in and real Redis: INCR is atomic in both."""
    if request.param == "memory":
        yield MemoryKeyValue()
        return
    redis_url: str = request.getfixturevalue("redis_url")
    prefix: str = request.getfixturevalue("redis_prefix")
    kv = RedisKeyValue(redis_url, prefix + "login-attacks:")
    yield kv
    await kv.close()


async def outcome(call: Awaitable[object]) -> str:
    try:
        await call
    except SlowDown:
        return "locked"
    except AccessDenied:
        return "denied"
    return "signed in"


async def test_parallel_guesses_cannot_pass_a_lockout(
    any_kv: KeyValue, user_store: MemoryUserStore, hasher: CountingHasher, clock: Clock
) -> None:
    """20 guesses at once against a lockout of 5: at most 5 reach the hash, and
    the right password is refused while the lockout lasts."""
    users = UserDirectory(user_store, hasher, clock=clock)
    await users.create(NewUser("alice", PASSWORD))
    login = PasswordLogin(
        user_store, hasher, LoginThrottle(any_kv, LoginPolicy(), clock=clock), clock=clock
    )
    results = await asyncio.gather(
        *(outcome(login.login("alice", WRONG, "192.0.2.1")) for _ in range(20))
    )
    assert hasher.verifications == 5
    assert sorted(results) == ["denied"] * 5 + ["locked"] * 15

    hasher.calls.clear()
    with pytest.raises(SlowDown) as locked:
        await login.login("alice", PASSWORD, "192.0.2.1")
    assert locked.value.retry_after == 30 and hasher.verifications == 0

    # When the lockout runs out, of 20 at once exactly one may try: the right
    # password signs in, the others were refused without a hash.
    clock.advance(30)
    results = await asyncio.gather(
        *(outcome(login.login("alice", PASSWORD, "192.0.2.1")) for _ in range(20))
    )
    assert hasher.verifications == 1
    assert sorted(results) == ["locked"] * 19 + ["signed in"]
    # That success forgave the failures.
    assert await outcome(login.login("alice", PASSWORD)) == "signed in"


async def test_parallel_guesses_after_a_lockout_get_one_try_that_doubles_it(
    user_store: MemoryUserStore, hasher: CountingHasher, kv: MemoryKeyValue, clock: Clock
) -> None:
    login = PasswordLogin(user_store, hasher, LoginThrottle(kv, LoginPolicy(), clock=clock))
    for _ in range(5):
        await outcome(login.login("ghost", WRONG))
    clock.advance(30)
    hasher.calls.clear()
    results = await asyncio.gather(*(outcome(login.login("ghost", WRONG)) for _ in range(10)))
    assert sorted(results) == ["denied"] + ["locked"] * 9 and hasher.verifications == 1
    with pytest.raises(SlowDown) as locked:
        await login.login("ghost", PASSWORD)
    assert locked.value.retry_after == 60


async def test_backoff_doubles_to_the_configured_maximum(
    user_store: MemoryUserStore, hasher: CountingHasher, kv: MemoryKeyValue, clock: Clock
) -> None:
    policy = LoginPolicy(max_failures_per_user=3, backoff_seconds=10, max_backoff_seconds=50)
    login = PasswordLogin(user_store, hasher, LoginThrottle(kv, policy, clock=clock))
    for _ in range(3):
        await outcome(login.login("alice", WRONG))
    lockouts = []
    for _ in range(5):
        with pytest.raises(SlowDown) as locked:
            await login.login("alice", PASSWORD)
        assert locked.value.retry_after is not None
        lockouts.append(locked.value.retry_after)
        clock.advance(locked.value.retry_after)
        assert await outcome(login.login("alice", WRONG)) == "denied"
    assert lockouts == [10, 20, 40, 50, 50]


class RecordingEvents:
    def __init__(self) -> None:
        self.reports: list[dict[str, object]] = []

    def report(self, action: str, **fields: object) -> None:
        self.reports.append({"action": action, **fields})


async def test_permanent_lockout_until_an_administrator_sets_a_password(
    user_store: MemoryUserStore, hasher: CountingHasher, kv: MemoryKeyValue, clock: Clock
) -> None:
    events = RecordingEvents()
    policy = LoginPolicy(permanent_lockout_after=2)
    throttle = LoginThrottle(kv, policy, clock=clock, events=events)
    login = PasswordLogin(user_store, hasher, throttle, clock=clock)
    users = UserDirectory(user_store, hasher, throttle=throttle, clock=clock)
    alice = await users.create(NewUser("alice", PASSWORD))
    for username in ("alice", "ghost"):  # an unknown username is locked the same way
        for _ in range(5):
            await outcome(login.login(username, WRONG))
        clock.advance(30)
        assert await outcome(login.login(username, WRONG)) == "denied"  # the second lockout
        clock.advance(86_400)
        hasher.calls.clear()
        with pytest.raises(SlowDown) as locked:
            await login.login(username, PASSWORD)
        assert locked.value.description == PERMANENTLY_LOCKED
        assert locked.value.retry_after == policy.max_backoff_seconds
        assert hasher.verifications == 0
    assert [r["details"] for r in events.reports] == [
        {"failures": "5", "lockout_seconds": "30"},
        {"failures": "6", "lockout": "permanent"},
    ] * 2
    await users.set_password(alice.user_id, "a brand new password")
    assert await outcome(login.login("alice", "a brand new password")) == "signed in"


async def test_enabling_the_account_is_an_explicit_unlock(
    user_store: MemoryUserStore, hasher: CountingHasher, kv: MemoryKeyValue, clock: Clock
) -> None:
    throttle = LoginThrottle(kv, LoginPolicy(permanent_lockout_after=1), clock=clock)
    login = PasswordLogin(user_store, hasher, throttle, clock=clock)
    users = UserDirectory(user_store, hasher, throttle=throttle, clock=clock)
    alice = await users.create(NewUser("alice", PASSWORD))
    for _ in range(5):
        await outcome(login.login("alice", WRONG))
    with pytest.raises(SlowDown, match="until an administrator unlocks it"):
        await login.login("alice", PASSWORD)
    await users.update(alice.user_id, UserChanges(email="a@example.com"), ["email"])
    assert await outcome(login.login("alice", PASSWORD)) == "locked"  # other changes: no
    await users.update(alice.user_id, UserChanges(enabled=True), ["enabled"])
    assert await outcome(login.login("alice", PASSWORD)) == "signed in"


async def answers(login: PasswordLogin, username: str, clock: Clock) -> list[tuple[object, ...]]:
    """What a guesser sees for ``username``: each answer's class, description and
    Retry-After, and how many hashes it cost, through two lockouts."""
    hasher = login._hasher
    assert isinstance(hasher, CountingHasher)
    seen: list[tuple[object, ...]] = []
    for step in range(9):
        if step in (6, 8):
            clock.advance(30 if step == 6 else 60)
        hasher.calls.clear()
        try:
            await login.login(username, WRONG, "192.0.2.1")
        except OAuthError as exc:
            seen.append((type(exc), exc.description, exc.retry_after, hasher.verifications))
    return seen


async def test_unknown_disabled_and_real_users_answer_alike(
    users: UserDirectory, login: PasswordLogin, clock: Clock
) -> None:
    """No user enumeration by content or status (timing: one Argon2id each, or
    none while locked, counted by the hasher) through failures and lockouts."""
    await users.create(NewUser("alice", PASSWORD))
    disabled = await users.create(NewUser("mallory", PASSWORD))
    await users.update(disabled.user_id, UserChanges(enabled=False), ["enabled"])
    real = await answers(login, "alice", clock)
    assert real == await answers(login, "ghost", clock)
    assert real == await answers(login, "mallory", clock)
    assert [kind for kind, *_ in real] == [AccessDenied] * 5 + [SlowDown] + [AccessDenied] + [
        SlowDown
    ] + [AccessDenied]
    assert [cost for *_, cost in real] == [1, 1, 1, 1, 1, 0, 1, 0, 1]


class GatedHasher(Argon2PasswordHasher):
    """The cheapest Argon2id whose verifications wait for ``gate`` while it is
    closed, so that a test can keep every worker busy."""

    def __init__(self, *, workers: int, queue: int, on_refused: Callable[[], None]) -> None:
        super().__init__(
            time_cost=1,
            memory_cost=8,
            parallelism=1,
            workers=workers,
            queue=queue,
            on_refused=on_refused,
        )
        self.gate = threading.Event()
        self.gate.set()
        self.verified = 0

    def _verify(self, password_hash: str, password: str) -> bool:
        self.gate.wait(timeout=10)
        self.verified += 1
        return super()._verify(password_hash, password)


async def saturate(hasher: GatedHasher, login: PasswordLogin) -> list[asyncio.Task[str]]:
    """Fill every worker and queue place with sign-ins of other users."""
    hasher.gate.clear()
    busy = [
        asyncio.create_task(outcome(login.login(f"other-{n}", WRONG)))
        for n in range(hasher.workers + hasher.queue)
    ]
    while hasher.in_flight < hasher.workers + hasher.queue:
        await asyncio.sleep(0.01)
    return busy


async def test_a_full_hashing_queue_refuses_at_once_without_counting(
    user_store: MemoryUserStore, kv: MemoryKeyValue, clock: Clock
) -> None:
    refused: list[None] = []
    hasher = GatedHasher(workers=1, queue=2, on_refused=lambda: refused.append(None))
    login = PasswordLogin(user_store, hasher, LoginThrottle(kv, LoginPolicy(), clock=clock))
    await UserDirectory(user_store, hasher, clock=clock).create(NewUser("alice", PASSWORD))
    busy = await saturate(hasher, login)
    started = time.monotonic()
    for _ in range(10):
        with pytest.raises(Overloaded) as full:
            await login.login("alice", WRONG)
    assert time.monotonic() - started < 0.5  # no waiting for a worker
    assert full.value.retry_after == 1 and full.value.status_code == 503
    assert len(refused) == 10 and hasher.verified == 0
    hasher.gate.set()
    assert await asyncio.gather(*busy) == ["denied"] * 3

    # None of the ten counted: four failures and the right password still sign in.
    for _ in range(4):
        assert await outcome(login.login("alice", WRONG)) == "denied"
    assert await outcome(login.login("alice", PASSWORD)) == "signed in"

    # A refused attempt after a lockout gives the lockout's one try back.
    for _ in range(5):
        await outcome(login.login("alice", WRONG))
    clock.advance(30)
    busy = await saturate(hasher, login)
    with pytest.raises(Overloaded):
        await login.login("alice", PASSWORD)
    hasher.gate.set()
    await asyncio.gather(*busy)
    assert await outcome(login.login("alice", PASSWORD)) == "signed in"


def test_the_pool_is_sized_by_the_settings() -> None:
    settings = AuthorizeSettings(**CHEAP_ARGON2, argon2_workers=3)
    hasher = password_hasher(settings)
    assert (hasher.workers, hasher.queue) == (3, 12)  # four waiting per worker by default
    hasher = password_hasher(AuthorizeSettings(**CHEAP_ARGON2, argon2_workers=2, argon2_queue=0))
    assert (hasher.workers, hasher.queue) == (2, 0)


def overloaded_logins() -> float:
    return REGISTRY.get_sample_value("oauth2_logins_total", {"outcome": "overloaded"}) or 0.0


async def test_over_grpc_a_full_queue_is_resource_exhausted_with_retry_info(
    tmp_path: Path,
) -> None:
    """What the gateway receives: RESOURCE_EXHAUSTED at once (not a deadline),
    decoded as temporarily_unavailable with retry_after."""
    settings = AuthorizeSettings(data_dir=tmp_path, database_url=None, **CHEAP_ARGON2)
    await asyncio.to_thread(upgrade, settings, MIGRATIONS_DIR)
    engine = create_engine(settings)
    hasher = GatedHasher(workers=1, queue=0, on_refused=lambda: None)
    domain = build_domain(
        settings, engine, MemoryKeyValue(), FakeClientDirectory(make_client_info("web")),
        hasher=hasher,
    )  # fmt: skip
    server = grpc.aio.server(interceptors=[ErrorInterceptor()])
    servicer_adder(AuthorizeServicer(domain))(server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    stub = authorize_pb2_grpc.AuthorizeServiceStub(channel)
    try:
        hasher.gate.clear()
        busy = asyncio.ensure_future(
            stub.Login(authorize_pb2.LoginRequest(username="bob", password=WRONG), timeout=10)
        )
        while hasher.in_flight < 1:
            await asyncio.sleep(0.01)
        before = overloaded_logins()
        started = time.monotonic()
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.Login(
                authorize_pb2.LoginRequest(username="alice", password=WRONG), timeout=5
            )
        assert time.monotonic() - started < 1
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        error = from_rpc_error(refused.value)
        assert (error.error, error.status_code, error.retry_after) == (
            "temporarily_unavailable",
            503,
            1,
        )
        assert overloaded_logins() == before + 1
        hasher.gate.set()
        with pytest.raises(grpc.aio.AioRpcError) as denied:
            await busy
        assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    finally:
        hasher.gate.set()
        await channel.close()
        await server.stop(None)
        await engine.dispose()


async def test_over_grpc_parallel_logins_cannot_pass_a_lockout(
    tmp_path: Path, hasher: CountingHasher
) -> None:
    """20 concurrent Login calls for one user, against the real servicer and
    SQLite: 5 PERMISSION_DENIED at most, every other one RESOURCE_EXHAUSTED
    (slow_down), and no more than 5 hashes."""
    settings = AuthorizeSettings(data_dir=tmp_path, database_url=None, **CHEAP_ARGON2)
    await asyncio.to_thread(upgrade, settings, MIGRATIONS_DIR)
    engine = create_engine(settings)
    domain = build_domain(
        settings, engine, MemoryKeyValue(), FakeClientDirectory(make_client_info("web")),
        hasher=hasher,
    )  # fmt: skip
    server = grpc.aio.server(interceptors=[ErrorInterceptor()])
    servicer_adder(AuthorizeServicer(domain))(server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    stub = authorize_pb2_grpc.AuthorizeServiceStub(channel)

    async def login(password: str) -> str:
        try:
            await stub.Login(
                authorize_pb2.LoginRequest(username="alice", password=password), timeout=10
            )
        except grpc.aio.AioRpcError as exc:
            return from_rpc_error(exc).error
        return "signed in"

    try:
        await stub.CreateUser(authorize_pb2.CreateUserRequest(username="alice", password=PASSWORD))
        hasher.calls.clear()
        results = await asyncio.gather(*(login(WRONG) for _ in range(20)))
        assert hasher.verifications <= 5
        assert results.count("access_denied") <= 5
        assert set(results) == {"access_denied", "slow_down"}, results
        assert await login(PASSWORD) == "slow_down"
        assert hasher.verifications <= 5
    finally:
        await channel.close()
        await server.stop(None)
        await engine.dispose()


async def test_sign_ins_the_hashing_queue_refuses_are_never_counted(
    any_kv: KeyValue, user_store: MemoryUserStore, clock: Clock
) -> None:
    """16 wrong guesses at once, one worker and one waiting place, a lockout of 10:
    the queue refuses the ones it has no place for before their attempt is counted,
    so refusals can never add up to a lockout, not even for a moment."""
    hasher = Argon2PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, workers=1, queue=1)
    try:
        users = UserDirectory(user_store, hasher, clock=clock)
        await users.create(NewUser("dora", PASSWORD))
        policy = LoginPolicy(max_failures_per_user=10)
        login = PasswordLogin(user_store, hasher, LoginThrottle(any_kv, policy, clock=clock))

        async def attempt() -> str:
            try:
                return await outcome(login.login("dora", WRONG, "192.0.2.1"))
            except Overloaded:
                return "overloaded"

        results = await asyncio.gather(*(attempt() for _ in range(16)))
        assert "locked" not in results, results
        assert results.count("overloaded") >= 6 and results.count("denied") >= 1, results
        assert results.count("overloaded") + results.count("denied") == 16
        # Every place given back: the right password signs in at once.
        assert await outcome(login.login("dora", PASSWORD, "192.0.2.1")) == "signed in"
    finally:
        hasher.close()
