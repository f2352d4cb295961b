"""The clients service's key-encryption key (common.kek): the secrets of
client_secret_jwt clients are sealed under it. Its own setting and development file,
the token service's rules."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from common.settings import ConfigError, load_settings
from common.startup import StartupError
from services.clients.app import DEV_KEK_FILE, resolve_key_encryption_key, serve
from services.clients.settings import ClientsSettings
from services.token.kek import DEV_KEK_FILE as TOKEN_DEV_KEK_FILE


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_the_configured_key_is_used() -> None:
    raw = os.urandom(32)
    settings = ClientsSettings(
        key_encryption_key=SecretStr(b64(raw)), database_url="postgresql://x/y"
    )
    assert resolve_key_encryption_key(settings) == raw


@pytest.mark.parametrize("value", ["short", b64(os.urandom(31)), "!!!"])
def test_a_bad_key_stops_with_one_line_without_the_value(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        load_settings(ClientsSettings, key_encryption_key=value)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err == (
        "clients: invalid setting 'key_encryption_key' [OAUTH2_KEY_ENCRYPTION_KEY]: "
        "Value error, must be base64url of exactly 32 bytes (value not shown)\n"
    )
    assert value not in err


def test_a_development_key_of_its_own_on_sqlite(
    tmp_data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert DEV_KEK_FILE == "clients-kek" != TOKEN_DEV_KEK_FILE
    settings = ClientsSettings(data_dir=tmp_data_dir)
    first = resolve_key_encryption_key(settings)
    assert len(first) == 32
    path = tmp_data_dir / DEV_KEK_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert resolve_key_encryption_key(settings) == first
    assert "DEVELOPMENT ONLY: client_secret_jwt clients' secrets" in caplog.text
    assert not (tmp_data_dir / TOKEN_DEV_KEK_FILE).exists()


def test_postgresql_requires_a_key_unless_development_is_allowed(tmp_data_dir: Path) -> None:
    settings = ClientsSettings(data_dir=tmp_data_dir, database_url="postgresql://db/oauth2")
    with pytest.raises(ConfigError, match=r"'key_encryption_key'.*required with PostgreSQL"):
        resolve_key_encryption_key(settings)
    assert not (tmp_data_dir / DEV_KEK_FILE).exists()
    allowed = ClientsSettings(
        data_dir=tmp_data_dir, database_url="postgresql://db/oauth2", allow_development_kek=True
    )
    assert resolve_key_encryption_key(allowed) == resolve_key_encryption_key(allowed)


async def test_serve_without_a_key_on_postgresql_stops(tmp_data_dir: Path) -> None:
    settings = ClientsSettings(data_dir=tmp_data_dir, database_url="postgresql://127.0.0.1:1/x")
    with pytest.raises(StartupError, match=r"^clients: invalid setting 'key_encryption_key'"):
        await serve(settings)
