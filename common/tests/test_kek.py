"""common.kek: the base64url key, and values sealed with AES-256-GCM under it that
open only with the same key and the same associated data."""

from __future__ import annotations

import base64
import os

import pytest
from pydantic import SecretStr

from common.kek import (
    KEK_BYTES,
    NONCE_BYTES,
    Unsealable,
    check_key_encryption_key,
    decode_key_encryption_key,
    seal,
    unseal,
)


def test_a_key_is_base64url_of_32_bytes_padded_or_not() -> None:
    raw = os.urandom(KEK_BYTES)
    padded = base64.urlsafe_b64encode(raw).decode()
    assert decode_key_encryption_key(padded) == raw
    assert decode_key_encryption_key(padded.rstrip("=") + "\n") == raw
    for bad in ("", "!!!", base64.urlsafe_b64encode(os.urandom(31)).decode()):
        assert decode_key_encryption_key(bad) is None
    assert check_key_encryption_key(SecretStr("")) is None
    assert check_key_encryption_key(None) is None
    with pytest.raises(ValueError, match="exactly 32 bytes") as caught:
        check_key_encryption_key(SecretStr("not-a-key"))
    assert "not-a-key" not in str(caught.value)


def test_sealed_values_open_with_the_same_key_and_associated_data_only() -> None:
    kek = os.urandom(KEK_BYTES)
    sealed = seal(kek, b"the secret", b"client-a")
    assert b"the secret" not in sealed
    assert len(sealed) == NONCE_BYTES + len(b"the secret") + 16
    assert seal(kek, b"the secret", b"client-a") != sealed  # a fresh nonce each time
    assert unseal(kek, sealed, b"client-a") == b"the secret"
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    for key, blob, data in (
        (kek, sealed, b"client-b"),
        (os.urandom(KEK_BYTES), sealed, b"client-a"),
        (kek, tampered, b"client-a"),
        (kek, sealed[:NONCE_BYTES], b"client-a"),
        (kek, b"", b"client-a"),
    ):
        with pytest.raises(Unsealable):
            unseal(key, blob, data)
