"""Signing keys and the JWK Set (RFC 7517 section 5), encrypted at rest.

Each supported alg has one ``active`` key that signs; ``previous`` keys are
still published and verify until every token they signed has expired;
``retired`` keys are neither. The private key (PKCS#8 PEM) is stored as
nonce || AES-256-GCM(KEK, PEM, associated data = kid), so a row copied under
another kid, or read with another KEK, does not decrypt.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from common.timeutil import utcnow
from services.token.domain.jwk import (
    SUPPORTED_ALGS,
    PrivateKey,
    PublicKey,
    generate_private_key,
    public_jwk,
)
from services.token.domain.ports import SigningKeyStore, StoredSigningKey

NONCE_BYTES = 12  # 96-bit GCM nonce (NIST SP 800-38D section 8.2)
PUBLISHED_STATUSES = ("active", "previous")
# An unknown kid reloads the store at most this often, so garbage tokens with
# random kids cannot turn introspection into a database load generator.
RELOAD_INTERVAL_SECONDS = 1.0


class KeyDecryptionError(Exception):
    """Stored private keys do not decrypt: the key-encryption key is not the one they
    were encrypted with."""


def encrypt_private_key(kek: bytes, kid: str, private_key: PrivateKey) -> bytes:
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(kek).encrypt(nonce, pem, kid.encode("utf-8"))


def decrypt_private_key(kek: bytes, kid: str, blob: bytes) -> PrivateKey:
    nonce, ciphertext = blob[:NONCE_BYTES], blob[NONCE_BYTES:]
    try:
        pem = AESGCM(kek).decrypt(nonce, ciphertext, kid.encode("utf-8"))
    except InvalidTag:
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

    @property
    def public_key(self) -> PublicKey:
        return self.private_key.public_key()

    @property
    def published(self) -> bool:
        return self.status in PUBLISHED_STATUSES


class KeyManager:
    """The signing keys of this replica (RFC 7517); creates missing active keys at start."""

    def __init__(
        self,
        store: SigningKeyStore,
        kek: bytes,
        *,
        algs: tuple[str, ...] = SUPPORTED_ALGS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._kek = kek
        self._algs = algs
        self._monotonic = monotonic
        self._keys: dict[str, SigningKey] = {}
        self._last_reload = float("-inf")

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
            keys[stored.kid] = SigningKey(
                kid=stored.kid,
                alg=stored.alg,
                status=stored.status,
                public_jwk=stored.public_jwk,
                private_key=decrypt_private_key(self._kek, stored.kid, stored.private_key_enc),
                created_at=stored.created_at,
                retired_at=stored.retired_at,
            )
        self._keys = keys
        self._last_reload = self._monotonic()

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
        return key if key is not None and key.published else None

    def keys(self) -> list[SigningKey]:
        return sorted(self._keys.values(), key=lambda k: (k.alg, k.created_at))

    def jwks(self) -> list[dict[str, str]]:
        """The public JWKs of the active and previous keys (RFC 7517 section 5)."""
        return [dict(key.public_jwk) for key in self.keys() if key.published]
