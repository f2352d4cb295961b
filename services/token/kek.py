"""Where the token service's key-encryption key comes from (common.kek): the
``key_encryption_key`` setting, or on the embedded SQLite default a development key
generated once into ``<data_dir>/token-kek`` with a loud warning. It encrypts the
private signing keys (services/token/domain/keys.py) and derives DPoP nonces.
"""

from __future__ import annotations

from common import kek
from services.token.settings import TokenSettings

DEV_KEK_FILE = "token-kek"


def resolve_key_encryption_key(settings: TokenSettings) -> bytes:
    """The 32-byte KEK, or ConfigError naming ``key_encryption_key``."""
    return kek.resolve_key_encryption_key(
        settings, development_file=DEV_KEK_FILE, protects="signing keys"
    )
