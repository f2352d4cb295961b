"""Signing keys: RFC 7638 kids, encryption at rest, JWKS contents, reloads."""

from __future__ import annotations

import os

import pytest
from joserfc.jwk import KeySet

from common.timeutil import utcnow
from services.token.domain.jwk import generate_private_key, public_jwk
from services.token.domain.keys import (
    KeyDecryptionError,
    KeyManager,
    decrypt_private_key,
    encrypt_private_key,
)
from services.token.domain.ports import StoredSigningKey
from services.token.tests.fakes import MemorySigningKeyStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_kid_is_the_rfc7638_thumbprint(key_manager: KeyManager) -> None:
    key_set = KeySet.import_key_set({"keys": key_manager.jwks()})  # type: ignore[typeddict-item]
    for key in key_set.keys:
        assert key.kid == key.thumbprint()


def test_jwks_members(key_manager: KeyManager) -> None:
    by_alg = {jwk["alg"]: jwk for jwk in key_manager.jwks()}
    assert set(by_alg) == {"ES256", "RS256"}
    assert set(by_alg["ES256"]) == {"kty", "crv", "x", "y", "kid", "alg", "use"}
    assert by_alg["ES256"]["crv"] == "P-256" and by_alg["ES256"]["use"] == "sig"
    assert set(by_alg["RS256"]) == {"kty", "n", "e", "kid", "alg", "use"}


def test_private_key_round_trip_and_binding() -> None:
    kek = os.urandom(32)
    key = generate_private_key("ES256")
    blob = encrypt_private_key(kek, "kid-1", key)
    assert b"PRIVATE KEY" not in blob
    assert decrypt_private_key(kek, "kid-1", blob).private_numbers() == key.private_numbers()
    with pytest.raises(KeyDecryptionError, match="'key_encryption_key' is not the key"):
        decrypt_private_key(os.urandom(32), "kid-1", blob)
    # The kid is associated data: a row moved under another kid does not decrypt.
    with pytest.raises(KeyDecryptionError):
        decrypt_private_key(kek, "kid-2", blob)


async def test_start_creates_one_key_per_alg_once() -> None:
    store = MemorySigningKeyStore()
    kek = os.urandom(32)
    await KeyManager(store, kek, algs=("ES256",)).start()
    await KeyManager(store, kek, algs=("ES256",)).start()
    assert [k.alg for k in store.keys.values()] == ["ES256"]


async def test_wrong_kek_fails_start() -> None:
    store = MemorySigningKeyStore()
    await KeyManager(store, os.urandom(32), algs=("ES256",)).start()
    with pytest.raises(KeyDecryptionError):
        await KeyManager(store, os.urandom(32), algs=("ES256",)).start()


async def test_jwks_publishes_active_and_previous_only() -> None:
    store = MemorySigningKeyStore()
    kek = os.urandom(32)
    keys = KeyManager(store, kek, algs=("ES256",))
    await keys.start()
    first = keys.signing_key("ES256").kid
    store.set_status(first, "previous")
    await keys.start()  # creates a new active key
    second = keys.signing_key("ES256").kid
    assert {j["kid"] for j in keys.jwks()} == {first, second}
    assert await keys.verification_key(first) is not None
    store.set_status(first, "retired")
    await keys.reload()
    assert {j["kid"] for j in keys.jwks()} == {second}
    assert await keys.verification_key(first) is None
    assert len(keys.keys()) == 2


async def test_unknown_kid_reloads_at_most_once_a_second() -> None:
    store = MemorySigningKeyStore()
    kek = os.urandom(32)
    clock = Clock()
    keys = KeyManager(store, kek, algs=("ES256",), monotonic=clock)
    await keys.start()
    loads = store.list_calls
    clock.now += 5
    assert await keys.verification_key("nope") is None
    assert await keys.verification_key("nope") is None
    assert store.list_calls == loads + 1

    # Another replica rotated: the new kid is found once the interval has passed.
    private = generate_private_key("ES256")
    jwk = public_jwk(private.public_key(), "ES256")
    store.keys[jwk["kid"]] = StoredSigningKey(
        kid=jwk["kid"],
        alg="ES256",
        status="previous",
        public_jwk=jwk,
        private_key_enc=encrypt_private_key(kek, jwk["kid"], private),
        created_at=utcnow(),
    )
    assert await keys.verification_key(jwk["kid"]) is None
    clock.now += 1
    found = await keys.verification_key(jwk["kid"])
    assert found is not None and found.public_jwk == jwk
