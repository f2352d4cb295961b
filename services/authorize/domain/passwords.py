"""User passwords at rest: Argon2id (RFC 9106) PHC strings, and the rules a
new password must follow (NIST SP 800-63B section 5.1.1.2: length, not
composition).

Argon2 runs in a bounded pool of worker threads, so that one sign-in does not
stall every other call on the event loop and a flood of sign-ins cannot queue
without end: at most ``workers`` hashes run and ``queue`` more wait; beyond
that the call is refused at once with :class:`common.errors.Overloaded`
(RESOURCE_EXHAUSTED, ``retry_after``), before any hashing, instead of waiting
until the caller's deadline turns it into a generic error.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Final, TypeVar

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from common.errors import InvalidRequest, Overloaded
from common.secrets import random_token

ARGON2ID_PREFIX: Final = "$argon2id$"
MIN_PASSWORD_LENGTH: Final = 8
# Long enough for any passphrase or generated password, short enough that
# hashing it is not a denial-of-service lever.
MAX_PASSWORD_LENGTH: Final = 1024
#: Retry-After of a refusal while the hashing queue is full: a hash takes well
#: under a second, so the queue has moved on by then.
OVERLOADED_RETRY_AFTER: Final = 1

_T = TypeVar("_T")


#: The place :meth:`Argon2PasswordHasher.reserved` took for the task it runs in:
#: ``[True]`` until the task's next hash or verification uses it.
_RESERVATION: contextvars.ContextVar[list[bool] | None] = contextvars.ContextVar(
    "argon2_reservation", default=None
)


def default_workers() -> int:
    return os.cpu_count() or 1


def validate_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidRequest(f"'password' must be at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidRequest(f"'password' must be at most {MAX_PASSWORD_LENGTH} characters")
    return password


class Argon2PasswordHasher:
    """Argon2id with the configured cost; the PasswordHashing port. ``workers``
    threads hash, ``queue`` calls more may wait (default four per worker);
    ``on_refused`` is called for each call refused because both are full."""

    def __init__(
        self,
        *,
        time_cost: int = 3,
        memory_cost: int = 65_536,
        parallelism: int = 4,
        workers: int | None = None,
        queue: int | None = None,
        on_refused: Callable[[], None] | None = None,
    ):
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism, type=Type.ID
        )
        # Made once, at start-up, so that no sign-in pays for it.
        self._dummy_hash = self._hasher.hash(random_token())
        self.workers = workers or default_workers()
        self.queue = 4 * self.workers if queue is None else queue
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="argon2")
        self._in_flight = 0
        self._lock = threading.Lock()
        self._on_refused = on_refused or (lambda: None)

    async def hash(self, password: str) -> str:
        return await self._run(self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        if not password_hash.startswith(ARGON2ID_PREFIX):
            return False
        return await self._run(self._verify, password_hash, password)

    async def verify_dummy(self, password: str) -> None:
        """Unknown and disabled users cost a verification at the same parameters
        as a real one, so the answer's timing says nothing about the account."""
        await self._run(self._verify, self._dummy_hash, password)

    @contextlib.contextmanager
    def reserved(self) -> Iterator[None]:
        """A place in the pool, taken now, for the next hash or verification of the
        task inside: Overloaded at once when workers and queue are full, before the
        caller does what a refusal would have to undo (a sign-in counts its attempt
        first: counted and withdrawn later, concurrent refusals would briefly look
        like failures and lock the user out). Given back if nothing used it."""
        self._take()
        holder = [True]
        token = _RESERVATION.set(holder)
        try:
            yield
        finally:
            _RESERVATION.reset(token)
            if holder[0]:
                self._release(None)

    def _take(self) -> None:
        with self._lock:
            full = self._in_flight >= self.workers + self.queue
            if not full:
                self._in_flight += 1
        if full:
            self._on_refused()
            raise Overloaded(
                "Too many sign-ins at once; retry in a moment",
                detail=f"Argon2 queue full ({self.workers} workers, {self.queue} waiting)",
                retry_after=OVERLOADED_RETRY_AFTER,
            )

    async def _run(self, function: Callable[..., _T], *args: str) -> _T:
        """Run in the pool, or refuse at once when its workers and queue are full
        (unless :meth:`reserved` holds a place for this call). A place is given back
        when the thread is done, not when the caller stops waiting: a cancelled
        call's hash still occupies its worker."""
        holder = _RESERVATION.get()
        if holder is not None and holder[0]:
            holder[0] = False  # the reserved place is this call's
        else:
            self._take()
        future = self._pool.submit(function, *args)
        future.add_done_callback(self._release)
        return await asyncio.wrap_future(future)

    def _release(self, _: Future[Any] | None) -> None:
        with self._lock:
            self._in_flight -= 1

    @property
    def in_flight(self) -> int:
        """Hashes running or waiting for a worker."""
        return self._in_flight

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def needs_rehash(self, password_hash: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except (InvalidHashError, ValueError):
            return True

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False
