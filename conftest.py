"""Fixtures for real PostgreSQL and Redis, used by every test folder.

TEST_DATABASE_URL / TEST_REDIS_URL name the servers (defaults: this machine's
127.0.0.1 servers). Where none answers, a throwaway server is started from the
installed binaries in a temporary directory (and the run says so); where none
is installed, the run stops with one line saying what to install.
Each run works in its own database and Redis key prefix, removed afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest
import redis

from oauth2ctl.devrun import free_port

T = TypeVar("T")

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


def run_blocking(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio.run in a thread of its own, so sync fixtures work inside async ones."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _pg_answers(url: str) -> bool:
    async def probe() -> bool:
        try:
            conn = await asyncpg.connect(url, timeout=3)
        except (TimeoutError, OSError, asyncpg.PostgresError):
            return False
        await conn.close()
        return True

    return run_blocking(probe())


class PrivatePostgres:
    """A PostgreSQL server of the tests' own, from the installed binaries, in a
    temporary directory, on a port fixed for its lifetime: a fault test stops,
    starts again and hangs (SIGSTOP) this one, never the machine's shared server.
    As root it runs as the ``postgres`` account (PostgreSQL refuses root).
    Raises RuntimeError when it cannot be made."""

    def __init__(self, port: int | None = None) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb")) or [
            p for p in [shutil.which("initdb")] if p
        ]
        if not found:
            raise RuntimeError("PostgreSQL is needed for the tests: apt-get install postgresql")
        self.bindir = Path(found[-1]).parent
        self.port = port or free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="oauth2-pg-"))
        self.datadir = self.directory / "data"
        self._run_as: list[str] = []
        if os.geteuid() == 0:
            try:
                account = pwd.getpwnam("postgres")
            except KeyError:
                shutil.rmtree(self.directory, ignore_errors=True)
                raise RuntimeError(
                    "PostgreSQL cannot run as root and there is no 'postgres' user to run it as"
                ) from None
            os.chown(self.directory, account.pw_uid, account.pw_gid)
            self._run_as = ["runuser", "-u", "postgres", "--"]
        try:
            self._pg_ctl("-D", str(self.datadir), "-A", "trust", "-U", "postgres", tool="initdb")
        except (RuntimeError, subprocess.TimeoutExpired):
            shutil.rmtree(self.directory, ignore_errors=True)
            raise

    @property
    def url(self) -> str:
        """The ``postgres`` database (postgresql:// URL, asyncpg's spelling)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _pg_ctl(self, *args: str, tool: str = "pg_ctl", check: bool = True) -> None:
        result = subprocess.run(
            [*self._run_as, str(self.bindir / tool), *args],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"{tool} {' '.join(args)} failed: {result.stderr.strip()[-500:]}")

    def start(self) -> None:
        """Start (again) on the same port and data; returns once it accepts connections."""
        options = f"-p {self.port} -k {self.directory} -h 127.0.0.1"
        self._pg_ctl(
            "-D", str(self.datadir), "-o", options, "-l", str(self.directory / "log"), "-w",
            "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """``pg_ctl stop -m fast`` (sessions ended, clean shutdown) or ``immediate``
        (every process killed: a crash, recovery at the next start)."""
        if mode not in ("smart", "fast", "immediate"):
            raise ValueError(f"unknown shutdown mode {mode!r}")
        self.resume()
        self._pg_ctl("-D", str(self.datadir), "-m", mode, "-w", "stop")

    def _processes(self) -> list[int]:
        """The postmaster and its children (the backends and auxiliary processes)."""
        try:
            postmaster = int((self.datadir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return []
        children = []
        for stat in glob.glob("/proc/[0-9]*/stat"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                # The fields after the parenthesised command: state, then ppid.
                fields = Path(stat).read_text().rpartition(")")[2].split()
                if int(fields[1]) == postmaster:
                    children.append(int(Path(stat).parent.name))
        return [postmaster, *children]

    def pause(self) -> None:
        """A hung server: every process stopped (SIGSTOP), connections left open."""
        for pid in self._processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)

    def resume(self) -> None:
        for pid in self._processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

    def remove(self) -> None:
        """Stop it for good and delete its files."""
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)

    def log(self) -> str:
        try:
            return (self.directory / "log").read_text(errors="replace")
        except OSError:
            return ""


def _start_throwaway_pg() -> tuple[str, Callable[[], None]]:
    """A PrivatePostgres for the whole run; returns the URL and a stop function."""
    try:
        server = PrivatePostgres()
    except RuntimeError as exc:
        pytest.exit(str(exc), returncode=3)
    try:
        server.start()
    except RuntimeError as exc:
        server.remove()
        pytest.exit(str(exc), returncode=3)
    if not _pg_answers(server.url):
        server.remove()
        pytest.exit("the throwaway PostgreSQL did not start", returncode=3)
    return server.url, server.remove


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    url = os.environ.get("TEST_DATABASE_URL", DEFAULT_PG)
    stop = None
    if not _pg_answers(url):
        print(f"\nno PostgreSQL at {url}: starting a throwaway server")
        url, stop = _start_throwaway_pg()
    yield url
    if stop is not None:
        stop()


@pytest.fixture(scope="session")
def pg_url(pg_server_url: str) -> Iterator[str]:
    """A fresh database for this run (postgresql:// URL), dropped afterwards."""
    name = f"oauth2_test_{uuid.uuid4().hex[:12]}"
    base, _, _ = pg_server_url.rpartition("/")

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(pg_server_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    run_blocking(admin(f'CREATE DATABASE "{name}"'))
    yield f"{base}/{name}"
    run_blocking(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _redis_answers(url: str) -> bool:
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2)
        ok = bool(client.ping())
        client.close()
        return ok
    except (redis.RedisError, OSError):
        return False


def start_redis(directory: Path, port: int | None = None) -> tuple[str, subprocess.Popen[bytes]]:
    """A Redis server of the test run's own, from the installed binary, on a free
    port (or ``port``: the same one again, as after a restart), keeping nothing
    on disk; answers once it is up."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.exit("Redis is needed for the tests: apt-get install redis-server", returncode=3)
    port = port or free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(directory)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(100):
        if _redis_answers(url):
            break
        time.sleep(0.05)
    return url, proc


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("TEST_REDIS_URL", DEFAULT_REDIS)
    proc = None
    if not _redis_answers(url):
        print(f"\nno Redis at {url}: starting a throwaway server")
        url, proc = start_redis(tmp_path_factory.mktemp("redis"))
    yield url
    if proc is not None:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """(url, process) of a Redis for one fault test to stop, hang (SIGSTOP) and
    resume: never the machine's shared one. Resumed and stopped afterwards."""
    url, proc = start_redis(tmp_path)
    yield url, proc
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGCONT)
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="session")
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this run's own; its keys are deleted afterwards."""
    prefix = f"oauth2test:{uuid.uuid4().hex[:8]}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=prefix + "*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def tmp_data_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="oauth2-") as tmp:
        yield Path(tmp)


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(
    request: pytest.FixtureRequest, tmp_data_dir: Path
) -> AsyncIterator[tuple[str, str]]:
    """(url, schema) for store contract tests: a fresh SQLite file, or a fresh
    schema in this run's PostgreSQL database; dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_data_dir / 'store.db'}", "main"
        return
    base = request.getfixturevalue("pg_url")
    schema = f"s_{uuid.uuid4().hex[:10]}"
    yield "postgresql+asyncpg://" + base.split("://", 1)[1], schema
    conn = await asyncpg.connect(base)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()
