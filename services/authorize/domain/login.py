"""Password sign-in with a per-user backoff that cannot be raced or turned
against everyone (docs/signin.md, "Login backoff"; OWASP ASVS V2.2.1, NIST
SP 800-63B section 5.2.2; the model of Keycloak's brute-force detection).

- Every attempt is counted in the KeyValue (atomic INCR in Redis and in the
  stand-in) *before* the password is looked at, so parallel guesses cannot
  slip past a lockout: of any number of concurrent attempts on one username
  at most ``max_failures_per_user`` reach the hash. The attempt that reaches
  the limit places the lockout before it checks the password; the lockout
  stays if the password was wrong and is lifted if it was right.
- While locked, attempts are refused without looking at the password; when a
  lockout runs out, exactly one attempt may try again (it claims the next
  lockout, which doubles, up to ``max_backoff_seconds``). With
  ``permanent_lockout_after`` lockouts the username stays locked until an
  administrator sets a new password.
- Lockouts are per username only. An address is never locked out (everyone
  behind one NAT or ingress would be); the gateway's per-address rate limit
  slows guessing from one address instead.
- Unknown and disabled accounts fail exactly like a wrong password, at the
  cost of one Argon2id verification, and their usernames are counted and
  locked the same way (keyed by a hash of the normalized username): neither
  the answer, its status nor its timing tells whether an account exists.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Final, NoReturn

from common.audit import AuditSink, NoAudit
from common.errors import AccessDenied, SlowDown
from common.kv import KeyValue, unavailable_as
from common.secrets import sha256_hex
from common.timeutil import utcnow
from services.authorize.domain.model import AMR_PASSWORD, LoginResult, User
from services.authorize.domain.passwords import MAX_PASSWORD_LENGTH
from services.authorize.domain.ports import PasswordHashing, UserStore
from services.authorize.domain.user_rules import normalize_username, username_key

log = logging.getLogger(__name__)

INVALID_CREDENTIALS: Final = "Invalid username or password"
MAX_BACKOFF_SECONDS: Final = 900
#: Audit action reported when a lockout begins (docs/operators.md, "Audit events").
LOGIN_LOCKOUT: Final = "login.lockout"
#: The lock's value while a username is locked until an administrator acts.
PERMANENT: Final = "permanent"
PERMANENTLY_LOCKED: Final = (
    "Too many failed sign-in attempts; sign-in is locked until an administrator unlocks it"
)
# Longer names cannot belong to an account; they are not looked up.
_MAX_USERNAME_INPUT: Final = 256


@dataclass(frozen=True, slots=True)
class LoginPolicy:
    max_failures_per_user: int = 5
    failure_window_seconds: int = 900
    backoff_seconds: int = 30
    max_backoff_seconds: int = MAX_BACKOFF_SECONDS
    # Lockouts after which the username stays locked until an administrator
    # sets its password; 0: never.
    permanent_lockout_after: int = 0


def locked_out(seconds: float) -> SlowDown:
    whole = max(1, math.ceil(seconds))
    return SlowDown(
        f"Too many failed sign-in attempts; try again in {whole} seconds", retry_after=whole
    )


@dataclass(frozen=True, slots=True)
class Attempt:
    """One admitted attempt: its username's key part, and, when it claimed a
    lockout before looking at the password, which one and what it replaced."""

    part: str
    username: str
    remote_addr: str
    failures: int
    lockout: int = 0  # the number of the lockout claimed; 0: none
    backoff: int = 0
    replaced_lock: str | None = None  # the expired lock a probe replaced


class LoginThrottle:
    """Attempt counters and lockouts per username. Each lockout that begins is
    reported once as ``login.lockout`` to ``events``.

    Keys (under the KeyValue prefix), ``<h>`` the SHA-256 of the lowercased
    NFC username: ``login:attempts:<h>`` (attempts in the window),
    ``login:lock:<h>`` (unlock time, or ``permanent``), ``login:lockouts:<h>``
    (lockouts so far, for the doubling) and ``login:probe:<h>:<lock>`` (who
    may try once the lock ``<lock>`` ran out).
    """

    def __init__(
        self,
        kv: KeyValue,
        policy: LoginPolicy,
        *,
        clock: Callable[[], datetime] = utcnow,
        events: AuditSink | None = None,
    ) -> None:
        self._kv = kv
        self._policy = policy
        self._clock = clock
        self._events = events or NoAudit()

    async def admit(self, username: str, remote_addr: str) -> Attempt:
        """Count the attempt, before any password is looked at; SlowDown while
        the username is locked out (nothing is hashed then)."""
        policy = self._policy
        part = _user_part(username)
        now = self._clock().timestamp()
        lock = await self._kv.get(f"login:lock:{part}")
        if lock is not None:
            if lock.decode() == PERMANENT:
                raise SlowDown(PERMANENTLY_LOCKED, retry_after=policy.max_backoff_seconds)
            if float(lock) > now:
                raise locked_out(float(lock) - now)
        failures = await self._kv.incr(
            f"login:attempts:{part}", ttl=float(policy.failure_window_seconds)
        )
        attempt = Attempt(part, username, remote_addr, failures)
        if failures < policy.max_failures_per_user:
            return attempt
        if failures == policy.max_failures_per_user:
            # INCR gives this number to exactly one attempt: it claims the first lockout.
            return await self._claim(attempt, replaced=None)
        if lock is None:
            # The attempt that reached the limit has not placed its lockout yet.
            raise locked_out(policy.backoff_seconds)
        # The lockout ran out: one attempt, the first to claim it, may try again.
        if not await self._kv.set_if_absent(
            f"login:probe:{part}:{lock.decode()}", "1", ttl=float(policy.failure_window_seconds)
        ):
            current = await self._kv.get(f"login:lock:{part}")
            remaining = float(current) - now if current and current != lock else 0.0
            raise locked_out(remaining if remaining > 0 else policy.backoff_seconds)
        return await self._claim(attempt, replaced=lock.decode())

    async def _claim(self, attempt: Attempt, *, replaced: str | None) -> Attempt:
        """Place the next lockout before the password is checked."""
        policy = self._policy
        lockout = int(await self._kv.get(f"login:lockouts:{attempt.part}") or 0) + 1
        backoff = min(
            policy.backoff_seconds * 2 ** min(lockout - 1, 16), policy.max_backoff_seconds
        )
        unlock_at = self._clock().timestamp() + backoff
        # The lock outlives the attempt counter (see admit: a missing lock with a
        # count past the limit means "being placed").
        await self._kv.set(
            f"login:lock:{attempt.part}",
            repr(unlock_at),
            ttl=float(backoff + policy.failure_window_seconds),
        )
        return Attempt(
            attempt.part,
            attempt.username,
            attempt.remote_addr,
            attempt.failures,
            lockout=lockout,
            backoff=backoff,
            replaced_lock=replaced,
        )

    async def failed(self, attempt: Attempt) -> None:
        """The password was wrong: already counted; a claimed lockout begins."""
        if not attempt.lockout:
            return
        policy = self._policy
        part = attempt.part
        await self._kv.set(
            f"login:lockouts:{part}",
            str(attempt.lockout),
            ttl=float(attempt.backoff + policy.failure_window_seconds),
        )
        permanent = 0 < policy.permanent_lockout_after <= attempt.lockout
        if permanent:
            await self._kv.set(f"login:lock:{part}", PERMANENT)
        details = {"failures": str(attempt.failures), "lockout_seconds": str(attempt.backoff)}
        if permanent:
            details = {"failures": str(attempt.failures), "lockout": "permanent"}
        self._events.report(
            LOGIN_LOCKOUT,
            actor="system",
            target=f"user:{username_key(attempt.username)[:_MAX_USERNAME_INPUT]}",
            outcome="denied",
            remote_addr=attempt.remote_addr,
            details=details,
        )

    async def succeeded(self, attempt: Attempt) -> None:
        await self._reset(attempt.part)

    async def withdraw(self, attempt: Attempt) -> None:
        """The password could not be checked (the hashing queue was full, the
        database down): the attempt does not count, and a claimed lockout is
        given back."""
        part = attempt.part
        await self._kv.incr(f"login:attempts:{part}", amount=-1)
        if not attempt.lockout:
            return
        if attempt.replaced_lock is None:
            await self._kv.delete(f"login:lock:{part}")
        else:
            await self._kv.set(
                f"login:lock:{part}",
                attempt.replaced_lock,
                ttl=float(self._policy.failure_window_seconds),
            )
            await self._kv.delete(f"login:probe:{part}:{attempt.replaced_lock}")

    async def reset_user(self, username: str) -> None:
        """Forget the username's failures and lift its lockout, permanent or not
        (a new password, an administrator's unlock)."""
        await self._reset(_user_part(username))

    async def _reset(self, part: str) -> None:
        await self._kv.delete(
            f"login:attempts:{part}", f"login:lock:{part}", f"login:lockouts:{part}"
        )


def _user_part(username: str) -> str:
    return sha256_hex(username_key(username))


def lock_key(username: str) -> str:
    """The KeyValue key of a username's lockout (tests place one with it)."""
    return f"login:lock:{_user_part(username)}"


SIGN_IN_UNAVAILABLE: Final = "Sign-in is unavailable right now"


class PasswordLogin:
    """Checks a username and password (the ``pwd`` method of RFC 8176)."""

    def __init__(
        self,
        store: UserStore,
        hasher: PasswordHashing,
        throttle: LoginThrottle,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._hasher = hasher
        self._throttle = throttle
        self._clock = clock

    async def login(self, username: str, password: str, remote_addr: str = "") -> LoginResult:
        if not username or not password:
            raise AccessDenied(INVALID_CREDENTIALS, detail="username or password missing")
        # The hashing queue's place first: refused there (Overloaded), the attempt
        # is never counted, so concurrent refusals cannot add up to a lockout.
        with self._hasher.reserved():
            # Without the counters no attempt is judged: failing open would let
            # guesses past a lockout (the gateway shows "unavailable", 503).
            with unavailable_as(SIGN_IN_UNAVAILABLE):
                attempt = await self._throttle.admit(username, remote_addr)
            try:
                user, why = await self._check(username, password)
            except BaseException:
                # The database down, a cancelled call: the password was not judged,
                # so nothing is counted.
                with unavailable_as(SIGN_IN_UNAVAILABLE):
                    await self._throttle.withdraw(attempt)
                raise
        if user is None:
            with unavailable_as(SIGN_IN_UNAVAILABLE):
                await self._throttle.failed(attempt)
            await self._fail(attempt, why)
        with unavailable_as(SIGN_IN_UNAVAILABLE):
            await self._throttle.succeeded(attempt)
        password_hash = user.password_hash
        if password_hash is not None and self._hasher.needs_rehash(password_hash):
            # The cost settings were raised: upgrade the hash while the password is at hand.
            await self._store.set_password_hash(
                user.user_id, await self._hasher.hash(password), user.updated_at
            )
        log.info("sign-in succeeded for user %s", user.user_id)
        return LoginResult(user=user, auth_time=self._clock(), amr=(AMR_PASSWORD,))

    async def _check(self, username: str, password: str) -> tuple[User | None, str]:
        """The user whose password this is, or None and why not; always one
        Argon2id verification (a dummy one when there is no hash to check)."""
        user = None
        if len(username) <= _MAX_USERNAME_INPUT:
            user = await self._store.get_by_username(normalize_username(username))
        password_hash = user.password_hash if user is not None and user.enabled else None
        if user is None or password_hash is None or len(password) > MAX_PASSWORD_LENGTH:
            await self._hasher.verify_dummy(password)
            if password_hash is None:
                return None, "unknown, disabled or passwordless account"
            return None, "password longer than any can be"
        if not await self._hasher.verify(password_hash, password):
            return None, "wrong password"
        return user, ""

    async def _fail(self, attempt: Attempt, why: str) -> NoReturn:
        log.info("sign-in failed from %s: %s", attempt.remote_addr or "-", why)
        raise AccessDenied(INVALID_CREDENTIALS, detail=why)
