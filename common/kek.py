"""A service's key-encryption key (KEK), and the values it seals at rest with
AES-256-GCM.

Two services keep secrets they must read back, so a hash will not do: the token
service its private signing keys, the clients service the secrets of
``client_secret_jwt`` clients (an HMAC is checked with the secret itself, RFC 7523
section 2.2). Each has a ``key_encryption_key`` setting of its own.

Where the key comes from (:func:`resolve_key_encryption_key`): production sets
``key_encryption_key``, base64url of 32 random bytes. The embedded SQLite default
may run without one: a development key is generated once into
``<data_dir>/<development_file>`` (mode 0600) with a loud warning, because a key
next to the data it protects protects nothing. With PostgreSQL the setting is
required, unless ``allow_development_kek`` (``make run`` with ``DATABASE_URL``).

A sealed value is nonce || AES-256-GCM(KEK, plaintext, associated data), the
associated data naming what the value belongs to (a signing key's kid, a
client_id): a value copied to another row, or read with another KEK, does not
open (:class:`Unsealable`).

Settings modules import this one for :func:`check_key_encryption_key`, and every
process imports every settings module (common/settings.py): what only serving
needs (the database helpers, AES-GCM) is imported where it is used.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import secrets
from pathlib import Path
from typing import Final, Protocol

from pydantic import SecretStr

from common.files import private_directory
from common.settings import ENV_PREFIX, ConfigError

log = logging.getLogger(__name__)

KEK_BYTES: Final = 32  # AES-256-GCM
NONCE_BYTES: Final = 12  # 96-bit GCM nonce (NIST SP 800-38D section 8.2)
#: What a refusal of the value says (describe_error never echoes a SecretStr).
INVALID_KEK: Final = "must be base64url of exactly 32 bytes"


class KekSettings(Protocol):
    """The settings a service with a KEK declares (each beside its default)."""

    @property
    def key_encryption_key(self) -> SecretStr | None: ...

    @property
    def allow_development_kek(self) -> bool: ...

    @property
    def data_dir(self) -> Path: ...

    @property
    def resolved_database_url(self) -> str: ...


class Unsealable(Exception):
    """A sealed value does not open: another KEK, other associated data, or damage."""


def decode_key_encryption_key(value: str) -> bytes | None:
    """The 32 raw bytes of a base64url key-encryption key (padding optional), or None."""
    text = value.strip()
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == KEK_BYTES else None


def check_key_encryption_key(value: SecretStr | None) -> SecretStr | None:
    """The body of a settings validator of ``key_encryption_key``: "" is unset, any
    other value must decode (ValueError, which never quotes it, otherwise)."""
    if value is None or value.get_secret_value() == "":
        return None
    if decode_key_encryption_key(value.get_secret_value()) is None:
        raise ValueError(INVALID_KEK)
    return value


def resolve_key_encryption_key(
    settings: KekSettings, *, development_file: str, protects: str
) -> bytes:
    """The 32-byte KEK, or ConfigError naming ``key_encryption_key``. Without the
    setting, the development key in ``<data_dir>/<development_file>`` (made on first
    use); ``protects`` names what it encrypts in the warning ("signing keys")."""
    from common.db import is_sqlite

    if settings.key_encryption_key is not None:
        kek = decode_key_encryption_key(settings.key_encryption_key.get_secret_value())
        if kek is None:  # the settings validator already refused this; defence in depth
            raise ConfigError(_invalid(INVALID_KEK))
        return kek
    if not is_sqlite(settings.resolved_database_url) and not settings.allow_development_kek:
        raise ConfigError(_invalid("is required with PostgreSQL (base64url of 32 random bytes)"))
    return _development_kek(settings.data_dir / development_file, protects)


def seal(kek: bytes, plaintext: bytes, associated_data: bytes) -> bytes:
    """nonce || AES-256-GCM(kek, plaintext, associated_data), a fresh random nonce each time."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(kek).encrypt(nonce, plaintext, associated_data)


def unseal(kek: bytes, sealed: bytes, associated_data: bytes) -> bytes:
    """The plaintext of :func:`seal`'s output, or Unsealable."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce, ciphertext = sealed[:NONCE_BYTES], sealed[NONCE_BYTES:]
    try:
        return AESGCM(kek).decrypt(nonce, ciphertext, associated_data)
    except (InvalidTag, ValueError):  # ValueError: too short to hold a nonce and a tag
        raise Unsealable("the sealed value does not open with this key") from None


def _invalid(reason: str) -> str:
    return f"invalid setting 'key_encryption_key' [{ENV_PREFIX}KEY_ENCRYPTION_KEY]: {reason}"


def _development_kek(path: Path, protects: str) -> bytes:
    private_directory(path.parent)
    encoded = base64.urlsafe_b64encode(secrets.token_bytes(KEK_BYTES)).decode("ascii")
    try:
        # O_EXCL: two processes starting at once agree on whichever file came first.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        kek = decode_key_encryption_key(path.read_text(encoding="ascii"))
        if kek is None:
            raise ConfigError(f"{path} does not hold a base64url 32-byte key") from None
    else:
        with os.fdopen(fd, "w", encoding="ascii") as file:
            file.write(encoded + "\n")
        kek = base64.urlsafe_b64decode(encoded)
    log.warning(
        "DEVELOPMENT ONLY: %s are encrypted with a generated key in %s; "
        "set key_encryption_key (%sKEY_ENCRYPTION_KEY) in production",
        protects,
        path,
        ENV_PREFIX,
    )
    return kek
