"""Password sign-in with backoff per user and per address (docs/signin.md,
"Login backoff"; OWASP ASVS V2.2.1, NIST SP 800-63B section 5.2.2).

Failures are counted in the KeyValue, so every replica sees them, within a
window that starts at the first failure. Once a counter reaches its limit, the
next attempts are refused without looking at the password for a lockout that
doubles with every further failure, up to 15 minutes. Unknown and disabled
accounts fail exactly like a wrong password, at the cost of one Argon2id
verification, and their usernames are counted the same way: neither the
answer nor its timing tells whether an account exists.
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
from common.kv import KeyValue
from common.timeutil import utcnow
from services.authorize.domain.model import AMR_PASSWORD, LoginResult
from services.authorize.domain.passwords import MAX_PASSWORD_LENGTH
from services.authorize.domain.ports import PasswordHashing, UserStore
from services.authorize.domain.user_rules import normalize_username, username_key

log = logging.getLogger(__name__)

INVALID_CREDENTIALS: Final = "Invalid username or password"
MAX_BACKOFF_SECONDS: Final = 900
#: Audit action reported when a lockout begins (docs/operators.md, "Audit events").
LOGIN_LOCKOUT: Final = "login.lockout"
# Longer names cannot belong to an account; they are not used as keys either.
_MAX_USERNAME_INPUT: Final = 256


@dataclass(frozen=True, slots=True)
class LoginPolicy:
    max_failures_per_user: int = 5
    max_failures_per_address: int = 50
    failure_window_seconds: int = 900
    backoff_seconds: int = 30


class LoginThrottle:
    """Failure counters and lockouts per username and per remote address.
    Each lockout that begins is reported as ``login.lockout`` to ``events``."""

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

    async def check(self, username: str, remote_addr: str) -> None:
        """SlowDown while the username or the address is locked out."""
        now = self._clock().timestamp()
        remaining = 0.0
        for key in self._lock_keys(username, remote_addr):
            raw = await self._kv.get(key)
            if raw is not None:
                remaining = max(remaining, float(raw) - now)
        if remaining > 0:
            seconds = max(1, math.ceil(remaining))
            raise SlowDown(f"Too many failed sign-in attempts; try again in {seconds} seconds")

    async def record_failure(self, username: str, remote_addr: str) -> None:
        policy = self._policy
        limits = [
            (_user_part(username), policy.max_failures_per_user, f"user:{username_key(username)}")
        ]
        if remote_addr:
            limits.append(
                (
                    _address_part(remote_addr),
                    policy.max_failures_per_address,
                    f"address:{remote_addr[:64]}",
                )
            )
        for part, limit, target in limits:
            if part is None:
                continue
            failures = await self._kv.incr(
                f"login_fail:{part}", ttl=float(policy.failure_window_seconds)
            )
            if failures >= limit:
                backoff = min(
                    policy.backoff_seconds * 2 ** min(failures - limit, 16), MAX_BACKOFF_SECONDS
                )
                unlock_at = self._clock().timestamp() + backoff
                await self._kv.set(f"login_lock:{part}", repr(unlock_at), ttl=float(backoff))
                self._events.report(
                    LOGIN_LOCKOUT,
                    actor="system",
                    target=target,
                    outcome="denied",
                    remote_addr=remote_addr,
                    details={"failures": str(failures), "lockout_seconds": str(backoff)},
                )

    async def reset_user(self, username: str) -> None:
        part = _user_part(username)
        if part is not None:
            await self._kv.delete(f"login_fail:{part}", f"login_lock:{part}")

    @staticmethod
    def _lock_keys(username: str, remote_addr: str) -> list[str]:
        parts = [_user_part(username), _address_part(remote_addr) if remote_addr else None]
        return [f"login_lock:{part}" for part in parts if part is not None]


def _user_part(username: str) -> str | None:
    if not username or len(username) > _MAX_USERNAME_INPUT:
        return None
    return f"user:{username_key(username)}"


def _address_part(remote_addr: str) -> str | None:
    return f"addr:{remote_addr[:64]}"


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
        await self._throttle.check(username, remote_addr)

        user = None
        if len(username) <= _MAX_USERNAME_INPUT:
            user = await self._store.get_by_username(normalize_username(username))
        password_hash = user.password_hash if user is not None and user.enabled else None
        if user is None or password_hash is None or len(password) > MAX_PASSWORD_LENGTH:
            await self._hasher.verify_dummy(password)
            why = "unknown, disabled or passwordless account" if password_hash is None else ""
            await self._fail(username, remote_addr, why or "password longer than any can be")
        if not await self._hasher.verify(password_hash, password):
            await self._fail(username, remote_addr, "wrong password")

        await self._throttle.reset_user(username)
        if self._hasher.needs_rehash(password_hash):
            # The cost settings were raised: upgrade the hash while the password is at hand.
            await self._store.set_password_hash(
                user.user_id, await self._hasher.hash(password), user.updated_at
            )
        log.info("sign-in succeeded for user %s", user.user_id)
        return LoginResult(user=user, auth_time=self._clock(), amr=(AMR_PASSWORD,))

    async def _fail(self, username: str, remote_addr: str, why: str) -> NoReturn:
        await self._throttle.record_failure(username, remote_addr)
        log.info("sign-in failed from %s: %s", remote_addr or "-", why)
        raise AccessDenied(INVALID_CREDENTIALS, detail=why)
