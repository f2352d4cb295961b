from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from common.settings import ServiceSettings, load_settings


class DemoSettings(ServiceSettings):
    PROCESS = "token"
    grpc_port: int = 50052


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("OAUTH2_") or key.endswith("DATABASE_URL") or key.endswith("REDIS_URL"):
            monkeypatch.delenv(key)


def test_defaults_then_file_then_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "oauth2.toml"
    config.write_text(
        'issuer = "https://auth.example"\nlog_level = "DEBUG"\n'
        "[token]\ngrpc_port = 6000\n[gateway]\nport = 1\n"
    )
    settings = load_settings(DemoSettings, config)
    assert settings.issuer == "https://auth.example"
    assert settings.grpc_port == 6000
    assert settings.log_level == "DEBUG"
    assert settings.drain_seconds == 5.0  # default

    monkeypatch.setenv("OAUTH2_GRPC_PORT", "7000")
    monkeypatch.setenv("OAUTH2_CONFIG", str(config))
    settings = load_settings(DemoSettings)
    assert settings.grpc_port == 7000
    assert settings.issuer == "https://auth.example"


def test_well_known_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@db/x")
    monkeypatch.setenv("REDIS_URL", "redis://cache:6379/0")
    settings = load_settings(DemoSettings)
    assert settings.database_url == "postgresql+asyncpg://u@db/x"
    assert settings.redis_url == "redis://cache:6379/0"
    assert not settings.embedded
    # The per-service variant wins over the shared one.
    monkeypatch.setenv("TOKEN_DATABASE_URL", "postgresql://u@tokendb/x")
    assert load_settings(DemoSettings).database_url == "postgresql+asyncpg://u@tokendb/x"


def test_embedded_default_uses_a_sqlite_file_per_process() -> None:
    settings = load_settings(DemoSettings)
    assert settings.embedded
    assert settings.resolved_database_url == "sqlite+aiosqlite:///var/token.db"
    assert settings.db_schema == "token"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"OAUTH2_GRPC_PORT": "abc"}, "invalid setting 'grpc_port' [OAUTH2_GRPC_PORT]"),
        ({"OAUTH2_ISSUER": "ftp://x"}, "invalid setting 'issuer' [OAUTH2_ISSUER]"),
        ({"DATABASE_URL": "mysql://x"}, "invalid setting 'database_url'"),
        ({"OAUTH2_LOG_LEVEL": "LOUD"}, "invalid setting 'log_level'"),
    ],
)
def test_bad_value_stops_with_one_line_and_exit_2(env: dict[str, str], message: str) -> None:
    code = (
        "from common.tests.test_settings import DemoSettings\n"
        "from common.settings import load_settings\n"
        "load_settings(DemoSettings)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path.cwd()), **env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("token: " + message)


def test_unknown_key_in_the_process_table_is_an_error(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[token]\ngrpc_prot = 1\n")
    with pytest.raises(SystemExit) as exc:
        load_settings(DemoSettings, config)
    assert exc.value.code == 2


def test_unreadable_toml_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("issuer = \n")
    with pytest.raises(SystemExit) as exc:
        load_settings(DemoSettings, config)
    assert exc.value.code == 2
    assert "bad.toml" in capsys.readouterr().err
