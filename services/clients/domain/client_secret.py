"""Client secrets at rest (RFC 6749 section 2.3.1, DESIGN.md "Tokens").

Two stored forms, told apart by prefix:

* ``sha256$<hex>`` for secrets the server generates. They hold 256 random bits,
  so there is nothing to guess and a plain hash is as strong as a password
  hash, while checking one on the token path costs microseconds.
* ``$argon2id$...`` (PHC string) for secrets an operator imports. Those may be
  human-chosen, so they get the slow password hash. Verifying one runs in a
  worker thread to keep the event loop free.
"""

from __future__ import annotations

import asyncio
from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from common.secrets import constant_time_equals, random_token, sha256_hex

SHA256_PREFIX: Final = "sha256$"
ARGON2ID_PREFIX: Final = "$argon2id$"

# argon2-cffi's defaults are RFC 9106's second recommended option (64 MiB, t=3).
_password_hasher = PasswordHasher()

# Compared against when the client is unknown so that the answer takes as long as
# a wrong secret for a known client.
_DUMMY_HASH: Final = SHA256_PREFIX + sha256_hex("unknown-client")


def generate_secret() -> tuple[str, str]:
    """A new >= 256-bit secret and its stored form: ``(plain_text, stored_hash)``."""
    secret = random_token()
    return secret, hash_generated_secret(secret)


def hash_generated_secret(secret: str) -> str:
    return SHA256_PREFIX + sha256_hex(secret)


async def hash_imported_secret(secret: str) -> str:
    """Argon2id PHC string of an operator-supplied secret."""
    return await asyncio.to_thread(_password_hasher.hash, secret)


async def verify_secret(secret: str, stored_hash: str | None) -> bool:
    """True when ``secret`` matches ``stored_hash``; False for no or unknown hashes."""
    if not stored_hash:
        return False
    if stored_hash.startswith(SHA256_PREFIX):
        return constant_time_equals(hash_generated_secret(secret), stored_hash)
    if stored_hash.startswith(ARGON2ID_PREFIX):
        return await asyncio.to_thread(_verify_argon2, secret, stored_hash)
    return False


def dummy_verify(secret: str) -> None:
    """Spend the time of a generated-secret check without any stored hash."""
    constant_time_equals(hash_generated_secret(secret), _DUMMY_HASH)


def _verify_argon2(secret: str, stored_hash: str) -> bool:
    try:
        return _password_hasher.verify(stored_hash, secret)
    except (VerificationError, InvalidHashError):
        return False
