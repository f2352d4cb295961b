"""Where the key-encryption key comes from.

Production sets ``key_encryption_key``. The embedded SQLite default may run
without one: a development key is generated once into ``<data_dir>/token-kek``
(mode 0600) with a loud warning, because a key next to the data it protects
protects nothing.
"""

from __future__ import annotations

import base64
import logging
import os
import secrets

from common.db import is_sqlite
from common.files import private_directory
from common.settings import ENV_PREFIX, ConfigError
from services.token.settings import KEK_BYTES, TokenSettings, decode_key_encryption_key

log = logging.getLogger(__name__)

DEV_KEK_FILE = "token-kek"


def resolve_key_encryption_key(settings: TokenSettings) -> bytes:
    """The 32-byte KEK, or ConfigError naming ``key_encryption_key``."""
    if settings.key_encryption_key is not None:
        kek = decode_key_encryption_key(settings.key_encryption_key.get_secret_value())
        if kek is None:  # the settings validator already refused this; defence in depth
            raise ConfigError(_invalid("must be base64url of exactly 32 bytes"))
        return kek
    if not is_sqlite(settings.resolved_database_url) and not settings.allow_development_kek:
        raise ConfigError(_invalid("is required with PostgreSQL (base64url of 32 random bytes)"))
    return _development_kek(settings)


def _invalid(reason: str) -> str:
    return f"invalid setting 'key_encryption_key' [{ENV_PREFIX}KEY_ENCRYPTION_KEY]: {reason}"


def _development_kek(settings: TokenSettings) -> bytes:
    path = settings.data_dir / DEV_KEK_FILE
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
        "DEVELOPMENT ONLY: signing keys are encrypted with a generated key in %s; "
        "set key_encryption_key (%sKEY_ENCRYPTION_KEY) in production",
        path,
        ENV_PREFIX,
    )
    return kek
