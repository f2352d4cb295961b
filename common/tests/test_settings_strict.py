"""Strict configuration: a key, table or OAUTH2_ variable that no process knows stops
start-up with one line naming it (and a guess at what was meant), exit code 2.

The mistakes go through the real entry points (``python -m services.token migrate``,
``python -m gateway``), which check before they touch anything."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from common.settings import (
    CONFIG_ENV,
    ENV_PREFIX,
    SETTINGS_CLASSES,
    CommonSettings,
    known_env_names,
    known_fields,
    load_settings,
)
from services.token.settings import TokenSettings

ROOT = Path(__file__).resolve().parents[2]


def clean_env(**extra: str) -> dict[str, str]:
    """This machine's environment without any setting, plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().startswith(ENV_PREFIX) and not k.endswith(("DATABASE_URL", "REDIS_URL"))
    }
    env["PYTHONPATH"] = str(ROOT)
    return {**env, **extra}


def run_process(
    args: list[str], env: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def one_line_exit_2(result: subprocess.CompletedProcess[str]) -> str:
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output, output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, output
    return lines[0]


CONFIG_MISTAKES = [
    pytest.param(
        "isuer = 'http://127.0.0.1:8080'\n",
        "unknown key 'isuer' (did you mean 'issuer'?)",
        id="near-miss-top-level",
    ),
    pytest.param("colour = 'blue'\n", "unknown key 'colour'", id="unknown-top-level"),
    pytest.param(
        "[tokn]\ngrpc_port = 50062\n", "unknown table [tokn] (did you mean [token]?)", id="table"
    ),
    pytest.param("[frontend]\nport = 1\n", "unknown table [frontend]", id="unknown-table"),
    pytest.param(
        "[token]\ngrpc_prot = 50062\n",
        "unknown key 'grpc_prot' in table [token] (did you mean 'grpc_port'?)",
        id="near-miss-in-table",
    ),
    pytest.param(
        # A key of another process is still unknown in this one's table.
        "[gateway]\ngrpc_port = 50062\n",
        "unknown key 'grpc_port' in table [gateway]",
        id="other-process-key-in-table",
    ),
    pytest.param(
        # Any table is checked, not only the table of the process that starts.
        "[clients]\nfavourite = 1\n",
        "unknown key 'favourite' in table [clients]",
        id="table-of-another-process",
    ),
]


@pytest.mark.parametrize(("toml", "message"), CONFIG_MISTAKES)
def test_config_file_mistake_is_one_line(
    tmp_path: Path, toml: str, message: str, request: pytest.FixtureRequest
) -> None:
    # Half the mistakes at the gateway, half at a service: both check the whole file.
    index = [param.id for param in CONFIG_MISTAKES].index(request.node.callspec.id)
    command = ["gateway"] if index % 2 else ["services.token", "migrate"]
    config = tmp_path / "oauth2.toml"
    config.write_text(toml)
    env = clean_env(OAUTH2_DATA_DIR=str(tmp_path / "var"))
    line = one_line_exit_2(run_process([*command, "--config", str(config)], env, tmp_path))
    process = "token" if command[0] == "services.token" else "gateway"
    assert line == f"{process}: config file {config}: {message}"
    assert not (tmp_path / "var").exists(), "nothing may happen before the check"


def test_config_file_from_the_environment_is_checked_too(tmp_path: Path) -> None:
    config = tmp_path / "oauth2.toml"
    config.write_text("[token]\ndrain_second = 1\n")
    env = clean_env(OAUTH2_CONFIG=str(config), OAUTH2_DATA_DIR=str(tmp_path / "var"))
    line = one_line_exit_2(run_process(["services.token", "migrate"], env, tmp_path))
    assert "unknown key 'drain_second' in table [token] (did you mean 'drain_seconds'?)" in line


@pytest.mark.parametrize(
    ("variable", "message"),
    [
        ("OAUTH2_PROT", "unknown environment variable OAUTH2_PROT (did you mean OAUTH2_PORT?)"),
        ("OAUTH2_TOKEN_GRPC_PROT", "(did you mean OAUTH2_TOKEN_GRPC_PORT?)"),
        ("OAUTH2_FAVOURITE_COLOUR", "unknown environment variable OAUTH2_FAVOURITE_COLOUR"),
    ],
)
def test_unknown_oauth2_variable_is_one_line(tmp_path: Path, variable: str, message: str) -> None:
    env = clean_env(**{variable: "1"}, OAUTH2_DATA_DIR=str(tmp_path / "var"))
    line = one_line_exit_2(run_process(["services.token", "migrate"], env, tmp_path))
    assert line.startswith("token: ")
    assert message in line


def test_missing_config_file_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.toml"
    env = clean_env(OAUTH2_DATA_DIR=str(tmp_path / "var"))
    line = one_line_exit_2(run_process(["gateway", "--config", str(missing)], env, tmp_path))
    assert line == f"gateway: config file {missing}: No such file or directory"


def test_every_registered_class_is_importable_and_named_by_its_process() -> None:
    for process, path in SETTINGS_CLASSES.items():
        module, _, name = path.partition(":")
        cls = getattr(importlib.import_module(module), name)
        assert issubclass(cls, CommonSettings)
        assert cls.PROCESS == process


def test_no_process_name_shadows_a_shared_name() -> None:
    """OAUTH2_<PROCESS>_<KEY> must never read as OAUTH2_<OTHER KEY>: else one variable
    would set two different settings."""
    known = known_fields(CommonSettings)
    shared = frozenset().union(*known.values())
    clashes = [f"{process}_{field}" for process, fields in known.items() for field in fields]
    assert [name for name in clashes if name in shared] == []


def test_known_names_cover_every_process() -> None:
    names = known_env_names(known_fields(TokenSettings))
    # Keys of other processes are known to the token service: the top level is shared.
    assert {"OAUTH2_PORT", "OAUTH2_ADMIN_PORT", "OAUTH2_CTL_TOKEN", CONFIG_ENV} <= names
    assert {"OAUTH2_TOKEN_GRPC_PORT", "OAUTH2_GATEWAY_PORT", "OAUTH2_CLIENTS_METRICS_PORT"} <= names
    assert "OAUTH2_TOKEN_PORT" not in names  # the token service has no `port`


def test_a_process_name_overrides_the_shared_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(os.environ):
        if name.upper().startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    config = tmp_path / "oauth2.toml"
    config.write_text("grpc_port = 50070\n[token]\nmetrics_port = 9102\n")
    monkeypatch.setenv("OAUTH2_GRPC_PORT", "50071")
    monkeypatch.setenv("OAUTH2_TOKEN_GRPC_PORT", "50072")
    monkeypatch.setenv("OAUTH2_CLIENTS_GRPC_PORT", "50073")
    token = load_settings(TokenSettings, config)
    assert (token.grpc_port, token.metrics_port) == (50072, 9102)
    monkeypatch.delenv("OAUTH2_TOKEN_GRPC_PORT")
    assert load_settings(TokenSettings, config).grpc_port == 50071
    monkeypatch.delenv("OAUTH2_GRPC_PORT")
    assert load_settings(TokenSettings, config).grpc_port == 50070
