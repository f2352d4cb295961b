"""User passwords at rest: Argon2id (RFC 9106) PHC strings, and the rules a
new password must follow (NIST SP 800-63B section 5.1.1.2: length, not
composition).

Argon2 runs in a worker thread so that one sign-in does not stall every other
call on the event loop.
"""

from __future__ import annotations

import asyncio
from typing import Final

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from common.errors import InvalidRequest
from common.secrets import random_token

ARGON2ID_PREFIX: Final = "$argon2id$"
MIN_PASSWORD_LENGTH: Final = 8
# Long enough for any passphrase or generated password, short enough that
# hashing it is not a denial-of-service lever.
MAX_PASSWORD_LENGTH: Final = 1024


def validate_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidRequest(f"'password' must be at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidRequest(f"'password' must be at most {MAX_PASSWORD_LENGTH} characters")
    return password


class Argon2PasswordHasher:
    """Argon2id with the configured cost; the PasswordHashing port."""

    def __init__(self, *, time_cost: int = 3, memory_cost: int = 65_536, parallelism: int = 4):
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism, type=Type.ID
        )
        # Made once, at start-up, so that no sign-in pays for it.
        self._dummy_hash = self._hasher.hash(random_token())

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        if not password_hash.startswith(ARGON2ID_PREFIX):
            return False
        return await asyncio.to_thread(self._verify, password_hash, password)

    async def verify_dummy(self, password: str) -> None:
        """Unknown and disabled users cost a verification at the same parameters
        as a real one, so the answer's timing says nothing about the account."""
        await asyncio.to_thread(self._verify, self._dummy_hash, password)

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
