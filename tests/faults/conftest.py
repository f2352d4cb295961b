"""Whole systems on PostgreSQL and Redis servers of their own, for fault tests.

A fault test stops, hangs (SIGSTOP) and restarts the private servers and
processes it is given here, never the machine's shared PostgreSQL or Redis
(``PrivatePostgres`` and ``start_redis`` in the root conftest). The system is
the e2e one (tests/e2e/conftest.py), so the processes run exactly as in
production, with mutual TLS between them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import pytest

from conftest import PrivatePostgres, run_blocking, start_redis
from tests.e2e.conftest import RunningSystem, base_env, postgres_env, start_system

#: The database of the system inside its private server.
DATABASE = "oauth2"

#: A load test is one client on one address asking as fast as it can, far over the
#: per-client and per-address defaults, which are not what these tests are about.
OPEN_LIMITS = {
    "OAUTH2_RATE_LIMIT_TOKEN_PER_CLIENT": "10000/s burst 10000",
    "OAUTH2_RATE_LIMIT_OAUTH_PER_ADDRESS": "10000/s burst 10000",
    "OAUTH2_RATE_LIMIT_LOGIN_PER_ADDRESS": "10000/s burst 10000",
    "OAUTH2_RATE_LIMIT_PAGES_PER_ADDRESS": "10000/s burst 10000",
    "OAUTH2_RATE_LIMIT_CLIENT_PER_ADDRESS": "10000/s burst 10000",
    "OAUTH2_RATE_LIMIT_PUBLIC_PER_ADDRESS": "10000/s burst 10000",
    "OAUTH2_RATE_LIMIT_INTROSPECT_PER_CLIENT": "10000/s burst 10000",
    "OAUTH2_RATE_LIMIT_REVOKE_PER_CLIENT": "10000/s burst 10000",
    "OAUTH2_RATE_LIMIT_LOGIN_PER_USER": "10000/s burst 10000",
}


@dataclass
class FaultSystem:
    """A running system and the private dependencies a test may break."""

    running: RunningSystem
    postgres: PrivatePostgres
    redis_dir: Path
    redis_port: int
    redis_proc: subprocess.Popen[bytes]
    database_url: str
    _stopped: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return self.running.base_url

    def pids(self) -> dict[str, list[int]]:
        return {
            name: [p.pid for p in procs] for name, procs in self.running.system.processes.items()
        }

    def logs(self) -> dict[str, str]:
        log_dir = self.running.data_dir / "logs"
        return {p.stem: p.read_text(errors="replace") for p in sorted(log_dir.glob("*.log"))}

    def freeze(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGSTOP: the process keeps its sockets and answers nothing (a hung pod)."""
        os.kill(proc.pid, signal.SIGSTOP)
        self._stopped.append(proc)

    def thaw(self, proc: subprocess.Popen[bytes]) -> None:
        os.kill(proc.pid, signal.SIGCONT)
        self._stopped.remove(proc)

    def stop_redis(self) -> None:
        self.redis_proc.terminate()
        self.redis_proc.wait(10)

    def start_redis(self) -> None:
        """Redis again on the same port (its data is gone: it keeps nothing on disk)."""
        _, self.redis_proc = start_redis(self.redis_dir, self.redis_port)

    def count(self, sql: str, *args: object) -> int:
        """One number from the system's database (schema-qualified SQL)."""

        async def query() -> int:
            conn = await asyncpg.connect(self.database_url, timeout=10)
            try:
                return int(await conn.fetchval(sql, *args))
            finally:
                await conn.close()

        return run_blocking(query())

    def rows(self, sql: str, *args: object) -> list[asyncpg.Record]:
        async def query() -> list[asyncpg.Record]:
            conn = await asyncpg.connect(self.database_url, timeout=10)
            try:
                return list(await conn.fetch(sql, *args))
            finally:
                await conn.close()

        return run_blocking(query())

    def close(self) -> None:
        for proc in list(self._stopped):
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGCONT)
        self.postgres.resume()
        self.running.system.stop_all()
        self.redis_proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.redis_proc.wait(10)
        self.postgres.remove()


#: Starts a FaultSystem: ``token_replicas`` token processes, ``env`` on top of the
#: e2e environment, ``metrics``: a Prometheus port for every service process.
StartFaultSystem = Callable[..., FaultSystem]


@pytest.fixture
def fault_system(tmp_path: Path) -> Iterator[StartFaultSystem]:
    """Start a whole system on a private PostgreSQL and a private Redis; everything
    (processes, servers, their files) is stopped and removed afterwards, resumed
    first if a test left something frozen."""
    made: list[FaultSystem] = []

    def start(
        *, token_replicas: int = 1, env: dict[str, str] | None = None, metrics: bool = False
    ) -> FaultSystem:
        try:
            postgres = PrivatePostgres()
            postgres.start()
        except RuntimeError as exc:
            pytest.fail(f"no private PostgreSQL for the fault test: {exc}")

        async def create_database() -> None:
            conn = await asyncpg.connect(postgres.url, timeout=10)
            try:
                await conn.execute(f'CREATE DATABASE "{DATABASE}"')
            finally:
                await conn.close()

        run_blocking(create_database())
        database_url = postgres.url.rpartition("/")[0] + f"/{DATABASE}"
        redis_dir = tmp_path / f"redis-{len(made)}"
        redis_dir.mkdir()
        redis_url, redis_proc = start_redis(redis_dir)
        data_dir = tmp_path / f"system-{len(made)}"
        data_dir.mkdir()
        system_env = base_env(data_dir)
        postgres_env(system_env, database_url, redis_url, "faults:")
        system_env.update(OPEN_LIMITS)
        system_env.update(env or {})
        try:
            running = start_system(
                system_env,
                data_dir,
                "postgres",
                database_url,
                token_replicas=token_replicas,
                metrics=metrics,
            )
        except BaseException:
            redis_proc.terminate()
            postgres.remove()
            raise
        made.append(
            FaultSystem(
                running=running,
                postgres=postgres,
                redis_dir=redis_dir,
                redis_port=int(redis_url.rsplit(":", 1)[1].split("/")[0]),
                redis_proc=redis_proc,
                database_url=database_url,
            )
        )
        return made[-1]

    yield start
    for made_system in made:
        made_system.close()
