"""rediss:// with the redis_tls_* settings: a Redis of the test's own that speaks
only TLS and asks for a client certificate, from throwaway certificates."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from common.kv import create_kv
from common.settings import CommonSettings
from oauth2ctl.devcerts import Authority, CertFiles
from oauth2ctl.devrun import free_port


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, CertFiles]]:
    directory = tmp_path_factory.mktemp("redis-tls")
    authority = Authority.create()
    server = authority.write(directory, "redis")
    client = authority.write(directory, "client")
    server.ca.write_bytes(authority.cert_pem())
    port = free_port()
    binary = shutil.which("redis-server")
    assert binary is not None
    proc = subprocess.Popen(
        [binary, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
         "--tls-cert-file", str(server.cert), "--tls-key-file", str(server.key),
         "--tls-ca-cert-file", str(server.ca), "--tls-auth-clients", "yes",
         "--save", "", "--appendonly", "no", "--dir", str(directory)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        probe = redis.Redis(
            host="127.0.0.1", port=port, ssl=True, ssl_ca_certs=str(server.ca),
            ssl_certfile=str(client.cert), ssl_keyfile=str(client.key),
        )  # fmt: skip
        for _ in range(100):
            try:
                probe.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        yield port, client
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _settings(port: int, **tls: Path) -> CommonSettings:
    values: dict[str, Any] = {
        "redis_url": f"rediss://127.0.0.1:{port}/0",
        "redis_key_prefix": f"t{uuid.uuid4().hex[:6]}:",
        "redis_timeout_seconds": 2.0,
        **tls,
    }
    return CommonSettings(**values)


async def test_tls_with_the_ca_and_a_client_certificate(tls_redis: tuple[int, CertFiles]) -> None:
    port, client = tls_redis
    kv = create_kv(
        _settings(
            port,
            redis_tls_ca_file=client.ca,
            redis_tls_cert_file=client.cert,
            redis_tls_key_file=client.key,
        )
    )
    try:
        await kv.set("over", "tls")
        assert await kv.get("over") == b"tls"
    finally:
        await kv.close()


@pytest.mark.parametrize("missing", ["client certificate", "CA"])
async def test_tls_refused_without_what_it_needs(
    tls_redis: tuple[int, CertFiles], missing: str
) -> None:
    port, client = tls_redis
    files = (
        {"redis_tls_ca_file": client.ca}
        if missing == "client certificate"
        else {"redis_tls_cert_file": client.cert, "redis_tls_key_file": client.key}
    )
    kv = create_kv(_settings(port, **files))
    try:
        with pytest.raises((redis.ConnectionError, OSError)):
            await kv.set("over", "tls")
    finally:
        await kv.close()


def test_a_client_certificate_needs_its_key() -> None:
    with pytest.raises(ValueError, match="go together"):
        CommonSettings(redis_url="rediss://h:6380", redis_tls_cert_file=Path("c.pem"))
