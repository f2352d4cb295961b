"""Single use of a JWT's ``jti`` within its lifetime: client assertions (RFC 7523
section 3, item 7) and, with the same store, DPoP proofs (RFC 9449 section 11.1).

The first use of an (issuer, jti) pair writes a KeyValue key with ``SET NX`` that
expires when the JWT would no longer be accepted anyway; a second use finds it. On
PostgreSQL + Redis every replica shares the record; on the embedded default the one
process that checks keeps it in memory. When the KeyValue cannot answer, the JWT is
refused with ``temporarily_unavailable``: accepting it would allow a replay.
"""

from __future__ import annotations

import hashlib
from typing import Final

from redis.exceptions import RedisError

from common.errors import TemporarilyUnavailable
from common.kv import KeyValue

#: The shortest time a use is remembered, so that a JWT at the edge of its lifetime
#: (or a clock a little behind) is not forgotten at once.
MIN_TTL_SECONDS: Final = 5.0


class ReplayCache:
    def __init__(self, kv: KeyValue, namespace: str) -> None:
        self._kv = kv
        self._namespace = namespace

    def _key(self, issuer: str, jti: str) -> str:
        # Hashed: a jti is the sender's choice (length, characters); the key is not.
        digest = hashlib.sha256(f"{issuer}\x00{jti}".encode()).hexdigest()
        return f"replay:{self._namespace}:{digest}"

    async def first_use(self, issuer: str, jti: str, *, remember_seconds: float) -> bool:
        """True the first time ``(issuer, jti)`` is seen; False for a replay."""
        try:
            return await self._kv.set_if_absent(
                self._key(issuer, jti), b"1", ttl=max(remember_seconds, MIN_TTL_SECONDS)
            )
        except (RedisError, OSError) as exc:  # TimeoutError is an OSError
            raise TemporarilyUnavailable(
                "Cannot check the JWT for replay now; retry later",
                detail=f"replay cache unreachable: {type(exc).__name__}",
            ) from None
