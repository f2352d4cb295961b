"""Random values and their hashes: client secrets, codes, refresh tokens.

Everything the server generates is >= 256 bits from ``secrets`` and is stored
only as its SHA-256 digest. For a random 256-bit value a plain hash is as
strong as any password hash (there is nothing to guess) and verifies in
microseconds, which keeps Argon2id off the token path (DESIGN.md, Tokens).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

TOKEN_BYTES = 32  # 256 bits


def random_token(nbytes: int = TOKEN_BYTES) -> str:
    """URL-safe text holding ``nbytes`` of randomness."""
    return secrets.token_urlsafe(nbytes)


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def constant_time_equals(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
