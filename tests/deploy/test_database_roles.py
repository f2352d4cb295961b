"""The per-service database roles of deploy/README.md, on a real PostgreSQL:
deploy/postgres/roles.sql run as the README says, each service's migrations run as
its own role, no role can read another service's schema, and a service runs on its
role (started as a process, answering a call that reads and writes its tables)."""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from oauth2.v1 import clients_pb2

from common.errors import TemporarilyUnavailable
from common.services import clients_client
from conftest import run_blocking
from oauth2ctl.devrun import free_port
from tests.deploy.support import ROOT

SERVICES = ("authorize", "token", "clients", "admin")
ROLES_SQL = ROOT / "deploy" / "postgres" / "roles.sql"
PASSWORD = "roles-test-" + uuid.uuid4().hex


@dataclass(frozen=True)
class RoleDatabase:
    """A fresh database prepared by roles.sql, and each service's URL on its role."""

    name: str
    prefix: str
    server_url: str

    def url_for(self, service: str, database: str | None = None) -> str:
        parts = urlsplit(self.server_url)
        host = parts.hostname or "127.0.0.1"
        port = f":{parts.port}" if parts.port else ""
        netloc = f"{self.prefix}{service}:{PASSWORD}@{host}{port}"
        return urlunsplit(("postgresql", netloc, f"/{database or self.name}", "", ""))


async def _superuser(server_url: str, sql: str) -> None:
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def role_database(pg_server_url: str) -> Iterator[RoleDatabase]:
    psql = shutil.which("psql")
    assert psql is not None, "the roles test needs psql (apt-get install postgresql-client)"
    # Roles are cluster-wide: a prefix of its own keeps this run apart from any other.
    prefix = f"t{uuid.uuid4().hex[:8]}_"
    name = f"oauth2_roles_{uuid.uuid4().hex[:10]}"
    base = pg_server_url.rpartition("/")[0]
    run_blocking(_superuser(pg_server_url, f'CREATE DATABASE "{name}"'))
    try:
        result = subprocess.run(
            [
                psql,
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-v",
                f"role_prefix={prefix}",
                "-v",
                f"password={PASSWORD}",
                "-d",
                f"{base}/{name}",
                "-f",
                str(ROLES_SQL),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        yield RoleDatabase(name=name, prefix=prefix, server_url=pg_server_url)
    finally:
        run_blocking(_superuser(pg_server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        for service in SERVICES:
            run_blocking(_superuser(pg_server_url, f'DROP ROLE IF EXISTS "{prefix}{service}"'))


def _env(url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OAUTH2_")}
    for key in ("DATABASE_URL", "REDIS_URL", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        env.pop(key, None)
    env["DATABASE_URL"] = url
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def migrated(role_database: RoleDatabase) -> RoleDatabase:
    """Every service's migrations, each run as that service's role, as the Jobs do."""
    procs = {
        service: subprocess.Popen(
            [sys.executable, "-m", f"services.{service}", "migrate"],
            env=_env(role_database.url_for(service)),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for service in SERVICES
    }
    for service, proc in procs.items():
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"{service} migrate as its role: {out.decode()[-2000:]}"
    return role_database


async def _tables(url: str, schema: str) -> list[str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY 1", schema
        )
        return [row["tablename"] for row in rows]
    finally:
        await conn.close()


async def _select(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.fetch(sql)
    finally:
        await conn.close()


def test_each_service_migrates_its_own_schema_as_its_own_role(migrated: RoleDatabase) -> None:
    for service in SERVICES:
        tables = asyncio.run(_tables(migrated.url_for(service), service))
        assert "alembic_version" in tables, (service, tables)
        assert len(tables) > 1, (service, tables)


@pytest.mark.parametrize("reader", SERVICES)
def test_no_role_reads_another_services_schema(migrated: RoleDatabase, reader: str) -> None:
    url = migrated.url_for(reader)
    own = f"SELECT * FROM {reader}.alembic_version"  # noqa: S608 - fixed service names
    asyncio.run(_select(url, own))  # its own: fine
    for owner in SERVICES:
        if owner == reader:
            continue
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
            other = f"SELECT * FROM {owner}.alembic_version"  # noqa: S608
            asyncio.run(_select(url, other))
    # Nor can it make a schema of its own, or tables in public.
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        asyncio.run(_select(url, "CREATE SCHEMA stray"))
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        asyncio.run(_select(url, "CREATE TABLE public.stray (id int)"))


def test_a_role_cannot_connect_to_another_database(
    migrated: RoleDatabase, pg_server_url: str
) -> None:
    other = f"oauth2_roles_other_{uuid.uuid4().hex[:8]}"
    run_blocking(_superuser(pg_server_url, f'CREATE DATABASE "{other}"'))
    try:
        run_blocking(_superuser(pg_server_url.rpartition("/")[0] + f"/{other}", "SELECT 1"))
        run_blocking(_superuser(pg_server_url, f'REVOKE ALL ON DATABASE "{other}" FROM PUBLIC'))
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            asyncio.run(_select(migrated.url_for("token", other), "SELECT 1"))
    finally:
        run_blocking(_superuser(pg_server_url, f'DROP DATABASE IF EXISTS "{other}" WITH (FORCE)'))


def test_the_clients_service_runs_on_its_role(migrated: RoleDatabase) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.clients", "serve"],
        env=_env(
            migrated.url_for("clients"),
            OAUTH2_GRPC_PORT=str(port),
            # Required with PostgreSQL: it seals the secrets of client_secret_jwt clients.
            OAUTH2_KEY_ENCRYPTION_KEY=base64.urlsafe_b64encode(os.urandom(32)).decode(),
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )

    async def create_and_read() -> tuple[str, str]:
        client = clients_client(f"127.0.0.1:{port}", 5)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    created = await client.call.CreateClient(
                        clients_pb2.CreateClientRequest(
                            metadata=clients_pb2.ClientMetadata(
                                client_name="on-its-role", grant_types=["client_credentials"]
                            )
                        )
                    )
                    break
                except TemporarilyUnavailable:  # not listening yet
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise
                    await asyncio.sleep(0.3)
            read = await client.call.GetClient(
                clients_pb2.GetClientRequest(client_id=created.client.client_id)
            )
            return created.client.client_id, read.client_name
        finally:
            await client.close()

    try:
        client_id, name = asyncio.run(create_and_read())
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert client_id and name == "on-its-role", out.decode()[-2000:]
    # The row is in the clients schema, written by the clients role.
    assert asyncio.run(_count(migrated.url_for("clients"), client_id)) == 1


async def _count(url: str, client_id: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        found = await conn.fetchval(
            "SELECT count(*) FROM clients.clients WHERE client_id = $1", client_id
        )
        return int(found)
    finally:
        await conn.close()
