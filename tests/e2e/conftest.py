"""The five processes as real subprocesses on free ports, through the gateway.

``system`` runs every e2e test twice: against this run's PostgreSQL database and
Redis, and on the embedded default (SQLite files, in-process stand-ins).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from conftest import run_blocking
from oauth2ctl.devrun import PROCESSES, System, free_port

ROOT = Path(__file__).resolve().parents[2]
OAUTH2CTL = str(Path(sys.executable).with_name("oauth2ctl"))
CODE_TTL_SECONDS = 5
#: Device authorizations (RFC 8628) of the shared systems: long enough for a sign-in
#: on the verification page, short enough for the expiry test to wait out; their
#: devices poll every second.
DEVICE_CODE_TTL_SECONDS = 12


@dataclass
class RunningSystem:
    system: System
    mode: str
    data_dir: Path
    database_url: str | None
    _resource_server: dict[str, Any] | None = None

    @property
    def base_url(self) -> str:
        return self.system.base_url

    @property
    def admin_url(self) -> str:
        """The gateway's admin listener: the admin API and /metrics."""
        return self.system.admin_url

    def ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run the installed oauth2ctl with the same settings as the services."""
        result = subprocess.run(
            [OAUTH2CTL, *args],
            env=self.system.common_env(),
            capture_output=True,
            text=True,
            timeout=30,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"oauth2ctl {' '.join(args)} failed: {result.stderr}")
        return result

    def create_client(self, *args: str) -> dict[str, Any]:
        out = self.ctl("client", "create", *args, "--json").stdout
        return json.loads(out)  # type: ignore[no-any-return]

    def create_user(self, username: str, password: str, email: str = "") -> dict[str, Any]:
        args = ["user", "create", "--username", username, "--password", password, "--json"]
        if email:
            args += ["--email", email]
        return json.loads(self.ctl(*args).stdout)  # type: ignore[no-any-return]

    def resource_server(self) -> dict[str, Any]:
        """A confidential client that resource servers use to introspect: it holds
        the introspection permission, so it sees every client's tokens."""
        if self._resource_server is None:
            self._resource_server = self.create_client(
                "--name", "resource-server", "--grant-type", "client_credentials", "--introspection"
            )
        return self._resource_server

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=10)


def basic(client_id: str, secret: str) -> str:
    from urllib.parse import quote_plus

    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return "Basic " + base64.b64encode(raw).decode()


#: What a process logs when the port it was given was taken before it bound it.
_PORT_TAKEN = ("Failed to bind to address", "address already in use", "is in use (set ")


def _start(
    env: dict[str, str],
    log_dir: Path,
    *,
    token_replicas: int = 1,
    metrics: bool = False,
    migrate_first: bool = False,
) -> System:
    """The five processes on free ports; started again on other ports (twice at
    most) when one of them lost its port to another process in the meantime."""
    for attempt in range(3):
        try:
            return _start_once(
                env,
                log_dir,
                token_replicas=token_replicas,
                metrics=metrics,
                migrate_first=migrate_first,
            )
        except RuntimeError as exc:
            if attempt == 2 or not any(m in str(exc).lower() for m in map(str.lower, _PORT_TAKEN)):
                raise
    raise AssertionError("unreachable")


def _start_once(
    env: dict[str, str], log_dir: Path, *, token_replicas: int, metrics: bool, migrate_first: bool
) -> System:
    ports = {name: free_port() for name in PROCESSES}
    ports["gateway_admin"] = free_port()  # the gateway's admin listener
    system = System(env=env, ports=ports, log_dir=log_dir, metrics=metrics)
    if token_replicas > 1:
        system.replica_ports["token"] = [ports["token"]] + [
            free_port() for _ in range(token_replicas - 1)
        ]
    if migrate_first:
        # As a deployment upgrades: `python -m services.<name> migrate` for each
        # service, then the processes (Kubernetes' initContainers, compose's migrate).
        system.migrate()
        system.start_all()
    else:
        system.start_with_migrations()  # as make run starts: faster
    try:
        system.wait_ready(timeout=60)
        system.bootstrap()
    except RuntimeError:
        system.stop_all()
        logs = "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in log_dir.glob("*.log")
        )
        raise RuntimeError(f"system did not start\n{logs}") from None
    return system


#: Every e2e request comes from 127.0.0.1, as if the whole suite were one office
#: behind one NAT address: the per-address limits of the shared systems are opened
#: wide (tests/e2e/test_rate_limits.py runs systems of its own with tight ones, and
#: test_login_attacks.py one with the defaults).
SHARED_ADDRESS_LIMITS = {
    f"OAUTH2_RATE_LIMIT_{name}_PER_ADDRESS": "1000/s burst 10000"
    for name in ("CLIENT", "OAUTH", "REGISTER", "LOGIN", "PAGES", "PUBLIC", "DEVICE_VERIFICATION")
}


def base_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OAUTH2_")}
    for key in ("DATABASE_URL", "REDIS_URL", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        env.pop(key, None)
    env["OAUTH2_DATA_DIR"] = str(data_dir)
    env["OAUTH2_LOG_LEVEL"] = "INFO"
    # Short enough for the expired-code test to wait it out, long enough for any exchange.
    env["OAUTH2_AUTHORIZATION_CODE_TTL_SECONDS"] = str(CODE_TTL_SECONDS)
    env["OAUTH2_DEVICE_CODE_TTL_SECONDS"] = str(DEVICE_CODE_TTL_SECONDS)
    env["OAUTH2_DEVICE_CODE_INTERVAL_SECONDS"] = "1"
    # Clients' jwks_uri served over plain HTTP on this machine (test_request_objects.py).
    env["OAUTH2_JWKS_URI_ALLOW_HTTP"] = "true"
    # Clients' back-channel logout endpoints likewise (test_backchannel_logout.py), and
    # a failing one tried again soon.
    env["OAUTH2_BACKCHANNEL_LOGOUT_URI_ALLOW_HTTP"] = "true"
    env["OAUTH2_BACKCHANNEL_LOGOUT_RETRY_BASE_SECONDS"] = "0.2"
    # A client created by a test is allowed for CORS a second later (test_cors_browser).
    env["OAUTH2_CORS_CACHE_SECONDS"] = "1"
    env.update(SHARED_ADDRESS_LIMITS)
    return env


#: Every end-to-end flow runs on PostgreSQL + Redis in make test, and once more on the
#: embedded default (SQLite, in-process stand-ins) in make test-slow and CI: the same
#: code path, so the second run is the longest part of the suite that finds least.
SYSTEMS = ["postgres", pytest.param("embedded", marks=pytest.mark.slow)]


@pytest.fixture(scope="session", params=SYSTEMS)
def system(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningSystem]:
    data_dir = tmp_path_factory.mktemp(f"e2e-{request.param}")
    env = base_env(data_dir)
    database_url = None
    if request.param == "postgres":
        database_url = request.getfixturevalue("pg_url")
        postgres_env(
            env,
            database_url,
            request.getfixturevalue("redis_url"),
            request.getfixturevalue("redis_prefix") + "e2e:",
        )
    running = start_system(env, data_dir, request.param, database_url)
    yield running
    running.system.stop_all()


def start_system(
    env: dict[str, str],
    data_dir: Path,
    mode: str,
    database_url: str | None = None,
    *,
    token_replicas: int = 1,
    metrics: bool = False,
    migrate_first: bool = False,
) -> RunningSystem:
    system = _start(
        env,
        data_dir / "logs",
        token_replicas=token_replicas,
        metrics=metrics,
        migrate_first=migrate_first,
    )
    return RunningSystem(system=system, mode=mode, data_dir=data_dir, database_url=database_url)


def start_replicated(
    request: pytest.FixtureRequest,
    name: str,
    replicas: int,
    extra_env: dict[str, str] | None = None,
) -> RunningSystem:
    """A system of its own on a new PostgreSQL database and Redis (key prefix
    ``name``) with ``replicas`` token replicas and metrics ports, its token and
    OAuth per-address limits opened wide (a load is one client on one address)."""
    data_dir = request.getfixturevalue("tmp_path_factory").mktemp(name)
    env = base_env(data_dir)
    database_url = request.getfixturevalue("new_database")()
    prefix = request.getfixturevalue("redis_prefix") + f"{name}:"
    postgres_env(env, database_url, request.getfixturevalue("redis_url"), prefix)
    env["OAUTH2_RATE_LIMIT_TOKEN_PER_CLIENT"] = "10000/s burst 10000"
    env["OAUTH2_RATE_LIMIT_OAUTH_PER_ADDRESS"] = "10000/s burst 10000"
    env.update(extra_env or {})
    return start_system(
        env, data_dir, "postgres", database_url, token_replicas=replicas, metrics=True
    )


@pytest.fixture(scope="session")
def new_database(pg_server_url: str) -> Iterator[Callable[[], str]]:
    """Make more fresh PostgreSQL databases (a system of their own each); dropped at the end."""
    made: list[str] = []
    base = pg_server_url.rpartition("/")[0]

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(pg_server_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    def make() -> str:
        name = f"oauth2_test_{uuid.uuid4().hex[:12]}"
        run_blocking(admin(f'CREATE DATABASE "{name}"'))
        made.append(name)
        return f"{base}/{name}"

    yield make
    for name in made:
        run_blocking(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def postgres_env(env: dict[str, str], database_url: str, redis_url: str, prefix: str) -> None:
    """Point a system's environment at PostgreSQL and Redis (its own key prefix)."""
    env["DATABASE_URL"] = database_url
    env["REDIS_URL"] = redis_url
    env["OAUTH2_REDIS_KEY_PREFIX"] = prefix
    env["OAUTH2_KEY_ENCRYPTION_KEY"] = (
        base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    )
