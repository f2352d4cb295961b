"""Migration 0003 adds introspection, allowed_cors_origins and enabled to clients
that already exist, with the defaults that keep them working, on SQLite and
PostgreSQL; downgrading removes the columns again. 0005 adds the client keys and
request-object settings the same way: the previous release, which writes none of
them, keeps working on the new schema. 0006 adds the table of resource servers
(RFC 8707) beside the clients, which it leaves as they were. 0007 adds the
back-channel logout and token exchange settings, and 0008
dpop_bound_access_tokens (RFC 9449), again with defaults the previous release never
writes. 0009 adds client_secret_encrypted, NULL but for client_secret_jwt
clients (RFC 7523), whose sealed secret it holds as the bytes it was given. 0010 (the
head) adds the RFC 8705 subject attributes of tls_client_auth clients and
tls_client_certificate_bound_access_tokens, "" and false for every client before."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from common.db import create_engine
from common.migrations import alembic_config, downgrade, upgrade
from services.clients.app import MIGRATIONS_DIR
from services.clients.domain.model import Resource
from services.clients.settings import ClientsSettings
from services.clients.store.sql import SqlClientStore, SqlResourceStore
from services.clients.tests.conftest import settings_for

INSERT_0002 = """
INSERT INTO clients (client_id, client_name, redirect_uris, grant_types, response_types,
  scope, token_endpoint_auth_method, require_pkce, post_logout_redirect_uris,
  access_token_signing_alg, always_issue_refresh_token, contacts, client_uri, logo_uri,
  client_secret_hash, dynamically_registered, revision, created_at, updated_at)
VALUES ('old', 'old', '[]', '["client_credentials"]', '[]', 'api', 'client_secret_basic',
  true, '[]', '', false, '[]', '', '', NULL, false, 1,
  '2025-01-01 00:00:00+00:00', '2025-01-01 00:00:00+00:00')
"""


async def _execute(settings: ClientsSettings, sql: str) -> None:
    engine = create_engine(settings)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


async def _load(settings: ClientsSettings) -> tuple[bool, tuple[str, ...], bool]:
    engine = create_engine(settings)
    try:
        client = await SqlClientStore(engine).get("old")
    finally:
        await engine.dispose()
    assert client is not None
    return client.introspection, client.allowed_cors_origins, client.enabled


async def test_0003_keeps_existing_clients_working(
    pg_url: str, database_url: tuple[str, str]
) -> None:
    """``pg_url`` first, as in conftest's ``engine``; Alembic runs in a thread (it
    runs an event loop of its own), so no test here ends the current loop."""
    settings = settings_for(*database_url)
    await asyncio.to_thread(upgrade, settings, MIGRATIONS_DIR, "0002")
    await _execute(settings, INSERT_0002)
    await asyncio.to_thread(upgrade, settings, MIGRATIONS_DIR)
    assert await _load(settings) == (False, (), True)
    await asyncio.to_thread(downgrade, settings, MIGRATIONS_DIR, "0002")
    with pytest.raises(DBAPIError, match="introspection"):
        await _execute(settings, "SELECT introspection FROM clients")
    await asyncio.to_thread(upgrade, settings, MIGRATIONS_DIR)
    assert await _load(settings) == (False, (), True)


def test_head_is_0010() -> None:
    script = ScriptDirectory.from_config(alembic_config(ClientsSettings(), MIGRATIONS_DIR))
    assert script.get_current_head() == "0010"


async def _load_keys(settings: ClientsSettings) -> tuple[str, str, bool, str]:
    engine = create_engine(settings)
    try:
        client = await SqlClientStore(engine).get("old")
    finally:
        await engine.dispose()
    assert client is not None
    return (
        client.jwks,
        client.jwks_uri,
        client.require_signed_request_object,
        client.request_object_signing_alg,
    )


async def test_0005_keeps_existing_clients_and_the_previous_release_working(
    pg_url: str, database_url: tuple[str, str]
) -> None:
    settings = settings_for(*database_url)
    await asyncio.to_thread(upgrade, settings, MIGRATIONS_DIR, "0004")
    await _execute(settings, INSERT_0002)
    await asyncio.to_thread(upgrade, settings, MIGRATIONS_DIR)
    assert await _load_keys(settings) == ("", "", False, "")
    # The previous release's INSERT (no such columns) still works on the new schema.
    await _execute(settings, "DELETE FROM clients")
    await _execute(settings, INSERT_0002)
    assert await _load_keys(settings) == ("", "", False, "")
    await asyncio.to_thread(downgrade, settings, MIGRATIONS_DIR, "0004")
    for column in (
        "jwks",
        "jwks_uri",
        "require_signed_request_object",
        "request_object_signing_alg",
    ):
        with pytest.raises(DBAPIError, match=column):
            await _execute(settings, f"SELECT {column} FROM clients")  # noqa: S608 - a constant
    await asyncio.to_thread(upgrade, settings, MIGRATIONS_DIR)
    assert await _load_keys(settings) == ("", "", False, "")


async def _resource_round_trip(settings: ClientsSettings) -> Resource | None:
    engine = create_engine(settings)
    try:
        store = SqlResourceStore(engine)
        when = datetime(2026, 1, 1, tzinfo=UTC)
        resource = Resource("https://api.example.com/orders", "", ("a",), 0, "old", when, when)
        await store.create(resource)
        return await store.get(resource.identifier)
    finally:
        await engine.dispose()


async def test_0006_adds_resources_beside_the_clients(
    pg_url: str, database_url: tuple[str, str]
) -> None:
    settings = settings_for(*database_url)
    await asyncio.to_thread(upgrade, settings, MIGRATIONS_DIR, "0005")
    await _execute(settings, INSERT_0002)
    with pytest.raises(DBAPIError, match="resources"):
        await _execute(settings, "SELECT identifier FROM resources")
    await asyncio.to_thread(upgrade, settings, MIGRATIONS_DIR)
    stored = await _resource_round_trip(settings)
    assert stored is not None and stored.scopes == ("a",)
    assert stored.introspection_client_id == "old"
    assert await _load_keys(settings) == ("", "", False, "")  # the client is as it was
    await asyncio.to_thread(downgrade, settings, MIGRATIONS_DIR, "0005")
    with pytest.raises(DBAPIError, match="resources"):
        await _execute(settings, "SELECT identifier FROM resources")
    await asyncio.to_thread(upgrade, settings, MIGRATIONS_DIR)
    assert await _load_keys(settings) == ("", "", False, "")
    assert await _resource_round_trip(settings) is not None  # an empty table again


async def test_0007_adds_the_logout_and_exchange_settings(
    pg_url: str, database_url: tuple[str, str]
) -> None:
    settings = settings_for(*database_url)
    await asyncio.to_thread(upgrade, settings, MIGRATIONS_DIR, "0006")
    await _execute(settings, INSERT_0002)
    await asyncio.to_thread(upgrade, settings, MIGRATIONS_DIR)
    engine = create_engine(settings)
    try:
        client = await SqlClientStore(engine).get("old")
    finally:
        await engine.dispose()
    assert client is not None
    assert client.backchannel_logout_uri == ""
    assert client.backchannel_logout_session_required is False
    assert client.token_exchange_audiences == ()
    # The previous release's INSERT (no such columns) still works on the new schema.
    await _execute(settings, "DELETE FROM clients")
    await _execute(settings, INSERT_0002)
    await asyncio.to_thread(downgrade, settings, MIGRATIONS_DIR, "0006")
    for column in (
        "backchannel_logout_uri",
        "backchannel_logout_session_required",
        "token_exchange_audiences",
    ):
        with pytest.raises(DBAPIError, match=column):
            await _execute(settings, f"SELECT {column} FROM clients")  # noqa: S608 - a constant
    await asyncio.to_thread(upgrade, settings, MIGRATIONS_DIR)
    assert await _load_keys(settings) == ("", "", False, "")


async def _load_dpop(settings: ClientsSettings) -> bool:
    engine = create_engine(settings)
    try:
        client = await SqlClientStore(engine).get("old")
    finally:
        await engine.dispose()
    assert client is not None
    return client.dpop_bound_access_tokens


async def test_0008_adds_dpop_bound_access_tokens(
    pg_url: str, database_url: tuple[str, str]
) -> None:
    settings = settings_for(*database_url)
    await asyncio.to_thread(upgrade, settings, MIGRATIONS_DIR, "0007")
    await _execute(settings, INSERT_0002)
    await asyncio.to_thread(upgrade, settings, MIGRATIONS_DIR)
    assert await _load_dpop(settings) is False
    # The previous release's INSERT (no such column) still works on the new schema.
    await _execute(settings, "DELETE FROM clients")
    await _execute(settings, INSERT_0002)
    assert await _load_dpop(settings) is False
    await asyncio.to_thread(downgrade, settings, MIGRATIONS_DIR, "0007")
    with pytest.raises(DBAPIError, match="dpop_bound_access_tokens"):
        await _execute(settings, "SELECT dpop_bound_access_tokens FROM clients")
    await asyncio.to_thread(upgrade, settings, MIGRATIONS_DIR)
    assert await _load_dpop(settings) is False
    assert await _load_keys(settings) == ("", "", False, "")


async def _sealed_round_trip(settings: ClientsSettings, sealed: bytes) -> tuple[bytes | None, ...]:
    engine = create_engine(settings)
    try:
        store = SqlClientStore(engine)
        old = await store.get("old")
        assert old is not None
        when = datetime(2026, 1, 1, tzinfo=UTC)
        client = dataclasses.replace(
            old,
            client_id="hmac",
            token_endpoint_auth_method="client_secret_jwt",
            client_secret_encrypted=sealed,
            created_at=when,
            updated_at=when,
        )
        await store.create(client)
        stored = await store.get("hmac")
        assert stored is not None
        return old.client_secret_encrypted, stored.client_secret_encrypted
    finally:
        await engine.dispose()


async def test_0009_adds_client_secret_encrypted(
    pg_url: str, database_url: tuple[str, str]
) -> None:
    settings = settings_for(*database_url)
    await asyncio.to_thread(upgrade, settings, MIGRATIONS_DIR, "0008")
    await _execute(settings, INSERT_0002)
    await asyncio.to_thread(upgrade, settings, MIGRATIONS_DIR)
    # Every byte value survives, NUL and high bytes included (bytea, BLOB).
    sealed = bytes(range(256)) + b"\x00"
    assert await _sealed_round_trip(settings, sealed) == (None, sealed)
    # The previous release's INSERT (no such column) still works on the new schema.
    await _execute(settings, "DELETE FROM clients")
    await _execute(settings, INSERT_0002)
    assert await _load_dpop(settings) is False
    await asyncio.to_thread(downgrade, settings, MIGRATIONS_DIR, "0008")
    with pytest.raises(DBAPIError, match="client_secret_encrypted"):
        await _execute(settings, "SELECT client_secret_encrypted FROM clients")
    await asyncio.to_thread(upgrade, settings, MIGRATIONS_DIR)
    assert await _load_keys(settings) == ("", "", False, "")


TLS_COLUMNS = (
    "tls_client_auth_subject_dn",
    "tls_client_auth_san_dns",
    "tls_client_auth_san_uri",
    "tls_client_auth_san_ip",
    "tls_client_auth_san_email",
    "tls_client_certificate_bound_access_tokens",
)


async def _load_tls(settings: ClientsSettings) -> tuple[object, ...]:
    engine = create_engine(settings)
    try:
        client = await SqlClientStore(engine).get("old")
    finally:
        await engine.dispose()
    assert client is not None
    return tuple(getattr(client, column) for column in TLS_COLUMNS)


async def test_0010_adds_the_tls_client_auth_settings(
    pg_url: str, database_url: tuple[str, str]
) -> None:
    settings = settings_for(*database_url)
    await asyncio.to_thread(upgrade, settings, MIGRATIONS_DIR, "0009")
    await _execute(settings, INSERT_0002)
    await asyncio.to_thread(upgrade, settings, MIGRATIONS_DIR)
    assert await _load_tls(settings) == ("", "", "", "", "", False)
    # The previous release's INSERT (no such columns) still works on the new schema.
    await _execute(settings, "DELETE FROM clients")
    await _execute(settings, INSERT_0002)
    assert await _load_tls(settings) == ("", "", "", "", "", False)
    await asyncio.to_thread(downgrade, settings, MIGRATIONS_DIR, "0009")
    for column in TLS_COLUMNS:
        with pytest.raises(DBAPIError, match=column):
            await _execute(settings, f"SELECT {column} FROM clients")  # noqa: S608 - a constant
    await asyncio.to_thread(upgrade, settings, MIGRATIONS_DIR)
    assert await _load_tls(settings) == ("", "", "", "", "", False)
