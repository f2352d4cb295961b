"""CachedClientStore: a read-through cache in front of any ClientStore.

Client lookups sit on the token path (every client authentication), so they
are served from the KeyValue (Redis, shared by every replica) and reach the
database only on a miss. Every write through this wrapper deletes the key
afterwards, so the next read sees the new data on every replica.

A read that races a write may put the old record back; the TTL bounds how long
that can last. Misses are not cached, so a new client is visible at once.
The cached record holds the secret *hash* only (a hash of a 256-bit value, or
an Argon2id string), never a secret: a ``client_secret_jwt`` client's secret is
there only as the database has it, sealed under the key-encryption key, which
never leaves this service.

Without Redis reads go to the database (a lookup waits for one failed
cache call, not two: nothing is written back to a cache that just failed), but a
change is refused, ``temporarily_unavailable``, unless the old entry could be
deleted first: a change written while the cache cannot be cleared would leave a
disabled client, a rotated secret or a deleted client working on every replica
for the TTL once Redis answers again (it kept its data through a partition, a
pause or a restart from disk). Fail closed, as the revocation list does.

The same two steps write a new generation of the client (common.client_generation)
for the token service's in-memory cache of client authentications: before the
change, so that a change is refused when the token replicas could not learn of it,
and again after the write, so that an authentication that raced the write (read
the old record after the first bump) is not served on the generation it saw. Every
change of a client (admin API, oauth2ctl, RFC 7592, a secret rotated, a client
enabled or disabled) is an ``update`` or a ``delete`` of this store, so no path is
missed. After the write the client_id is also published so that replicas drop
their entries at once rather than on their next lookup.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
from datetime import datetime
from typing import Any

from redis.exceptions import RedisError

from common.client_generation import (
    CHANGES_CHANNEL,
    GENERATION_TTL_SECONDS,
    generation_key,
    new_generation,
)
from common.errors import TemporarilyUnavailable
from common.kv import KeyValue
from services.clients.domain.model import Client
from services.clients.domain.ports import ClientStore
from services.clients.metrics import CLIENT_CACHE_HITS, CLIENT_CACHE_MISSES

log = logging.getLogger(__name__)

#: The answer to a change while the cache cannot be cleared.
CACHE_UNAVAILABLE = "The client registry cannot be changed right now; retry later"

# Bump the version when the encoding changes so that old entries are ignored.
KEY_PREFIX = "clients:v2:"
_TUPLE_FIELDS = frozenset(
    f.name for f in dataclasses.fields(Client) if str(f.type).startswith("tuple")
)
_DATETIME_FIELDS = ("created_at", "updated_at", "client_secret_expires_at")
#: Bytes, as base64 text in the JSON.
_BYTES_FIELDS = ("client_secret_encrypted",)


def encode_client(client: Client) -> str:
    values: dict[str, Any] = {}
    for field in dataclasses.fields(Client):
        value = getattr(client, field.name)
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, bytes):
            value = base64.b64encode(value).decode("ascii")
        values[field.name] = value
    return json.dumps(values, separators=(",", ":"))


def decode_client(raw: bytes | str) -> Client:
    values = json.loads(raw)
    for name in _TUPLE_FIELDS:
        values[name] = tuple(values[name])
    for name in _DATETIME_FIELDS:
        if values[name] is not None:
            values[name] = datetime.fromisoformat(values[name])
    for name in _BYTES_FIELDS:
        if values.get(name) is not None:
            values[name] = base64.b64decode(values[name], validate=True)
    return Client(**values)


class CachedClientStore:
    """ClientStore that caches ``get`` by client_id in a KeyValue for ``ttl`` seconds."""

    def __init__(self, inner: ClientStore, kv: KeyValue, *, ttl: float) -> None:
        self._inner = inner
        self._kv = kv
        self._ttl = ttl

    @staticmethod
    def key(client_id: str) -> str:
        return KEY_PREFIX + client_id

    async def get(self, client_id: str) -> Client | None:
        cached, reachable = await self._read(client_id)
        if cached is not None:
            CLIENT_CACHE_HITS.inc()
            return cached
        CLIENT_CACHE_MISSES.inc()
        client = await self._inner.get(client_id)
        if client is not None and reachable:
            try:
                await self._kv.set(self.key(client_id), encode_client(client), self._ttl)
            except (RedisError, OSError) as exc:
                log.warning("client cache write failed: %s", exc)
        return client

    async def create(self, client: Client) -> None:
        await self._inner.create(client)

    async def list(self, *, after: str | None, limit: int, search: str) -> tuple[list[Client], int]:
        return await self._inner.list(after=after, limit=limit, search=search)

    async def update(self, client: Client, *, expected_revision: int) -> None:
        await self._clear_before_change(client.client_id)
        try:
            await self._inner.update(client, expected_revision=expected_revision)
        finally:
            # Also after a failed write: a Conflict means the cached copy is stale.
            # And after a good one: a read racing the write may have put it back.
            await self._invalidate(client.client_id)

    async def delete(self, client_id: str) -> bool:
        await self._clear_before_change(client_id)
        try:
            return await self._inner.delete(client_id)
        finally:
            await self._invalidate(client_id)

    async def _read(self, client_id: str) -> tuple[Client | None, bool]:
        """The cached client, if any, and whether the cache answered at all."""
        # A cache that is down or holds garbage must not fail authentication:
        # fall through to the database instead.
        try:
            raw = await self._kv.get(self.key(client_id))
        except (RedisError, OSError) as exc:
            log.warning("client cache read failed: %s", exc)
            return None, False
        if raw is None:
            return None, True
        try:
            return decode_client(raw), True
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring an undecodable cache entry for client %r", client_id)
            return None, True

    async def _bump_generation(self, client_id: str) -> None:
        await self._kv.set(generation_key(client_id), new_generation(), GENERATION_TTL_SECONDS)

    async def _clear_before_change(self, client_id: str) -> None:
        try:
            await self._kv.delete(self.key(client_id))
            await self._bump_generation(client_id)
        except (RedisError, OSError) as exc:
            raise TemporarilyUnavailable(
                CACHE_UNAVAILABLE, detail=f"client cache: {type(exc).__name__}: {exc}"
            ) from exc

    async def _invalidate(self, client_id: str) -> None:
        try:
            await self._kv.delete(self.key(client_id))
            await self._bump_generation(client_id)
        except (RedisError, OSError) as exc:
            # The write is committed and the first bump already made every cached
            # authentication stale; what is left is an authentication that raced the
            # write, which expires with its TTL.
            log.error("client cache invalidation failed for %r: %s", client_id, exc)
            return
        try:
            await self._kv.publish(CHANGES_CHANNEL, client_id)
        except (RedisError, OSError) as exc:
            # Only an early drop is lost: the generation is what makes lookups strict.
            log.warning("client change of %r not published: %s", client_id, exc)
