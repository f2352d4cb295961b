"""Client secrets at rest (RFC 6749 section 2.3.1, DESIGN.md "Tokens").

Two stored forms, told apart by prefix:

* ``sha256$<hex>`` for secrets the server generates. They hold 256 random bits,
  so there is nothing to guess and a plain hash is as strong as a password
  hash, while checking one on the token path costs microseconds.
* ``$argon2id$...`` (PHC string) for secrets an operator imports. Those may be
  human-chosen, so they get the slow password hash. Verifying one runs in a
  worker thread to keep the event loop free.

A ``client_secret_jwt`` client's secret is the HMAC key of its assertions (RFC 7523
section 2.2), which no hash can check, so the registry keeps it a second time,
sealed (:class:`SealedSecrets`): AES-256-GCM under the service's key-encryption key
with the client_id as associated data (common.kek), so that a row copied to another
client, or read with another key, does not open. Generated ones hold 512 bits, a
key as long as HS512 asks for (RFC 7518 section 3.2).
"""

from __future__ import annotations

import asyncio
from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from common.kek import Unsealable, seal, unseal
from common.secrets import TOKEN_BYTES, constant_time_equals, random_token, sha256_hex

SHA256_PREFIX: Final = "sha256$"
ARGON2ID_PREFIX: Final = "$argon2id$"
#: The random bytes of a generated client_secret_jwt secret: HS512's key length.
MAC_KEY_SECRET_BYTES: Final = 64

# argon2-cffi's defaults are RFC 9106's second recommended option (64 MiB, t=3).
_password_hasher = PasswordHasher()

# Compared against when the client is unknown so that the answer takes as long as
# a wrong secret for a known client.
_DUMMY_HASH: Final = SHA256_PREFIX + sha256_hex("unknown-client")


def generate_secret(nbytes: int = TOKEN_BYTES) -> tuple[str, str]:
    """A new secret of ``nbytes`` random bytes (>= 256 bits) and its stored form:
    ``(plain_text, stored_hash)``."""
    secret = random_token(max(nbytes, TOKEN_BYTES))
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


class SecretUnavailable(Exception):
    """A sealed secret does not open: another key-encryption key, a row copied from
    another client, or no sealed copy at all."""


class SealedSecrets:
    """The secrets of ``client_secret_jwt`` clients at rest: sealed with AES-256-GCM
    under ``kek`` (common.kek), the client_id as associated data."""

    def __init__(self, kek: bytes) -> None:
        self._kek = kek

    def seal(self, client_id: str, secret: str) -> bytes:
        return seal(self._kek, secret.encode("utf-8"), client_id.encode("utf-8"))

    def open(self, client_id: str, sealed: bytes | None) -> bytes:
        """The secret's octets (the HMAC key, OpenID Connect Core section 10.1), or
        SecretUnavailable."""
        if not sealed:
            raise SecretUnavailable(f"no sealed secret is stored for {client_id!r}")
        try:
            return unseal(self._kek, sealed, client_id.encode("utf-8"))
        except Unsealable:
            raise SecretUnavailable(
                f"the sealed secret of {client_id!r} does not open: another client's row, "
                "or not this service's 'key_encryption_key'"
            ) from None
