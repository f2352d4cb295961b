"""Successful client authentications (RFC 6749 section 2.3) kept in this process.

Every token, introspection and revocation request authenticates its client, and
asking the clients service each time (a gRPC hop, its work, its cache) is a large
part of what a token request costs. A repeated authentication of the same client
with the same credential is served from here instead, without weakening what the
clients service enforces:

- Only successes are kept. A wrong secret, an unknown or disabled client always
  reaches the clients service, which decides and counts them.
- A client assertion (private_key_jwt) is never served from here nor kept: each one
  is good once (RFC 7523 section 3), which only the clients service's replay check
  can tell, so every one goes there.
- The key is (client_id, auth_method, HMAC-SHA256 of the presented secret under a
  random key of this process): the secret itself is never stored, and the hash is
  useless outside the process.
- Strict invalidation across replicas: the clients service writes a new generation
  of a client (common.client_generation) before it answers any change of it, and
  every lookup here reads the current generation with one GET and serves an entry
  only if it was filled under that same generation. So a rotated secret, a disabled,
  updated or deleted client is refused on the very next request on every replica,
  not whenever a pub/sub message arrives. The generation is read *before* the
  clients service is asked, so an entry never claims a generation newer than the
  record it holds.
- Redis away: the generation cannot be checked, so nothing is served from here or
  stored; the clients service answers every request (fail safe: the cache is an
  optimisation, never the authority).
- The TTL (``client_auth_cache_seconds``) is a backstop only, and never outlives
  the secret's own ``client_secret_expires_at``; the LRU bound caps the memory.

The embedded default gives each process its own in-process KeyValue, so the clients
service's generations are invisible here: app.py does not build this cache there.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from redis.exceptions import RedisError

from common.client_generation import CHANGES_CHANNEL, generation_key
from common.kv import KeyValue, follow_channel
from common.timeutil import utcnow
from services.token.domain.ports import AuthenticatedClient, ClientAuthenticator, ClientCredentials
from services.token.metrics import (
    CLIENT_AUTH_CACHE_BYPASSES,
    CLIENT_AUTH_CACHE_HITS,
    CLIENT_AUTH_CACHE_INVALIDATIONS,
    CLIENT_AUTH_CACHE_MISSES,
)

log = logging.getLogger(__name__)

#: (client_id, auth_method, HMAC of the presented secret).
CacheKey = tuple[str, str, bytes]


@dataclass(frozen=True, slots=True)
class _Entry:
    client: AuthenticatedClient
    #: The client's generation when the clients service was asked (None: never changed).
    generation: bytes | None
    #: time.monotonic() after which the entry is not served.
    expires_at: float


class CachingClientAuthenticator:
    """ClientAuthenticator that serves repeated successful authentications from memory
    while the client's generation in the KeyValue is unchanged (RFC 6749 section 2.3)."""

    def __init__(
        self,
        inner: ClientAuthenticator,
        kv: KeyValue,
        *,
        ttl: float,
        max_entries: int,
        monotonic: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._inner = inner
        self._kv = kv
        self._ttl = ttl
        self._max_entries = max_entries
        self._monotonic = monotonic
        self._wall_clock = wall_clock
        self._hash_key = secrets.token_bytes(32)
        self._entries: OrderedDict[CacheKey, _Entry] = OrderedDict()
        self._follower: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._entries)

    def _key(self, credentials: ClientCredentials) -> CacheKey:
        digest = hmac.digest(self._hash_key, credentials.client_secret.encode(), hashlib.sha256)
        return credentials.client_id, credentials.auth_method, digest

    async def authenticate(self, credentials: ClientCredentials) -> AuthenticatedClient:
        if credentials.client_assertion or credentials.client_certificate:
            # Good once (an assertion), or a certificate the key does not cover: never
            # served from here, never stored.
            return await self._inner.authenticate(credentials)
        try:
            generation = await self._kv.get(generation_key(credentials.client_id))
        except (RedisError, OSError) as exc:
            # Without the generation nothing here can be trusted, nor stored.
            CLIENT_AUTH_CACHE_BYPASSES.inc()
            log.debug("client generation unreadable, asking the clients service: %s", exc)
            return await self._inner.authenticate(credentials)
        key = self._key(credentials)
        now = self._monotonic()
        entry = self._entries.get(key)
        if entry is not None:
            if entry.generation == generation and now < entry.expires_at:
                self._entries.move_to_end(key)
                CLIENT_AUTH_CACHE_HITS.inc()
                return entry.client
            del self._entries[key]
            reason = "generation" if entry.generation != generation else "expired"
            CLIENT_AUTH_CACHE_INVALIDATIONS.labels(reason).inc()
        CLIENT_AUTH_CACHE_MISSES.inc()
        # Raises on any failure, so nothing but a success is ever stored.
        client = await self._inner.authenticate(credentials)
        expires_at = now + self._ttl
        if client.credentials_expire_at is not None:
            left = (client.credentials_expire_at - self._wall_clock()).total_seconds()
            expires_at = min(expires_at, now + left)
        if expires_at > now:
            self._entries[key] = _Entry(client, generation, expires_at)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
        return client

    def drop_client(self, client_id: str) -> int:
        """Forget every entry of ``client_id``; how many went."""
        keys = [key for key in self._entries if key[0] == client_id]
        for key in keys:
            del self._entries[key]
        return len(keys)

    def clear(self) -> None:
        self._entries.clear()

    async def _on_change(self, client_id: str) -> None:
        dropped = self.drop_client(client_id)
        if dropped:
            CLIENT_AUTH_CACHE_INVALIDATIONS.labels("published").inc(dropped)

    async def _on_gap(self) -> None:
        # Missed messages cost nothing in correctness (the generation is checked on
        # every lookup); clearing keeps the memory of changed clients from lingering.
        self.clear()

    def start(self) -> None:
        """Follow the clients service's announcements of changed clients."""
        if self._follower is None:
            self._follower = asyncio.create_task(
                follow_channel(self._kv, CHANGES_CHANNEL, self._on_change, self._on_gap),
                name="client-auth-cache-follower",
            )

    async def close(self) -> None:
        if self._follower is not None:
            self._follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._follower
            self._follower = None
        self.clear()
