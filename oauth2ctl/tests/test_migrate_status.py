"""``oauth2ctl migrate status``, the installed command, against real databases: a
PostgreSQL database of its own per test (each service in its schema) and the
embedded default's SQLite files. Every state, the exit codes scripts gate on,
the per-service URL, and never a password on the screen."""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from common.migrations import MigrationStatus, SchemaState, status_exit_code, upgrade
from conftest import run_blocking
from oauth2ctl.cli import main
from oauth2ctl.devrun import free_port
from oauth2ctl.migrate_commands import SERVICES, migrations_dir

ROOT = Path(__file__).resolve().parents[2]
OAUTH2CTL = str(Path(sys.executable).with_name("oauth2ctl"))
#: PostgreSQL here trusts every local connection, so any password is accepted:
#: one the output must never show.
PASSWORD = "s3cret-Pa55word-never-printed"


def revisions_in_order(service: str) -> list[str]:
    """The chain read from the migration files themselves (not through alembic)."""
    down: dict[str | None, str] = {}
    for path in (ROOT / "services" / service / "migrations" / "versions").glob("*.py"):
        text = path.read_text()
        revision = re.search(r'^revision(?:: str)? = "([^"]+)"', text, re.M)
        parent = re.search(r'^down_revision[^=]*= (?:"([^"]+)"|None)', text, re.M)
        assert revision and parent, path
        down[parent.group(1)] = revision.group(1)
    chain, current = [], down.get(None)
    while current is not None:
        chain.append(current)
        current = down.get(current)
    assert len(chain) == len(down), f"{service}: the revisions do not form one chain"
    return chain


def clean_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OAUTH2_")}
    for key in ("DATABASE_URL", "REDIS_URL", *(f"{s.upper()}_DATABASE_URL" for s in SERVICES)):
        env.pop(key, None)
    env["OAUTH2_DATA_DIR"] = str(data_dir)
    env["OAUTH2_LOG_LEVEL"] = "WARNING"
    env.update(extra)
    return env


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def status(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., Result]:
    """``oauth2ctl migrate status ARGS`` in this process (a subprocess costs seconds
    of start-up on a busy machine; one test runs the installed command too)."""

    def run(env: dict[str, str], *args: str) -> Result:
        for key in list(os.environ):
            if key not in env:
                monkeypatch.delenv(key)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        capsys.readouterr()
        try:
            code = main(["migrate", "status", *args])
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return run


def installed_status(env: dict[str, str], *args: str) -> Result:
    done = subprocess.run(
        [OAUTH2CTL, "migrate", "status", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def by_service(result: Result) -> dict[str, dict[str, Any]]:
    return {row["service"]: row for row in json.loads(result.stdout)}


def migrate(service: str, env: dict[str, str], revision: str = "head") -> None:
    """Alembic's upgrade with the service's settings (what ``python -m
    services.<name> migrate`` calls; tests/e2e/test_upgrade.py runs that command)."""
    module = importlib.import_module(f"services.{service}.settings")
    cls = getattr(module, f"{service.capitalize()}Settings")
    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(env)
        settings = cls()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    upgrade(settings, migrations_dir(service), revision)


@pytest.fixture
def database(pg_server_url: str) -> Iterator[Callable[[], str]]:
    """Fresh PostgreSQL databases (URLs with a password PostgreSQL ignores here)."""
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
        scheme, _, rest = f"{base}/{name}".partition("://")
        user, _, host = rest.partition("@")
        return f"{scheme}://{user.split(':')[0]}:{PASSWORD}@{host}"

    yield make
    for name in made:
        run_blocking(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def set_version(url: str, schema: str, revision: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(url)
        try:
            sql = f'UPDATE "{schema}".alembic_version SET version_num = $1'  # noqa: S608
            await conn.execute(sql, revision)
        finally:
            await conn.close()

    run_blocking(run())


def test_every_state_on_postgresql_and_the_exit_code_scripts_gate_on(
    database: Callable[[], str], tmp_path: Path, status: Callable[..., Result]
) -> None:
    url = database()
    env = clean_env(tmp_path, DATABASE_URL=url)
    migrate("clients", env)  # up to date
    token = revisions_in_order("token")
    migrate("token", env, token[1])  # behind by what follows
    migrate("admin", env)
    set_version(url, "admin", "0099_from_a_newer_release")  # ahead
    # authorize: never migrated.

    result = installed_status(env, "--json")  # the installed command, once
    assert result.returncode == 4, result.stderr  # ahead wins: do not run old code on it
    rows = by_service(result)
    assert list(rows) == list(SERVICES)
    for service, row in rows.items():
        assert row["heads"] == [revisions_in_order(service)[-1]], service
        assert row["database"].endswith(f"(schema {service})"), row["database"]
        assert ":***@" in row["database"]
    assert rows["clients"]["state"] == "up to date"
    assert rows["clients"]["current"] == [revisions_in_order("clients")[-1]]
    assert rows["clients"]["pending"] == []
    assert rows["token"]["state"] == "behind"
    assert rows["token"]["current"] == [token[1]]
    assert rows["token"]["pending"] == token[2:]
    assert rows["authorize"]["state"] == "not created"
    assert rows["authorize"]["current"] == []
    assert rows["authorize"]["pending"] == revisions_in_order("authorize")
    assert rows["admin"]["state"] == "ahead"
    assert rows["admin"]["unknown"] == ["0099_from_a_newer_release"]
    assert PASSWORD not in result.stdout + result.stderr

    # Without the newer release's revision, behind is what is left: exit 3.
    set_version(url, "admin", revisions_in_order("admin")[-1])
    text = status(env)
    assert text.returncode == 3, text.stderr
    lines = {line.split()[0]: line for line in text.stdout.splitlines()}
    assert f"behind: {', '.join(token[2:])} pending" in lines["token"]
    assert "not created:" in lines["authorize"]
    assert "up to date" in lines["admin"]
    assert PASSWORD not in text.stdout + text.stderr

    # The real migrate brings the rest to head: exit 0, nothing pending.
    migrate("token", env)
    migrate("authorize", env)
    done = status(env, "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert {row["state"] for row in by_service(done).values()} == {"up to date"}


def test_migrate_of_an_older_version_leaves_a_newer_schema_alone(
    database: Callable[[], str], tmp_path: Path, status: Callable[..., Result]
) -> None:
    """A rollback: the previous image's migrate initContainer meets a revision it does
    not ship. Alembic would fail on it and the pod never start; it exits 0 instead,
    saying so, and changes nothing."""
    url = database()
    env = clean_env(tmp_path, DATABASE_URL=url, OAUTH2_LOG_FORMAT="text")
    migrate("admin", env)
    set_version(url, "admin", "0099_from_a_newer_release")
    result = subprocess.run(
        [sys.executable, "-m", "services.admin", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    said = result.stdout + result.stderr
    assert "0099_from_a_newer_release, newer than this version knows" in said, said
    assert PASSWORD not in said
    after = by_service(status(env, "--json", "--service", "admin"))["admin"]
    assert (after["state"], after["current"]) == ("ahead", ["0099_from_a_newer_release"])


def test_a_service_database_url_is_read_as_the_service_reads_it(
    database: Callable[[], str], tmp_path: Path, status: Callable[..., Result]
) -> None:
    shared, own = database(), database()
    env = clean_env(tmp_path, DATABASE_URL=shared, CLIENTS_DATABASE_URL=own)
    migrate("clients", env)  # into CLIENTS_DATABASE_URL, as the service itself would
    result = status(env, "--json", "--service", "clients", "--service", "token")
    rows = by_service(result)
    assert list(rows) == ["clients", "token"]
    assert rows["clients"]["state"] == "up to date"
    assert own.rpartition("/")[2] in rows["clients"]["database"]
    assert rows["token"]["state"] == "not created"
    assert shared.rpartition("/")[2] in rows["token"]["database"]
    assert result.returncode == 3


def test_an_unreachable_database_is_one_line_and_exit_1(
    tmp_path: Path, status: Callable[..., Result]
) -> None:
    url = f"postgresql://oauth2:{PASSWORD}@127.0.0.1:{free_port()}/oauth2"
    result = status(clean_env(tmp_path, DATABASE_URL=url), "--service", "token")
    assert result.returncode == 1
    (header, line) = result.stdout.splitlines()
    assert header.split()[:4] == ["SERVICE", "CURRENT", "HEAD", "STATE"]
    assert "unreadable:" in line and revisions_in_order("token")[-1] in line
    assert "Traceback" not in result.stderr
    assert PASSWORD not in result.stdout + result.stderr


def test_a_bad_database_url_is_one_line_without_the_password(
    tmp_path: Path, status: Callable[..., Result]
) -> None:
    url = f"mysql://oauth2:{PASSWORD}@db.internal/oauth2"
    result = status(clean_env(tmp_path, DATABASE_URL=url))
    assert result.returncode == 2
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert "invalid setting 'database_url'" in line, line
    assert PASSWORD not in line and "(value not shown)" in line


def test_the_embedded_default_sqlite_files_under_data_dir(
    tmp_path: Path, status: Callable[..., Result]
) -> None:
    env = clean_env(tmp_path)
    before = status(env, "--json")
    assert before.returncode == 3
    rows = by_service(before)
    assert {row["state"] for row in rows.values()} == {"not created"}
    for service, row in rows.items():
        assert row["database"] == f"sqlite+aiosqlite:///{tmp_path / service}.db"
    assert list(tmp_path.iterdir()) == [], "status must not create the SQLite files"

    clients = revisions_in_order("clients")
    migrate("clients", env, clients[0])
    behind = by_service(status(env, "--json", "--service", "clients"))["clients"]
    assert (behind["state"], behind["current"], behind["pending"]) == (
        "behind",
        clients[:1],
        clients[1:],
    )
    # The service's own command reports the same and changes nothing.
    own = subprocess.run(
        [sys.executable, "-m", "services.clients", "migrate", "--status"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert own.returncode == 3, own.stderr
    assert own.stdout.startswith(f"clients: behind: {', '.join(clients[1:])} pending"), own.stdout
    again = by_service(status(env, "--json", "--service", "clients"))["clients"]
    assert again["current"] == clients[:1]
    for service in SERVICES:
        migrate(service, env)
    after = status(env, "--json")
    assert after.returncode == 0
    assert {row["state"] for row in by_service(after).values()} == {"up to date"}


def test_exit_code_precedence() -> None:
    def of(*states: SchemaState) -> list[MigrationStatus]:
        return [MigrationStatus("s", "db", state) for state in states]

    assert status_exit_code(of(SchemaState.UP_TO_DATE, SchemaState.UP_TO_DATE)) == 0
    assert status_exit_code(of(SchemaState.UP_TO_DATE, SchemaState.NOT_CREATED)) == 3
    assert status_exit_code(of(SchemaState.BEHIND, SchemaState.UP_TO_DATE)) == 3
    assert status_exit_code(of(SchemaState.BEHIND, SchemaState.AHEAD)) == 4
    assert status_exit_code(of(SchemaState.AHEAD, SchemaState.UNREADABLE)) == 1
