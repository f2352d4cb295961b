"""Signing keys and the JWK Set (RFC 7517 section 5), encrypted at rest.

Each supported alg has one ``active`` key that signs; ``previous`` keys are
still published and verify until every token they signed has expired;
``retired`` keys are neither. The private key (PKCS#8 PEM) is stored as
nonce || AES-256-GCM(KEK, PEM, associated data = kid) (common.kek), so a row
copied under another kid, or read with another KEK, does not decrypt.

Rotation (docs/operators.md): a new active key; the former one becomes
``previous`` with ``retire_after`` = now + the longest token lifetime + skew,
and retires by itself then (checked when the JWKS or the key list is read, and
periodically), or at once by an operator. Other replicas hear of both on the
``keys`` channel and reload; an unknown kid makes them reload too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from cryptography.hazmat.primitives import serialization

from common.errors import InvalidRequest, NotFound
from common.kek import Unsealable, seal, unseal
from common.kv import KeyValue, follow_channel
from common.timeutil import utcnow
from common.vocabulary import SigningAlg
from services.token.domain.jwk import (
    SUPPORTED_ALGS,
    PrivateKey,
    PublicKey,
    generate_private_key,
    public_jwk,
)
from services.token.domain.ports import SigningKeyStore, StoredSigningKey

log = logging.getLogger(__name__)

PUBLISHED_STATUSES = ("active", "previous")
# An unknown kid reloads the store at most this often, so garbage tokens with
# random kids cannot turn introspection into a database load generator.
RELOAD_INTERVAL_SECONDS = 1.0
# Pub/sub channel on which a replica that rotated or retired a key tells the others.
CHANNEL = "keys"
# A previous key outlives the longest token by this much: clocks of replicas differ.
RETIREMENT_SKEW = timedelta(seconds=60)
RESUBSCRIBE_DELAY_SECONDS = 1.0


class KeyDecryptionError(Exception):
    """Stored private keys do not decrypt: the key-encryption key is not the one they
    were encrypted with."""


def encrypt_private_key(kek: bytes, kid: str, private_key: PrivateKey) -> bytes:
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return seal(kek, pem, kid.encode("utf-8"))


def decrypt_private_key(kek: bytes, kid: str, blob: bytes) -> PrivateKey:
    try:
        pem = unseal(kek, blob, kid.encode("utf-8"))
    except Unsealable:
        raise KeyDecryptionError(
            f"signing key {kid} does not decrypt: 'key_encryption_key' is not the key "
            "the signing keys were stored with"
        ) from None
    key = serialization.load_pem_private_key(pem, password=None)
    return key  # type: ignore[return-value]


@dataclass(frozen=True)
class SigningKey:
    """A decrypted signing key in memory (RFC 7517 section 4)."""

    kid: str
    alg: str
    status: str
    public_jwk: dict[str, str]
    private_key: PrivateKey
    created_at: datetime
    retired_at: datetime | None = None
    retire_after: datetime | None = None

    @property
    def public_key(self) -> PublicKey:
        return self.private_key.public_key()

    @property
    def published(self) -> bool:
        return self.status in PUBLISHED_STATUSES

    def published_at(self, now: datetime) -> bool:
        """Published and verifying: active, or previous and not yet due to retire."""
        if self.status == "previous" and self.retire_after is not None:
            return self.retire_after > now
        return self.published

    def due(self, now: datetime) -> bool:
        return self.status == "previous" and not self.published_at(now)


class KeyManager:
    """The signing keys of this replica (RFC 7517); creates missing active keys at start."""

    def __init__(
        self,
        store: SigningKeyStore,
        kek: bytes,
        *,
        algs: tuple[str, ...] = SUPPORTED_ALGS,
        monotonic: Callable[[], float] = time.monotonic,
        clock: Callable[[], datetime] = utcnow,
        kv: KeyValue | None = None,
        max_token_ttl_seconds: int = 86400,
        maintenance_interval: float = 30.0,
        default_alg: str = SigningAlg.ES256,
    ) -> None:
        self._store = store
        self._kek = kek
        self._algs = algs
        self._monotonic = monotonic
        self._clock = clock
        self._kv = kv
        # A previous key verifies for this long after the rotation (docs/operators.md).
        self._grace = timedelta(seconds=max_token_ttl_seconds) + RETIREMENT_SKEW
        self._maintenance_interval = maintenance_interval
        # What a rotation without an alg rotates: the access tokens' key.
        self._default_alg = default_alg
        self._keys: dict[str, SigningKey] = {}
        self._last_reload = float("-inf")
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Ensure one active key per alg, then load every key (raises KeyDecryptionError)."""
        for alg in self._algs:
            await self._ensure_active(alg)
        await self.reload()

    async def _ensure_active(self, alg: str) -> None:
        if await self._store.active_key(alg) is not None:
            return
        private_key = generate_private_key(alg)
        jwk = public_jwk(private_key.public_key(), alg)
        candidate = StoredSigningKey(
            kid=jwk["kid"],
            alg=alg,
            status="active",
            public_jwk=jwk,
            private_key_enc=encrypt_private_key(self._kek, jwk["kid"], private_key),
            created_at=utcnow(),
        )
        await self._store.add_active_key(candidate)

    async def reload(self) -> None:
        keys: dict[str, SigningKey] = {}
        for stored in await self._store.list_keys():
            loaded = self._keys.get(stored.kid)
            # A key decrypted before needs no second AES-GCM and PEM parse.
            private_key = (
                loaded.private_key
                if loaded is not None
                else decrypt_private_key(self._kek, stored.kid, stored.private_key_enc)
            )
            keys[stored.kid] = SigningKey(
                kid=stored.kid,
                alg=stored.alg,
                status=stored.status,
                public_jwk=stored.public_jwk,
                private_key=private_key,
                created_at=stored.created_at,
                retired_at=stored.retired_at,
                retire_after=stored.retire_after,
            )
        self._keys = keys
        self._last_reload = self._monotonic()

    # -- background work: hearing of other replicas' changes, retiring due keys ---------

    async def watch(self) -> None:
        """Start the ``keys`` subscriber and the periodic retirement and reload."""
        self._tasks = [asyncio.create_task(self._maintenance(), name="keys-maintenance")]
        if self._kv is not None:
            self._tasks.append(asyncio.create_task(self._subscriber(), name="keys-subscriber"))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def _subscriber(self) -> None:
        assert self._kv is not None

        async def on_change(_message: str) -> None:
            await self.reload()

        # A change announced while the subscription was down is in the database.
        await follow_channel(
            self._kv,
            CHANNEL,
            on_change,
            self.reload,
            resubscribe_delay=RESUBSCRIBE_DELAY_SECONDS,
        )

    async def _maintenance(self) -> None:
        while True:
            await asyncio.sleep(self._maintenance_interval)
            try:
                # The reload repairs a lost message; then due keys retire.
                await self.reload()
                await self.retire_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("signing key maintenance failed", exc_info=True)

    async def _announce(self, message: str) -> None:
        if self._kv is None:
            return
        try:
            await self._kv.publish(CHANNEL, message)
        except Exception:
            log.warning("key change %s not published; replicas reload on an unknown kid", message)

    # -- operators: rotation and retirement (docs/operators.md) ---------------------------

    async def rotate(self, alg: str = "") -> SigningKey:
        """A new active key of ``alg`` (default: the access tokens' alg); the former active
        key becomes ``previous`` until every token it signed has expired."""
        alg = alg or self._default_alg
        if alg not in SUPPORTED_ALGS:
            raise InvalidRequest(f"Unsupported 'alg' '{alg}': use {' or '.join(SUPPORTED_ALGS)}")
        now = self._clock()
        private_key = generate_private_key(alg)
        jwk = public_jwk(private_key.public_key(), alg)
        await self._store.rotate_key(
            StoredSigningKey(
                kid=jwk["kid"],
                alg=alg,
                status="active",
                public_jwk=jwk,
                private_key_enc=encrypt_private_key(self._kek, jwk["kid"], private_key),
                created_at=now,
            ),
            retire_after=now + self._grace,
        )
        await self.reload()
        await self._announce(f"rotated:{jwk['kid']}")
        log.info("signing key rotated: %s:%s", alg, jwk["kid"])
        return self._keys[jwk["kid"]]

    async def retire(self, kid: str) -> SigningKey:
        """Retire a previous key at once: it leaves the JWKS and its tokens are inactive.
        Retiring a retired key changes nothing."""
        stored = await self._store.get_key(kid)
        if stored is None:
            raise NotFound(f"Signing key {kid!r} not found")
        if stored.status == "active":
            raise InvalidRequest("Rotate the key before retiring it")
        if stored.status == "previous":
            await self._store.retire_key(kid, self._clock())
        await self.reload()
        await self._announce(f"retired:{kid}")
        return self._keys[kid]

    async def retire_due(self) -> None:
        """Retire the previous keys past their retire_after; cheap when none is due (the
        check is in memory)."""
        now = self._clock()
        if not any(key.due(now) for key in self._keys.values()):
            return
        if await self._store.retire_due(now):
            await self._announce("retired")
        await self.reload()

    async def list_keys(self) -> list[SigningKey]:
        """Every key, retired ones too, newest first."""
        await self.retire_due()
        return self.keys()

    async def published_jwks(self) -> list[dict[str, str]]:
        """The JWK Set as served: due keys retired first."""
        await self.retire_due()
        return self.jwks()

    def signing_key(self, alg: str) -> SigningKey:
        """The active key of ``alg``; start() guarantees one per supported alg."""
        for key in self._keys.values():
            if key.alg == alg and key.status == "active":
                return key
        raise LookupError(f"no active {alg} signing key")

    async def verification_key(self, kid: str) -> SigningKey | None:
        """The published key with this kid, reloading (rate-limited) when unknown."""
        key = self._keys.get(kid)
        if key is None and self._monotonic() - self._last_reload >= RELOAD_INTERVAL_SECONDS:
            # Another replica may have rotated since this one loaded its keys.
            await self.reload()
            key = self._keys.get(kid)
        return key if key is not None and key.published_at(self._clock()) else None

    def keys(self) -> list[SigningKey]:
        """Every key, newest first; a previous key past its retire_after shows as retired
        even before the store says so."""
        now = self._clock()
        keys = [
            replace(key, status="retired", retired_at=key.retire_after) if key.due(now) else key
            for key in self._keys.values()
        ]
        return sorted(keys, key=lambda k: (k.created_at, k.kid), reverse=True)

    def jwks(self) -> list[dict[str, str]]:
        """The public JWKs of the active and previous keys (RFC 7517 section 5)."""
        now = self._clock()
        return [dict(key.public_jwk) for key in self.keys() if key.published_at(now)]
