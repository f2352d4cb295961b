"""Password sign-in: one answer for every failure, a dummy verification for
unknown and disabled accounts (counted, never timed), a per-user backoff that
parallel guesses cannot race and that no address can turn against everyone
(docs/signin.md, "Login backoff")."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from common.errors import AccessDenied, SlowDown, TemporarilyUnavailable
from common.kv import KeyValue, MemoryKeyValue, RedisKeyValue
from services.authorize.domain import (
    Argon2PasswordHasher,
    LoginPolicy,
    LoginThrottle,
    PasswordLogin,
    UserDirectory,
)
from services.authorize.domain.model import NewUser, UserChanges
from services.authorize.tests.fakes import Clock, CountingHasher, MemoryUserStore

PASSWORD = "correct horse battery staple"
INVALID = "Invalid username or password"


def slow_down(seconds: int) -> str:
    return f"Too many failed sign-in attempts; try again in {seconds} seconds"


async def fail(login: PasswordLogin, username: str, addr: str = "198.51.100.7") -> AccessDenied:
    with pytest.raises(AccessDenied) as info:
        await login.login(username, "wrong password!", addr)
    return info.value


async def test_success_returns_user_auth_time_and_amr(
    users: UserDirectory, login: PasswordLogin, clock: Clock
) -> None:
    user = await users.create(NewUser("Alice", PASSWORD))
    result = await login.login("alice", PASSWORD, "198.51.100.7")
    assert result.user.user_id == user.user_id
    assert result.auth_time == clock.now and result.amr == ("pwd",)


async def test_every_failure_is_the_same_and_costs_one_verification(
    users: UserDirectory, login: PasswordLogin, hasher: CountingHasher
) -> None:
    await users.create(NewUser("alice", PASSWORD))
    disabled = await users.create(NewUser("mallory", PASSWORD))
    await users.update(disabled.user_id, UserChanges(enabled=False), ["enabled"])
    cases = [
        ("alice", "wrong password!"),  # wrong password
        ("nobody", PASSWORD),  # unknown user
        ("mallory", PASSWORD),  # disabled user, right password
        ("alice", "x" * 5000),  # longer than any password can be
    ]
    for username, password in cases:
        hasher.calls.clear()
        with pytest.raises(AccessDenied) as info:
            await login.login(username, password, "")
        assert (info.value.error, info.value.description) == ("access_denied", INVALID)
        assert hasher.verifications == 1, username
    # Unknown and disabled accounts are checked against the dummy hash, not skipped.
    hasher.calls.clear()
    await fail(login, "nobody")
    assert hasher.calls["verify_dummy"] == 1 and hasher.calls["verify"] == 0
    hasher.calls.clear()
    await fail(login, "mallory")
    assert hasher.calls["verify_dummy"] == 1 and hasher.calls["verify"] == 0


async def test_missing_credentials_are_refused(login: PasswordLogin) -> None:
    for username, password in [("", PASSWORD), ("alice", "")]:
        with pytest.raises(AccessDenied, match=INVALID):
            await login.login(username, password)


async def test_sixth_attempt_with_the_right_password_is_refused(
    users: UserDirectory, login: PasswordLogin, hasher: CountingHasher, clock: Clock
) -> None:
    await users.create(NewUser("alice", PASSWORD))
    for _ in range(5):
        await fail(login, "alice")
    hasher.calls.clear()
    with pytest.raises(SlowDown) as info:
        await login.login("alice", PASSWORD, "198.51.100.7")
    assert info.value.error == "slow_down" and info.value.description == slow_down(30)
    assert hasher.verifications == 0  # refused without looking at the password
    # The username is locked whatever the address and its case.
    with pytest.raises(SlowDown):
        await login.login("ALICE", PASSWORD, "203.0.113.9")
    clock.advance(20)
    with pytest.raises(SlowDown, match="try again in 10 seconds"):
        await login.login("alice", PASSWORD, "198.51.100.7")
    clock.advance(10)
    result = await login.login("alice", PASSWORD, "198.51.100.7")
    assert result.user.username == "alice"
    # Success reset the counter: five more failures before the next lockout.
    for _ in range(4):
        await fail(login, "alice")
    await login.login("alice", PASSWORD, "198.51.100.7")


async def test_backoff_doubles_up_to_fifteen_minutes(
    users: UserDirectory, login: PasswordLogin, clock: Clock
) -> None:
    await users.create(NewUser("alice", PASSWORD))
    for _ in range(5):
        await fail(login, "alice")
    for expected in [30, 60, 120, 240, 480, 900, 900]:
        with pytest.raises(SlowDown) as info:
            await login.login("alice", PASSWORD)
        assert info.value.description == slow_down(expected)
        clock.advance(expected)
        await fail(login, "alice")


async def test_unknown_users_are_locked_out_like_real_ones(login: PasswordLogin) -> None:
    for _ in range(5):
        await fail(login, "ghost")
    with pytest.raises(SlowDown, match=r"try again in 30 seconds"):
        await login.login("ghost", PASSWORD)


async def test_failures_from_one_address_never_lock_out_its_other_users(
    users: UserDirectory, login: PasswordLogin
) -> None:
    """Keycloak's model: an address is slowed by the gateway's rate limit, never
    locked out (everyone behind one NAT or ingress would be)."""
    await users.create(NewUser("alice", PASSWORD))
    for number in range(50):  # spraying many usernames from one address
        await fail(login, f"user-{number}", addr="192.0.2.1")
    for _ in range(4):  # and a few wrong guesses for alice herself
        await fail(login, "alice", addr="192.0.2.1")
    assert (await login.login("alice", PASSWORD, "192.0.2.1")).user.username == "alice"


async def test_set_password_lifts_a_lockout(users: UserDirectory, login: PasswordLogin) -> None:
    user = await users.create(NewUser("alice", PASSWORD))
    for _ in range(5):
        await fail(login, "alice")
    await users.set_password(user.user_id, "a brand new password")
    assert (await login.login("alice", "a brand new password")).user.user_id == user.user_id


async def test_a_stronger_cost_setting_rehashes_at_sign_in(
    users: UserDirectory, user_store: MemoryUserStore, throttle: LoginThrottle
) -> None:
    user = await users.create(NewUser("alice", PASSWORD))
    old_hash = user_store.users[user.user_id].password_hash
    stronger = Argon2PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)
    login = PasswordLogin(user_store, stronger, throttle)
    await login.login("alice", PASSWORD)
    new_hash = user_store.users[user.user_id].password_hash
    assert new_hash != old_hash and new_hash is not None and "t=2" in new_hash


@pytest.fixture
async def redis_kv(redis_url: str, redis_prefix: str) -> AsyncIterator[KeyValue]:
    kv = RedisKeyValue(redis_url, redis_prefix + "login:")
    yield kv
    await kv.close()


async def test_lockout_on_redis(
    redis_kv: KeyValue, user_store: MemoryUserStore, hasher: CountingHasher, clock: Clock
) -> None:
    """The counters live in the KeyValue, so every replica sees them."""
    users = UserDirectory(user_store, hasher, clock=clock)
    await users.create(NewUser("carol", PASSWORD))
    replica_a = PasswordLogin(
        user_store, hasher, LoginThrottle(redis_kv, LoginPolicy(), clock=clock), clock=clock
    )
    replica_b = PasswordLogin(
        user_store, hasher, LoginThrottle(redis_kv, LoginPolicy(), clock=clock), clock=clock
    )
    for replica in [replica_a, replica_b, replica_a, replica_b, replica_a]:
        await fail(replica, "carol")
    with pytest.raises(SlowDown, match=r"try again in 30 seconds"):
        await replica_b.login("carol", PASSWORD)


async def test_without_its_counters_sign_in_is_unavailable_not_open(
    user_store: MemoryUserStore, hasher: CountingHasher, clock: Clock
) -> None:
    """Redis down (nothing listens on port 1): no attempt is judged, so no guess
    gets past a lockout it cannot see; a 503, never a 500 and never a sign-in."""
    users = UserDirectory(user_store, hasher, clock=clock)
    await users.create(NewUser("dora", PASSWORD))
    down = RedisKeyValue("redis://127.0.0.1:1/0", "down:")
    try:
        login = PasswordLogin(
            user_store, hasher, LoginThrottle(down, LoginPolicy(), clock=clock), clock=clock
        )
        before = hasher.verifications
        with pytest.raises(TemporarilyUnavailable, match="Sign-in is unavailable"):
            await login.login("dora", PASSWORD)
        assert hasher.verifications == before  # refused before any hashing
    finally:
        await down.close()


class RecordingEvents:
    """An AuditSink fake that keeps what was reported."""

    def __init__(self) -> None:
        self.reports: list[dict[str, object]] = []

    def report(self, action: str, **fields: object) -> None:
        self.reports.append({"action": action, **fields})


async def test_a_lockout_that_begins_is_reported_to_the_audit_log(
    user_store: MemoryUserStore, hasher: CountingHasher, kv: MemoryKeyValue, clock: Clock
) -> None:
    events = RecordingEvents()
    policy = LoginPolicy(max_failures_per_user=2)
    throttle = LoginThrottle(kv, policy, clock=clock, events=events)
    login = PasswordLogin(user_store, hasher, throttle, clock=clock)
    await fail(login, "Mallory", addr="192.0.2.1")
    assert events.reports == []  # a failure is no lockout (and login.failed is not audited)
    await fail(login, "Mallory", addr="192.0.2.1")
    assert events.reports == [
        {
            "action": "login.lockout",
            "actor": "system",
            "target": "user:mallory",
            "outcome": "denied",
            "remote_addr": "192.0.2.1",
            "details": {"failures": "2", "lockout_seconds": "30"},
        }
    ]
    # Refused attempts during the lockout report nothing more.
    with pytest.raises(SlowDown):
        await login.login("mallory", PASSWORD, "192.0.2.1")
    assert len(events.reports) == 1
    for name in ["trent", "peggy", "victor"]:  # no address lockout to report
        await fail(login, name, addr="192.0.2.1")
    assert len(events.reports) == 1
    # The next lockout of the same user, once this one ran out, is reported again.
    clock.advance(30)
    await fail(login, "mallory", addr="192.0.2.1")
    assert events.reports[-1]["details"] == {"failures": "3", "lockout_seconds": "60"}
    assert [r["action"] for r in events.reports] == ["login.lockout", "login.lockout"]


async def test_without_a_reporter_lockouts_report_nowhere(login: PasswordLogin) -> None:
    for _ in range(5):
        await fail(login, "ghost")
    with pytest.raises(SlowDown):
        await login.login("ghost", PASSWORD)
