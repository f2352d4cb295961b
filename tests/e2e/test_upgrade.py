"""Upgrades: a database an earlier version created and filled, brought to this
version's heads by the real ``python -m services.<name> migrate`` (which the e2e
harness runs before it starts the processes), and the whole system run on it.

Every release recorded in deploy/releases.toml is upgraded from on PostgreSQL; the
oldest also on the embedded default's SQLite files. The data is what that version
wrote, as rows of its schema (the columns of the earliest revisions, which every
recorded release has): a confidential client whose secret hash is the stored form of
a known secret, a user with an Argon2id hash of a known password and a consent, a
refresh-token family, an audit event. After the upgrade the old client gets tokens
with its old secret, the old user signs in with the old password (the old consent
still holds, so no consent page), the old refresh token refreshes, the old audit
event is listed, and every field reads back as it was written.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import json
import tomllib
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from argon2 import PasswordHasher
from sqlalchemy.ext.asyncio import create_async_engine

from common.migrations import (
    MigrationStatus,
    SchemaState,
    alembic_config,
    migration_status,
    upgrade,
)
from common.settings import CommonSettings
from conftest import run_blocking
from oauth2ctl.migrate_commands import SERVICES, migrations_dir
from tests.e2e.browser import Arrival, Browser, page_text, pkce_pair
from tests.e2e.conftest import (
    ROOT,
    RunningSystem,
    base_env,
    basic,
    postgres_env,
    start_system,
)
from tests.e2e.test_sign_in import REDIRECT, authorize_url, exchange

#: Minutes of the suite's time: make test-slow (and CI) runs it, make test does not.
pytestmark = [pytest.mark.e2e, pytest.mark.slow]

_RECORDED = tomllib.loads((ROOT / "deploy" / "releases.toml").read_text())
RELEASES: list[dict[str, str]] = _RECORDED["release"]
RELEASED_MIGRATIONS: dict[str, str] = _RECORDED["released_migrations"]

CLIENT_ID = "old-photo-book"
CLIENT_SECRET = "old-secret-generated-by-an-earlier-version-0123456789"
USERNAME = "Old.User"
PASSWORD = "an old password from an earlier version"
USER_ID = "5f0c3c1e-6a1b-4c8e-9d21-0a7e1c2b3d4e"
EMAIL = "old.user@example.com"
REFRESH_TOKEN = "old-refresh-token-issued-by-an-earlier-version-abcdefghijkl"
FAMILY_ID = "old-family-0001"
EVENT_ID = "old-event-0001"
SCOPE = "openid profile email offline_access"
CLIENT_SCOPE = f"{SCOPE} api:read"
GRANT_TYPES = ["authorization_code", "refresh_token", "client_credentials"]


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _table(name: str, schema: str | None, *columns: tuple[str, Any]) -> sa.TableClause:
    return sa.table(name, *(sa.column(col, type_) for col, type_ in columns), schema=schema)


TS = sa.DateTime(timezone=True)


def old_rows(now: datetime) -> dict[str, list[tuple[str, list[tuple[str, Any, Any]]]]]:
    """Per service: (table, [(column, type, value)]) in the schema of the earliest
    recorded release (clients 0002, token 0003_operators, authorize 0001, admin 0002)."""
    created = now - timedelta(days=20)
    return {
        "clients": [
            (
                "clients",
                [
                    ("client_id", sa.String, CLIENT_ID),
                    ("client_name", sa.String, "Old Photo Book"),
                    ("redirect_uris", sa.Text, json.dumps([REDIRECT])),
                    ("grant_types", sa.Text, json.dumps(GRANT_TYPES)),
                    ("response_types", sa.Text, json.dumps(["code"])),
                    ("scope", sa.Text, CLIENT_SCOPE),
                    ("token_endpoint_auth_method", sa.String, "client_secret_basic"),
                    ("require_pkce", sa.Boolean, True),
                    ("post_logout_redirect_uris", sa.Text, "[]"),
                    ("access_token_signing_alg", sa.String, ""),
                    ("always_issue_refresh_token", sa.Boolean, False),
                    ("contacts", sa.Text, json.dumps(["ops@example.com"])),
                    ("client_uri", sa.Text, "https://rp.example"),
                    ("logo_uri", sa.Text, ""),
                    # services/clients/domain/client_secret.py: a generated secret's form.
                    ("client_secret_hash", sa.Text, "sha256$" + sha256_hex(CLIENT_SECRET)),
                    ("client_secret_expires_at", TS, None),
                    ("dynamically_registered", sa.Boolean, False),
                    ("revision", sa.BigInteger, 3),
                    ("created_at", TS, created),
                    ("updated_at", TS, created),
                ],
            )
        ],
        "authorize": [
            (
                "users",
                [
                    ("user_id", sa.String, USER_ID),
                    ("username", sa.String, USERNAME),
                    ("username_key", sa.String, USERNAME.lower()),
                    ("email", sa.String, EMAIL),
                    ("email_key", sa.String, EMAIL.lower()),
                    ("email_verified", sa.Boolean, True),
                    ("password_hash", sa.Text, PasswordHasher().hash(PASSWORD)),
                    ("enabled", sa.Boolean, True),
                    ("given_name", sa.String, "Olga"),
                    ("family_name", sa.String, "Older"),
                    ("name", sa.String, "Olga Older"),
                    ("provider", sa.String, None),
                    ("provider_user_id", sa.String, None),
                    ("created_at", TS, created),
                    ("updated_at", TS, created),
                ],
            ),
            (
                "consents",
                [
                    ("client_id", sa.String, CLIENT_ID),
                    ("user_id", sa.String, USER_ID),
                    ("scopes", sa.Text, json.dumps(SCOPE.split())),
                    ("granted_at", TS, created),
                    ("updated_at", TS, created),
                ],
            ),
        ],
        "token": [
            (
                "grant_families",
                [
                    ("family_id", sa.String, FAMILY_ID),
                    ("client_id", sa.String, CLIENT_ID),
                    ("subject", sa.String, USER_ID),
                    ("scope", sa.Text, "openid offline_access"),
                    ("auth_time", TS, created),
                    ("amr", sa.Text, json.dumps(["pwd"])),
                    ("created_at", TS, created),
                    ("last_used_at", TS, created),
                    ("expires_at", TS, now + timedelta(days=60)),
                    ("revoked_at", TS, None),
                    ("revoke_reason", sa.String, None),
                ],
            ),
            (
                "refresh_tokens",
                [
                    ("token_hash", sa.String, sha256_hex(REFRESH_TOKEN)),
                    ("family_id", sa.String, FAMILY_ID),
                    ("client_id", sa.String, CLIENT_ID),
                    ("subject", sa.String, USER_ID),
                    ("scope", sa.Text, "openid offline_access"),
                    ("issued_at", TS, created),
                    ("expires_at", TS, now + timedelta(days=10)),
                    ("used_at", TS, None),
                ],
            ),
        ],
        "admin": [
            (
                "audit_events",
                [
                    ("event_id", sa.String, EVENT_ID),
                    ("action", sa.String, "client.created"),
                    ("actor_id", sa.String, "cli"),
                    ("actor_remote_addr", sa.String, "192.0.2.7"),
                    ("target", sa.String, f"client:{CLIENT_ID}"),
                    ("outcome", sa.String, "success"),
                    ("time", TS, created),
                    ("trace_id", sa.String, "0af7651916cd43dd8448eb211c80319c"),
                    ("source", sa.String, "oauth2-admin"),
                    ("details", sa.Text, json.dumps({"client_name": "Old Photo Book"})),
                ],
            )
        ],
    }


def service_settings(service: str, data_dir: Path, database_url: str | None) -> CommonSettings:
    module = importlib.import_module(f"services.{service}.settings")
    cls: type[CommonSettings] = getattr(module, f"{service.capitalize()}Settings")
    return cls(database_url=database_url, data_dir=data_dir)


def statuses(data_dir: Path, database_url: str | None) -> dict[str, MigrationStatus]:
    async def read() -> list[MigrationStatus]:
        return list(
            await asyncio.gather(
                *(
                    migration_status(
                        service_settings(service, data_dir, database_url), migrations_dir(service)
                    )
                    for service in SERVICES
                )
            )
        )

    return {status.service: status for status in run_blocking(read())}


def create_old_database(release: dict[str, str], data_dir: Path, database_url: str | None) -> None:
    """The earlier version's migrations, up to its heads, and its data."""
    for service in SERVICES:
        settings = service_settings(service, data_dir, database_url)
        upgrade(settings, migrations_dir(service), release[service])
    now = datetime.now(UTC)

    async def seed() -> None:
        for service, tables in old_rows(now).items():
            settings = service_settings(service, data_dir, database_url)
            schema = None if database_url is None else settings.db_schema
            engine = create_async_engine(settings.resolved_database_url)
            try:
                async with engine.begin() as conn:
                    for name, columns in tables:
                        table = _table(name, schema, *((c, t) for c, t, _ in columns))
                        await conn.execute(sa.insert(table).values({c: v for c, _, v in columns}))
            finally:
                await engine.dispose()

    run_blocking(seed())


def upgraded_system(
    request: pytest.FixtureRequest, release: dict[str, str], mode: str
) -> RunningSystem:
    data_dir: Path = request.getfixturevalue("tmp_path_factory").mktemp(f"upgrade-{mode}")
    env = base_env(data_dir)
    database_url = None
    if mode == "postgres":
        database_url = request.getfixturevalue("new_database")()
        prefix = request.getfixturevalue("redis_prefix") + f"upgrade-{uuid.uuid4().hex[:6]}:"
        postgres_env(env, database_url, request.getfixturevalue("redis_url"), prefix)
    create_old_database(release, data_dir, database_url)

    before = statuses(data_dir, database_url)
    for service in SERVICES:
        status = before[service]
        assert status.current == (release[service],), service
        expected = SchemaState.UP_TO_DATE if not status.pending else SchemaState.BEHIND
        assert status.state is expected, status

    # `python -m services.<name> migrate` for each service, then the new processes.
    running = start_system(env, data_dir, mode, database_url, migrate_first=True)
    request.addfinalizer(running.system.stop_all)

    after = statuses(data_dir, database_url)
    for service in SERVICES:
        assert after[service].state is SchemaState.UP_TO_DATE, after[service]
    return running


def token(system: RunningSystem, form: dict[str, str]) -> httpx.Response:
    with system.http() as http:
        return http.post(
            "/oauth/token", data=form, headers={"Authorization": basic(CLIENT_ID, CLIENT_SECRET)}
        )


def check_old_data_works(system: RunningSystem) -> None:
    # The old client, read back through the admin API: every field as written, the
    # fields later migrations added at their defaults.
    client = json.loads(system.ctl("client", "show", CLIENT_ID, "--json").stdout)
    assert client["client_name"] == "Old Photo Book"
    assert client["redirect_uris"] == [REDIRECT]
    assert client["grant_types"] == GRANT_TYPES
    assert client["scope"] == CLIENT_SCOPE
    assert client["token_endpoint_auth_method"] == "client_secret_basic"
    assert client["contacts"] == ["ops@example.com"]
    assert client["client_uri"] == "https://rp.example"
    assert client["enabled"] is True
    assert client["introspection"] is False
    assert client["allowed_cors_origins"] == []

    # Its old secret still authenticates it.
    issued = token(system, {"grant_type": "client_credentials", "scope": "api:read"})
    assert issued.status_code == 200, issued.text
    assert issued.json()["scope"] == "api:read"
    wrong = httpx.post(
        system.base_url + "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": basic(CLIENT_ID, CLIENT_SECRET + "x")},
    )
    assert wrong.status_code == 401, wrong.text

    # The old refresh token refreshes (and rotates).
    refreshed = token(system, {"grant_type": "refresh_token", "refresh_token": REFRESH_TOKEN})
    assert refreshed.status_code == 200, refreshed.text
    body = refreshed.json()
    assert body["refresh_token"] != REFRESH_TOKEN
    assert set(body["scope"].split()) == {"openid", "offline_access"}
    again = token(system, {"grant_type": "refresh_token", "refresh_token": REFRESH_TOKEN})
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant", again.text

    # The old user signs in with the old password; the old consent covers the scopes.
    user = json.loads(system.ctl("user", "show", USERNAME.lower(), "--json").stdout)
    assert (user["user_id"], user["username"], user["email"]) == (USER_ID, USERNAME, EMAIL)
    verifier, challenge = pkce_pair()
    with Browser(system.base_url) as browser:
        page = browser.go(authorize_url(CLIENT_ID, challenge))
        assert isinstance(page, httpx.Response) and 'name="password"' in page.text, page
        arrival = browser.submit(page, {"username": USERNAME, "password": PASSWORD})
        assert isinstance(arrival, Arrival), (
            "no redirect after sign-in: the old consent was lost?\n" + page_text(arrival)[:500]
        )
    assert "code" in arrival.params, arrival
    tokens = exchange(
        system,
        {
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "token_endpoint_auth_method": "client_secret_basic",
        },
        arrival.params["code"],
        verifier,
    )
    assert tokens.status_code == 200, tokens.text
    assert {"access_token", "id_token", "refresh_token"} <= set(tokens.json())

    # The old audit event is listed, as it was written.
    events = json.loads(
        system.ctl("audit", "list", "--target", f"client:{CLIENT_ID}", "--json").stdout
    )
    (old,) = [event for event in events if event["event_id"] == EVENT_ID]
    assert old["action"] == "client.created"
    assert old["actor"] == "cli"
    assert old["remote_addr"] == "192.0.2.7"
    assert old["outcome"] == "success"
    assert old["details"] == {"client_name": "Old Photo Book"}


@pytest.mark.parametrize("release", RELEASES, ids=[r["name"] for r in RELEASES])
def test_upgrade_from_a_recorded_release_on_postgresql(
    request: pytest.FixtureRequest, release: dict[str, str]
) -> None:
    check_old_data_works(upgraded_system(request, release, "postgres"))


def test_upgrade_from_the_oldest_release_on_the_embedded_default(
    request: pytest.FixtureRequest,
) -> None:
    check_old_data_works(upgraded_system(request, RELEASES[0], "embedded"))


def test_every_recorded_release_names_a_revision_each_service_ships() -> None:
    """A release's revision must stay in this version's chain (an edited or removed
    released migration breaks every database of that release)."""
    assert RELEASES, "deploy/releases.toml records no release"
    for release in RELEASES:
        assert len(release["commit"]) == 40, release
        for service in SERVICES:
            config = alembic_config(
                service_settings(service, Path(), None), migrations_dir(service)
            )
            script = ScriptDirectory.from_config(config)
            chain = {rev.revision for rev in script.walk_revisions()}
            assert release[service] in chain, (release["name"], service)


def test_no_released_migration_was_edited() -> None:
    """The old schema above is built from today's copies of the released migrations:
    they are what those releases ran only while nobody edits them."""
    for release in RELEASES:
        for service in SERVICES:
            config = alembic_config(
                service_settings(service, Path(), None), migrations_dir(service)
            )
            script = ScriptDirectory.from_config(config)
            for revision in script.iterate_revisions(release[service], "base"):
                path = Path(revision.path).resolve().relative_to(ROOT).as_posix()
                assert path in RELEASED_MIGRATIONS, f"{release['name']}: {path} is not recorded"
    for path, digest in RELEASED_MIGRATIONS.items():
        content = (ROOT / path).read_bytes().replace(b"\r\n", b"\n")
        assert hashlib.sha256(content).hexdigest() == digest, f"{path} was edited after release"
