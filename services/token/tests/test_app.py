"""Start-up of the token process: the key-encryption-key rule and a real serve/stop."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf import empty_pb2
from oauth2.v1 import token_pb2, token_pb2_grpc
from pydantic import SecretStr

from common.grpc_client import ServiceClient
from common.settings import ConfigError, load_settings
from services.token.app import serve
from services.token.kek import DEV_KEK_FILE, resolve_key_encryption_key
from services.token.settings import TokenSettings

ROOT = Path(__file__).resolve().parents[3]


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_configured_kek_is_decoded() -> None:
    raw = os.urandom(32)
    settings = TokenSettings(
        key_encryption_key=SecretStr(b64(raw)), database_url="postgresql://x/y"
    )
    assert resolve_key_encryption_key(settings) == raw


@pytest.mark.parametrize("value", ["short", b64(os.urandom(31)), b64(os.urandom(33)), "!!!"])
def test_bad_kek_stops_with_one_line_without_the_value(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        load_settings(TokenSettings, key_encryption_key=value)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err == (
        "token: invalid setting 'key_encryption_key' [OAUTH2_KEY_ENCRYPTION_KEY]: "
        "Value error, must be base64url of exactly 32 bytes (value not shown)\n"
    )
    assert value not in err


def test_dev_kek_is_generated_once_for_sqlite(
    tmp_data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = TokenSettings(data_dir=tmp_data_dir)
    first = resolve_key_encryption_key(settings)
    assert len(first) == 32
    path = tmp_data_dir / DEV_KEK_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert resolve_key_encryption_key(settings) == first
    assert "DEVELOPMENT ONLY" in caplog.text
    explicit = TokenSettings(data_dir=tmp_data_dir, database_url="sqlite:///x.db")
    assert resolve_key_encryption_key(explicit) == first


def test_postgresql_requires_a_kek(tmp_data_dir: Path) -> None:
    settings = TokenSettings(data_dir=tmp_data_dir, database_url="postgresql://db/oauth2")
    with pytest.raises(ConfigError, match=r"'key_encryption_key'.*required with PostgreSQL"):
        resolve_key_encryption_key(settings)
    assert not (tmp_data_dir / DEV_KEK_FILE).exists()


def test_development_kek_with_postgresql_only_when_allowed(tmp_data_dir: Path) -> None:
    settings = TokenSettings(
        data_dir=tmp_data_dir, database_url="postgresql://db/oauth2", allow_development_kek=True
    )
    kek = resolve_key_encryption_key(settings)
    assert len(kek) == 32
    assert resolve_key_encryption_key(settings) == kek  # the same file on the next start
    assert (tmp_data_dir / DEV_KEK_FILE).stat().st_mode & 0o777 == 0o600


async def test_serve_without_kek_on_postgresql_exits_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as info:
        await serve(TokenSettings(database_url="postgresql://127.0.0.1:1/none"))
    assert info.value.code == 2
    assert capsys.readouterr().err.startswith("token: invalid setting 'key_encryption_key'")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def process_env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("OAUTH2_") and not k.endswith(("DATABASE_URL", "REDIS_URL"))
    }
    env.update(
        OAUTH2_DATA_DIR=str(tmp),
        OAUTH2_MIGRATE_ON_START="true",
        OAUTH2_LOG_FORMAT="text",
        **extra,
    )
    return env


async def test_process_serves_and_stops_on_sigterm(tmp_data_dir: Path) -> None:
    port = free_port()
    env = process_env(tmp_data_dir, OAUTH2_GRPC_PORT=str(port))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.token",
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    client = ServiceClient(
        token_pb2_grpc.TokenServiceStub, f"127.0.0.1:{port}", "oauth2.v1.TokenService", deadline=1
    )
    try:
        jwks = None
        for _ in range(100):
            try:
                jwks = await client.call.GetJwks(empty_pb2.Empty())
                break
            except Exception:
                await asyncio.sleep(0.1)
        assert jwks is not None, "the token service did not answer"
        assert sorted(k.alg for k in jwks.keys) == ["ES256", "RS256"]
        # The operators' RPCs are wired: statistics, rotation (its watch tasks stop cleanly).
        assert (await client.call.GetTokenStats(empty_pb2.Empty())).since.seconds > 0
        rotated = await client.call.RotateSigningKey(token_pb2.RotateSigningKeyRequest())
        assert rotated.alg == "ES256"
        jwks = await client.call.GetJwks(empty_pb2.Empty())
        assert sorted(k.alg for k in jwks.keys) == ["ES256", "ES256", "RS256"]
        proc.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(proc.communicate(), 15)
        assert proc.returncode == 0, stderr.decode()
        assert "DEVELOPMENT ONLY" in stderr.decode()
        assert (tmp_data_dir / "token.db").exists()
    finally:
        await client.close()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()

    # Started again with another key-encryption key: one clear line, exit code 2.
    env["OAUTH2_KEY_ENCRYPTION_KEY"] = b64(os.urandom(32))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.token",
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(proc.communicate(), 15)
    assert proc.returncode == 2
    lines = stderr.decode().strip().splitlines()
    assert lines[-1].startswith("token: signing key ")
    assert "'key_encryption_key' is not the key" in lines[-1]
    assert "Traceback" not in stderr.decode()
