"""The ClientStore and ResourceStore contracts, run against SqlClientStore and
SqlResourceStore on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from common.errors import Conflict, NotFound
from services.clients.domain.jwks import canonical_json
from services.clients.domain.model import Client, Resource
from services.clients.store.cache import decode_client, encode_client
from services.clients.store.sql import SqlClientStore, SqlResourceStore
from services.clients.tests.keys import key_set, okp_jwk, rsa_jwk

T0 = datetime(2025, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)


def make_client(client_id: str, name: str = "", **changes: object) -> Client:
    client = Client(
        client_id=client_id,
        client_name=name or client_id,
        redirect_uris=("https://app.example.com/cb", "com.example.app:/cb"),
        grant_types=("authorization_code", "refresh_token"),
        response_types=("code",),
        scope="read write",
        token_endpoint_auth_method="client_secret_basic",
        require_pkce=True,
        post_logout_redirect_uris=(),
        access_token_signing_alg="",
        always_issue_refresh_token=False,
        contacts=("ops@example.com",),
        client_uri="",
        logo_uri="",
        created_at=T0,
        updated_at=T0,
        revision=1,
        client_secret_hash="sha256$" + "ab" * 32,
    )
    return dataclasses.replace(client, **changes)  # type: ignore[arg-type]


async def test_create_and_get_round_trip(sql_store: SqlClientStore) -> None:
    client = make_client(
        "c1",
        client_secret_expires_at=T0 + timedelta(days=30),
        dynamically_registered=True,
        contacts=(),
        client_name="Ünïcode ✓",
    )
    await sql_store.create(client)
    loaded = await sql_store.get("c1")
    assert loaded == client
    assert loaded is not None and loaded.created_at.tzinfo is not None
    public = make_client("c2", token_endpoint_auth_method="none", client_secret_hash=None)
    await sql_store.create(public)
    assert await sql_store.get("c2") == public
    assert await sql_store.get("missing") is None


async def test_duplicate_client_id_is_conflict(sql_store: SqlClientStore) -> None:
    await sql_store.create(make_client("dup"))
    with pytest.raises(Conflict, match="dup"):
        await sql_store.create(make_client("dup", "other"))
    assert (await sql_store.get("dup")) == make_client("dup")


async def test_list_orders_pages_and_searches(sql_store: SqlClientStore) -> None:
    for index in range(5):
        await sql_store.create(make_client(f"app-{index}", f"Payments {index}"))
    await sql_store.create(make_client("billing", "BILLING backend"))
    await sql_store.create(make_client("under_score", "100% literal"))

    page, total = await sql_store.list(after=None, limit=3, search="")
    assert [c.client_id for c in page] == ["app-0", "app-1", "app-2"] and total == 7
    page, total = await sql_store.list(after="app-2", limit=3, search="")
    assert [c.client_id for c in page] == ["app-3", "app-4", "billing"] and total == 7
    page, _ = await sql_store.list(after="billing", limit=3, search="")
    assert [c.client_id for c in page] == ["under_score"]

    # Case-insensitive substring of client_id or client_name.
    page, total = await sql_store.list(after=None, limit=10, search="payMENTS")
    assert len(page) == 5 and total == 5
    page, total = await sql_store.list(after=None, limit=10, search="Backend")
    assert [c.client_id for c in page] == ["billing"] and total == 1
    page, total = await sql_store.list(after="app-1", limit=2, search="app")
    assert [c.client_id for c in page] == ["app-2", "app-3"] and total == 5
    # LIKE wildcards in the search are literal characters.
    page, _ = await sql_store.list(after=None, limit=10, search="_")
    assert [c.client_id for c in page] == ["under_score"]
    page, _ = await sql_store.list(after=None, limit=10, search="%")
    assert [c.client_id for c in page] == ["under_score"]


async def test_update_checks_revision(sql_store: SqlClientStore) -> None:
    client = make_client("u1")
    await sql_store.create(client)
    changed = dataclasses.replace(
        client,
        client_name="renamed",
        redirect_uris=("https://new.example/cb",),
        client_secret_hash="sha256$" + "cd" * 32,
        revision=2,
        updated_at=T0 + timedelta(minutes=5),
    )
    await sql_store.update(changed, expected_revision=1)
    assert await sql_store.get("u1") == changed
    with pytest.raises(Conflict):
        await sql_store.update(dataclasses.replace(changed, revision=3), expected_revision=1)
    with pytest.raises(NotFound):
        await sql_store.update(make_client("ghost"), expected_revision=1)


async def test_delete(sql_store: SqlClientStore) -> None:
    await sql_store.create(make_client("d1"))
    assert await sql_store.delete("d1") is True
    assert await sql_store.get("d1") is None
    assert await sql_store.delete("d1") is False


async def test_keys_and_request_object_settings_round_trip(sql_store: SqlClientStore) -> None:
    """jwks (canonical JSON text, up to 16 KiB), jwks_uri and the request-object
    settings, written, read, replaced; a client without them reads the defaults."""
    jwks = canonical_json({**key_set(rsa_jwk(), okp_jwk()), "x": "a" * 12_000})
    client = make_client(
        "keys",
        jwks=jwks,
        require_signed_request_object=True,
        request_object_signing_alg="EdDSA",
    )
    await sql_store.create(client)
    assert await sql_store.get("keys") == client
    changed = dataclasses.replace(
        client,
        jwks="",
        jwks_uri="https://app.example.com/.well-known/jwks.json",
        require_signed_request_object=False,
        request_object_signing_alg="",
        revision=2,
    )
    await sql_store.update(changed, expected_revision=1)
    assert await sql_store.get("keys") == changed
    assert decode_client(encode_client(client)) == client  # the cache's encoding too
    await sql_store.create(make_client("plain"))
    plain = await sql_store.get("plain")
    assert plain is not None
    assert (plain.jwks, plain.jwks_uri, plain.require_signed_request_object) == ("", "", False)
    assert plain.request_object_signing_alg == ""


async def test_dpop_bound_access_tokens_round_trip(sql_store: SqlClientStore) -> None:
    """RFC 9449 section 5.2: written, read, turned off; a client without it reads false."""
    client = make_client("dpop", dpop_bound_access_tokens=True)
    await sql_store.create(client)
    assert await sql_store.get("dpop") == client
    assert decode_client(encode_client(client)) == client  # the cache's encoding too
    changed = dataclasses.replace(client, dpop_bound_access_tokens=False, revision=2)
    await sql_store.update(changed, expected_revision=1)
    assert await sql_store.get("dpop") == changed
    await sql_store.create(make_client("bearer"))
    bearer = await sql_store.get("bearer")
    assert bearer is not None and bearer.dpop_bound_access_tokens is False


@pytest.mark.parametrize(
    "subject",
    [
        {"tls_client_auth_subject_dn": "CN=app.example.com,O=Example Ünïcode,C=DE"},
        {"tls_client_auth_san_dns": "app.example.com"},
        {"tls_client_auth_san_uri": "spiffe://example.org/ns/app"},
        {"tls_client_auth_san_ip": "2001:db8::10"},
        {"tls_client_auth_san_email": "app@example.com"},
    ],
)
async def test_tls_client_auth_settings_round_trip(
    sql_store: SqlClientStore, subject: dict[str, str]
) -> None:
    """RFC 8705: the subject attribute as registered and the binding flag, written,
    read, changed; a client without them reads "" and false."""
    client = make_client(
        "mtls",
        token_endpoint_auth_method="tls_client_auth",
        client_secret_hash=None,
        tls_client_certificate_bound_access_tokens=True,
        **subject,
    )
    await sql_store.create(client)
    assert await sql_store.get("mtls") == client
    assert decode_client(encode_client(client)) == client  # the cache's encoding too
    changed = dataclasses.replace(
        client,
        tls_client_certificate_bound_access_tokens=False,
        tls_client_auth_subject_dn="",
        tls_client_auth_san_dns="other.example.com",
        tls_client_auth_san_uri="",
        tls_client_auth_san_ip="",
        tls_client_auth_san_email="",
        revision=2,
    )
    await sql_store.update(changed, expected_revision=1)
    assert await sql_store.get("mtls") == changed
    await sql_store.create(make_client("plain"))
    plain = await sql_store.get("plain")
    assert plain is not None
    assert plain.tls_client_certificate_bound_access_tokens is False
    assert (plain.tls_client_auth_subject_dn, plain.tls_client_auth_san_ip) == ("", "")


async def test_client_secret_encrypted_round_trip(sql_store: SqlClientStore) -> None:
    """client_secret_jwt: the sealed secret's bytes as they were written (any byte,
    NUL included), replaced and dropped by an update; NULL for every other client."""
    sealed = bytes(range(256))
    client = make_client(
        "hmac", token_endpoint_auth_method="client_secret_jwt", client_secret_encrypted=sealed
    )
    await sql_store.create(client)
    assert await sql_store.get("hmac") == client
    assert decode_client(encode_client(client)) == client  # the cache's encoding too
    rotated = dataclasses.replace(client, client_secret_encrypted=b"\x00" * 60, revision=2)
    await sql_store.update(rotated, expected_revision=1)
    assert await sql_store.get("hmac") == rotated
    dropped = dataclasses.replace(
        rotated,
        token_endpoint_auth_method="client_secret_basic",
        client_secret_encrypted=None,
        revision=3,
    )
    await sql_store.update(dropped, expected_revision=2)
    assert await sql_store.get("hmac") == dropped
    await sql_store.create(make_client("basic"))
    basic = await sql_store.get("basic")
    assert basic is not None and basic.client_secret_encrypted is None
    assert "client_secret_encrypted" not in repr(client)


# --- resource servers (RFC 8707) ------------------------------------------------------------


@pytest.fixture
def resource_store(engine: AsyncEngine) -> SqlResourceStore:
    return SqlResourceStore(engine)


def make_resource(identifier: str, **changes: object) -> Resource:
    resource = Resource(
        identifier=identifier,
        name="Orders API",
        scopes=("orders:read", "orders:write"),
        access_token_ttl_seconds=0,
        introspection_client_id="",
        created_at=T0,
        updated_at=T0,
        revision=1,
    )
    return dataclasses.replace(resource, **changes)  # type: ignore[arg-type]


async def test_resource_round_trip(resource_store: SqlResourceStore) -> None:
    longest = "https://api.example.com/" + "x" * (512 - len("https://api.example.com/"))
    resource = make_resource(
        longest,
        name="Ünïcode ✓ " + "n" * 190,
        scopes=tuple(f"scope:{i}" for i in range(50)),
        access_token_ttl_seconds=86_400,
        introspection_client_id="c" * 128,
    )
    await resource_store.create(resource)
    loaded = await resource_store.get(longest)
    assert loaded == resource
    assert loaded is not None and loaded.created_at.tzinfo is not None
    assert isinstance(loaded.scopes, tuple)
    plain = make_resource("https://api.example.com/plain", name="", scopes=("a",))
    await resource_store.create(plain)
    assert await resource_store.get("https://api.example.com/plain") == plain
    assert await resource_store.get("https://api.example.com/missing") is None


async def test_a_taken_identifier_is_conflict(resource_store: SqlResourceStore) -> None:
    await resource_store.create(make_resource("https://api.example.com/dup"))
    with pytest.raises(Conflict, match="already exists"):
        await resource_store.create(make_resource("https://api.example.com/dup", name="other"))
    assert await resource_store.get("https://api.example.com/dup") == make_resource(
        "https://api.example.com/dup"
    )
    # Identifiers are compared exactly: another spelling is another resource.
    await resource_store.create(make_resource("https://API.example.com/dup"))


async def test_resources_list_in_order_and_pages(resource_store: SqlResourceStore) -> None:
    identifiers = [f"https://api.example.com/r{index}" for index in (3, 0, 4, 1, 2)]
    for identifier in identifiers:
        await resource_store.create(make_resource(identifier))
    page, total = await resource_store.list(after=None, limit=2)
    assert [r.identifier for r in page] == sorted(identifiers)[:2] and total == 5
    page, total = await resource_store.list(after=page[-1].identifier, limit=2)
    assert [r.identifier for r in page] == sorted(identifiers)[2:4] and total == 5
    page, _ = await resource_store.list(after=page[-1].identifier, limit=2)
    assert [r.identifier for r in page] == sorted(identifiers)[4:]
    page, total = await resource_store.list(after=sorted(identifiers)[-1], limit=2)
    assert page == [] and total == 5


async def test_resource_update_checks_revision(resource_store: SqlResourceStore) -> None:
    resource = make_resource("https://api.example.com/u")
    await resource_store.create(resource)
    changed = dataclasses.replace(
        resource,
        name="renamed",
        scopes=("orders:admin",),
        access_token_ttl_seconds=300,
        introspection_client_id="rs-client",
        updated_at=T0 + timedelta(minutes=5),
        revision=2,
    )
    await resource_store.update(changed, expected_revision=1)
    assert await resource_store.get("https://api.example.com/u") == changed
    with pytest.raises(Conflict, match="changed concurrently"):
        await resource_store.update(dataclasses.replace(changed, revision=3), expected_revision=1)
    assert await resource_store.get("https://api.example.com/u") == changed
    with pytest.raises(NotFound):
        await resource_store.update(
            make_resource("https://api.example.com/ghost"), expected_revision=1
        )


async def test_resource_delete(resource_store: SqlResourceStore) -> None:
    await resource_store.create(make_resource("https://api.example.com/d"))
    assert await resource_store.delete("https://api.example.com/d") is True
    assert await resource_store.get("https://api.example.com/d") is None
    assert await resource_store.delete("https://api.example.com/d") is False
    assert await resource_store.list(after=None, limit=10) == ([], 0)
