"""ClientRegistry rules over an in-memory store: no gRPC, no SQL."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from common.errors import (
    Conflict,
    InvalidClient,
    InvalidClientMetadata,
    InvalidRequest,
    NotFound,
)
from common.timeutil import utcnow
from services.clients.domain import ClientMetadata, ClientRegistry, ResourceRegistry
from services.clients.domain.model import ResourceFields
from services.clients.domain.registry import AUTHENTICATION_FAILED
from services.clients.tests.fakes import MemoryClientStore, MemoryResourceStore

APP = "https://app.example.com/callback"
BACKEND = ClientMetadata(client_name="backend", scope="read write")
WEB_APP = ClientMetadata(
    client_name="web",
    redirect_uris=(APP,),
    post_logout_redirect_uris=("https://app.example.com/bye",),
    token_endpoint_auth_method="client_secret_post",
)
SPA = ClientMetadata(client_name="spa", redirect_uris=(APP,), token_endpoint_auth_method="none")


async def test_create_generates_id_and_secret(registry: ClientRegistry) -> None:
    client, secret = await registry.create(BACKEND)
    assert len(client.client_id) >= 22
    assert secret and client.client_secret_hash and secret not in client.client_secret_hash
    assert client.revision == 1
    assert client.created_at == client.updated_at
    assert client.created_at.utcoffset() == timedelta(0)
    assert (await registry.get(client.client_id)) == client


async def test_public_client_has_no_secret(registry: ClientRegistry) -> None:
    client, secret = await registry.create(SPA)
    assert secret == "" and client.client_secret_hash is None
    assert not client.is_confidential
    with pytest.raises(InvalidRequest, match="client_secret"):
        await registry.create(SPA, client_secret_plain="should-not-be-here")


async def test_operator_chosen_id_and_duplicates(registry: ClientRegistry) -> None:
    client, _ = await registry.create(BACKEND, client_id="billing")
    assert client.client_id == "billing" and client.client_name == "backend"
    with pytest.raises(Conflict):
        await registry.create(BACKEND, client_id="billing")
    with pytest.raises(InvalidRequest, match="client_id"):
        await registry.create(BACKEND, client_id="bad\u00e9")


async def test_invalid_metadata_stores_nothing(
    registry: ClientRegistry, memory_store: MemoryClientStore
) -> None:
    with pytest.raises(InvalidClientMetadata):
        await registry.create(ClientMetadata(grant_types=("password",)))
    assert memory_store.clients == {}


# --- authentication (RFC 6749 section 2.3.1) -------------------------------------------------


async def test_authenticate_each_method(registry: ClientRegistry) -> None:
    backend, backend_secret = await registry.create(BACKEND)
    web, web_secret = await registry.create(WEB_APP)
    spa, _ = await registry.create(SPA)
    assert await registry.authenticate(backend.client_id, backend_secret, "client_secret_basic")
    assert await registry.authenticate(web.client_id, web_secret, "client_secret_post")
    assert await registry.authenticate(spa.client_id, "", "none")


async def assert_fails(registry: ClientRegistry, client_id: str, secret: str, method: str) -> None:
    with pytest.raises(InvalidClient) as caught:
        await registry.authenticate(client_id, secret, method)
    # The same public message whatever went wrong: nothing to enumerate.
    assert caught.value.description == AUTHENTICATION_FAILED
    assert caught.value.detail  # the reason is kept for the logs


async def test_authentication_failures_look_alike(registry: ClientRegistry) -> None:
    backend, secret = await registry.create(BACKEND)
    spa, _ = await registry.create(SPA)
    cid = backend.client_id
    await assert_fails(registry, "no-such-client", secret, "client_secret_basic")
    await assert_fails(registry, "", secret, "client_secret_basic")
    await assert_fails(registry, cid, secret + "x", "client_secret_basic")
    await assert_fails(registry, cid, "", "client_secret_basic")
    await assert_fails(registry, cid, secret.upper(), "client_secret_basic")
    # The registered method is the only one accepted (RFC 7591 section 2).
    await assert_fails(registry, cid, secret, "client_secret_post")
    await assert_fails(registry, cid, secret, "none")
    await assert_fails(registry, cid, secret, "")
    await assert_fails(registry, spa.client_id, "anything", "none")
    await assert_fails(registry, spa.client_id, "", "client_secret_basic")


async def test_expired_secret_fails(
    registry: ClientRegistry, memory_store: MemoryClientStore
) -> None:
    client, secret = await registry.create(BACKEND)
    memory_store.clients[client.client_id] = dataclasses.replace(
        client, client_secret_expires_at=utcnow() - timedelta(seconds=1)
    )
    await assert_fails(registry, client.client_id, secret, "client_secret_basic")


async def test_rotate_secret(registry: ClientRegistry) -> None:
    client, old = await registry.create(BACKEND)
    rotated, new = await registry.rotate_secret(client.client_id)
    assert new != old and rotated.revision == 2
    assert await registry.authenticate(client.client_id, new, "client_secret_basic")
    await assert_fails(registry, client.client_id, old, "client_secret_basic")
    spa, _ = await registry.create(SPA)
    with pytest.raises(InvalidRequest, match="none"):
        await registry.rotate_secret(spa.client_id)
    with pytest.raises(NotFound):
        await registry.rotate_secret("missing")


# --- redirect URIs (RFC 6749 section 3.1.2.3): exact string match ----------------------------


@pytest.mark.parametrize(
    "candidate",
    [
        APP + "/",
        "https://app.example.com/callback/",
        "https://APP.example.com/callback",
        "HTTPS://app.example.com/callback",
        "https://app.example.com/Callback",
        "https://app.example.com:443/callback",
        APP + "?",
        APP + "?a=1",
        APP + "#",
        "https://app.example.com/callback/../callback",
        "https://app.example.com/%63allback",
        "http://app.example.com/callback",
        "",
    ],
)
async def test_redirect_uri_near_misses_are_invalid(
    registry: ClientRegistry, candidate: str
) -> None:
    client, _ = await registry.create(WEB_APP)
    valid, returned = await registry.validate_redirect_uri(client.client_id, candidate, "redirect")
    assert valid is False and returned.client_id == client.client_id


async def test_redirect_uri_exact_match(registry: ClientRegistry) -> None:
    registered = "https://app.example.com/cb?b=2&a=1"
    client, _ = await registry.create(
        ClientMetadata(redirect_uris=(registered,), post_logout_redirect_uris=(APP,))
    )
    assert (await registry.validate_redirect_uri(client.client_id, registered, "redirect"))[0]
    assert (await registry.validate_redirect_uri(client.client_id, registered, ""))[0]
    reordered = "https://app.example.com/cb?a=1&b=2"
    assert not (await registry.validate_redirect_uri(client.client_id, reordered, "redirect"))[0]
    # The two lists are separate.
    assert not (await registry.validate_redirect_uri(client.client_id, APP, "redirect"))[0]
    assert (await registry.validate_redirect_uri(client.client_id, APP, "post_logout"))[0]
    assert not (await registry.validate_redirect_uri(client.client_id, registered, "post_logout"))[
        0
    ]


async def test_redirect_uri_unknown_client_or_kind(registry: ClientRegistry) -> None:
    with pytest.raises(NotFound):
        await registry.validate_redirect_uri("missing", APP, "redirect")
    client, _ = await registry.create(WEB_APP)
    with pytest.raises(InvalidRequest, match="kind"):
        await registry.validate_redirect_uri(client.client_id, APP, "front_channel")


# --- get / list / update / delete --------------------------------------------------------------


async def test_get_and_delete(registry: ClientRegistry) -> None:
    client, _ = await registry.create(BACKEND)
    await registry.delete(client.client_id)
    with pytest.raises(NotFound):
        await registry.get(client.client_id)
    with pytest.raises(NotFound):
        await registry.delete(client.client_id)
    with pytest.raises(InvalidRequest, match="client_id"):
        await registry.get("")


async def test_list_pages_and_search(registry: ClientRegistry) -> None:
    for index in range(7):
        await registry.create(
            ClientMetadata(client_name=f"Service {index}"), client_id=f"svc-{index:02d}"
        )
    await registry.create(ClientMetadata(client_name="Billing"), client_id="zz-other")
    seen: list[str] = []
    token = ""
    while True:
        page = await registry.list(page_size_requested=3, page_token=token)
        assert page.total_size == 8
        seen += [client.client_id for client in page.clients]
        token = page.next_page_token
        if not token:
            break
    assert seen == sorted(seen) and len(seen) == 8
    found = await registry.list(search="BILL")
    assert [client.client_id for client in found.clients] == ["zz-other"]
    assert found.next_page_token == "" and found.total_size == 1
    exact = await registry.list(page_size_requested=8)
    assert len(exact.clients) == 8 and exact.next_page_token == ""
    with pytest.raises(InvalidRequest, match="page_token"):
        await registry.list(page_token="!!not base64!!")
    with pytest.raises(InvalidRequest, match="page_size"):
        await registry.list(page_size_requested=-1)


async def test_update_with_mask(registry: ClientRegistry) -> None:
    client, _ = await registry.create(WEB_APP)
    updated = await registry.update(
        client.client_id,
        ClientMetadata(client_name="renamed", scope="ignored"),
        ["client_name"],
    )
    assert updated.client_name == "renamed"
    assert updated.scope == client.scope and updated.redirect_uris == client.redirect_uris
    assert updated.revision == client.revision + 1
    assert updated.updated_at >= client.updated_at and updated.created_at == client.created_at
    assert updated.client_secret_hash == client.client_secret_hash
    assert await registry.get(client.client_id) == updated
    with pytest.raises(InvalidRequest, match="update_mask"):
        await registry.update(client.client_id, ClientMetadata(), ["client_secret_hash"])


async def test_update_without_mask_replaces_and_revalidates(registry: ClientRegistry) -> None:
    client, _ = await registry.create(WEB_APP)
    replaced = await registry.update(client.client_id, ClientMetadata(client_name="backend now"))
    # Every field replaced: no redirect URIs any more, so the backend defaults apply.
    assert replaced.redirect_uris == () and replaced.grant_types == ("client_credentials",)
    assert replaced.token_endpoint_auth_method == "client_secret_basic"
    with pytest.raises(InvalidClientMetadata):
        await registry.update(
            client.client_id,
            ClientMetadata(access_token_signing_alg="HS256"),
            ["access_token_signing_alg"],
        )
    with pytest.raises(NotFound):
        await registry.update("missing", ClientMetadata())


async def test_update_to_public_drops_the_secret(registry: ClientRegistry) -> None:
    client, secret = await registry.create(WEB_APP)
    public = await registry.update(
        client.client_id,
        ClientMetadata(token_endpoint_auth_method="none"),
        ["token_endpoint_auth_method"],
    )
    assert public.client_secret_hash is None
    await assert_fails(registry, client.client_id, secret, "client_secret_post")
    assert await registry.authenticate(client.client_id, "", "none")


# --- resource servers (RFC 8707) ------------------------------------------------------------

API = "https://api.example.com/orders"
R0 = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)
ORDERS = ResourceFields(name="Orders API", scopes=("orders:read", "orders:write"))


class Ticking:
    """A clock a second further on each call."""

    def __init__(self) -> None:
        self.now = R0

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def resource_store() -> MemoryResourceStore:
    return MemoryResourceStore()


@pytest.fixture
def resources(
    resource_store: MemoryResourceStore, memory_store: MemoryClientStore
) -> ResourceRegistry:
    """Over the same client store as ``registry``: introspection clients are its."""
    return ResourceRegistry(resource_store, memory_store, clock=Ticking())


async def test_create_a_resource(resources: ResourceRegistry, registry: ClientRegistry) -> None:
    introspector, _ = await registry.create(BACKEND, client_id="orders-rs")
    created = await resources.create(
        API,
        ResourceFields(
            name="  Orders API  ",
            scopes=("orders:write", "orders:read", "orders:write"),
            access_token_ttl_seconds=600,
            introspection_client_id=introspector.client_id,
        ),
    )
    assert created.identifier == API
    assert created.name == "Orders API"  # surrounding spaces go
    assert created.scopes == ("orders:write", "orders:read")  # repeats go, order stays
    assert (created.access_token_ttl_seconds, created.introspection_client_id) == (600, "orders-rs")
    assert created.created_at == created.updated_at == R0 + timedelta(seconds=1)
    assert created.revision == 1
    assert await resources.get(API) == created
    # Defaults: no name, the server's TTL, no introspection client.
    plain = await resources.create("https://api.example.com", ResourceFields(scopes=("x",)))
    assert (plain.name, plain.access_token_ttl_seconds, plain.introspection_client_id) == (
        "",
        0,
        "",
    )


@pytest.mark.parametrize(
    "identifier",
    [
        API,
        "https://api.example.com",
        "https://api.example.com/",
        "http://localhost:8080/api",
        "https://[::1]:8443/api",
        "https://api.example.com/orders?version=2",
        "https://api.example.com/a%20b",
        "custom+rs.v1://backend.internal/x",
        # Kept as given: an aud is compared as a string, never normalised.
        "HTTPS://API.Example.com/Orders",
        "https://api.example.com/" + "a" * (512 - len("https://api.example.com/")),
    ],
)
async def test_accepted_identifiers_are_kept_exactly(
    resources: ResourceRegistry, identifier: str
) -> None:
    created = await resources.create(identifier, ORDERS)
    assert created.identifier == identifier
    assert (await resources.get(identifier)).identifier == identifier


@pytest.mark.parametrize(
    ("identifier", "description"),
    [
        ("", "Missing 'identifier'"),
        ("https://api.example.com/" + "a" * 489, "Invalid 'identifier': at most 512 characters"),
        ("https://api.example.com/orders#section", "Invalid 'identifier': it must not include a"),
        ("https://api.example.com/orders#", "Invalid 'identifier': it must not include a"),
        ("https://api.example.com/a b", "Invalid 'identifier': whitespace, control"),
        ("https://api.example.com/orders\n", "Invalid 'identifier': whitespace, control"),
        ("https://api.example.com/\x00", "Invalid 'identifier': whitespace, control"),
        ("https://api.example.com/\u00a0", "Invalid 'identifier': whitespace, control"),
        ("https://api.example.com/caf\u00e9", "Invalid 'identifier': whitespace, control"),
        (" https://api.example.com", "Invalid 'identifier': whitespace, control"),
        ("api.example.com/orders", "Invalid 'identifier': an absolute URI"),
        ("/orders", "Invalid 'identifier': an absolute URI"),
        ("urn:example:orders", "Invalid 'identifier': an absolute URI"),
        ("mailto:ops@example.com", "Invalid 'identifier': an absolute URI"),
        ("https:///orders", "Invalid 'identifier': an absolute URI"),
        ("https:/orders", "Invalid 'identifier': an absolute URI"),
        ("https://:443/orders", "Invalid 'identifier': an absolute URI"),
        ("https://user@/orders", "Invalid 'identifier': an absolute URI"),
        ("https://[::1/orders", "Invalid 'identifier': an absolute URI"),
        ("https://api.example.com:99999/", "Invalid 'identifier': an absolute URI"),
        ("https://api.example.com:port/", "Invalid 'identifier': an absolute URI"),
        ("1https://api.example.com/", "Invalid 'identifier': an absolute URI"),
        ("https://api.example.com/<orders>", "Invalid 'identifier': an absolute URI"),
        ("https://api.example.com/%zz", "Invalid 'identifier': an absolute URI"),
        ("https://api.example.com/50%", "Invalid 'identifier': an absolute URI"),
    ],
)
async def test_refused_identifiers(
    resources: ResourceRegistry,
    resource_store: MemoryResourceStore,
    identifier: str,
    description: str,
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        await resources.create(identifier, ORDERS)
    assert caught.value.description.startswith(description), caught.value.description
    assert resource_store.resources == {}


@pytest.mark.parametrize(
    ("fields", "description"),
    [
        (ResourceFields(name="x" * 201, scopes=("a",)), "Invalid 'name': at most 200"),
        (ResourceFields(name="a\nb", scopes=("a",)), "Invalid 'name'"),
        (ResourceFields(name="a\x7fb", scopes=("a",)), "Invalid 'name'"),
        (ResourceFields(), "'scopes' must name at least one scope"),
        (
            ResourceFields(scopes=tuple(f"s{i}" for i in range(51))),
            "Too many 'scopes' (at most 50)",
        ),
        (ResourceFields(scopes=("a b",)), "Invalid scope token 'a b' in 'scopes'"),
        (ResourceFields(scopes=("",)), "Invalid scope token '' in 'scopes'"),
        (ResourceFields(scopes=("ok", 'a"b')), "Invalid scope token 'a\"b' in 'scopes'"),
        (ResourceFields(scopes=("a\\b",)), "Invalid scope token"),
        (ResourceFields(scopes=("orders\n",)), "Invalid scope token"),
        (ResourceFields(scopes=("caf\u00e9",)), "Invalid scope token"),
        (ResourceFields(scopes=("a",), access_token_ttl_seconds=1), "'access_token_ttl_seconds'"),
        (ResourceFields(scopes=("a",), access_token_ttl_seconds=59), "'access_token_ttl_seconds'"),
        (
            ResourceFields(scopes=("a",), access_token_ttl_seconds=86_401),
            "'access_token_ttl_seconds' must be 0 (the server default) or from 60 to 86400",
        ),
        (ResourceFields(scopes=("a",), access_token_ttl_seconds=-1), "'access_token_ttl_seconds'"),
        (
            ResourceFields(scopes=("a",), introspection_client_id="nobody"),
            "Unknown client 'nobody' in 'introspection_client_id'",
        ),
        (
            ResourceFields(scopes=("a",), introspection_client_id="x" * 129),
            "Unknown client",
        ),
    ],
)
async def test_refused_fields(
    resources: ResourceRegistry,
    resource_store: MemoryResourceStore,
    fields: ResourceFields,
    description: str,
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        await resources.create(API, fields)
    assert caught.value.description.startswith(description), caught.value.description
    assert resource_store.resources == {}


@pytest.mark.parametrize(
    "fields",
    [
        ResourceFields(name="x" * 200, scopes=("a",)),
        ResourceFields(name="Ünïcode ✓", scopes=("a",)),
        ResourceFields(scopes=tuple(f"s{i}" for i in range(50))),
        # 60 given, 50 once repeats are dropped.
        ResourceFields(scopes=tuple(f"s{i % 50}" for i in range(60))),
        ResourceFields(scopes=("openid", "urn:example:scope", "a!#[]~")),
        ResourceFields(scopes=("a",), access_token_ttl_seconds=60),
        ResourceFields(scopes=("a",), access_token_ttl_seconds=86_400),
    ],
)
async def test_accepted_fields(resources: ResourceRegistry, fields: ResourceFields) -> None:
    created = await resources.create(API, fields)
    assert created.fields() == dataclasses.replace(
        fields, scopes=tuple(dict.fromkeys(fields.scopes))
    )


async def test_a_taken_identifier_is_a_conflict(resources: ResourceRegistry) -> None:
    first = await resources.create(API, ORDERS)
    with pytest.raises(Conflict, match="already exists"):
        await resources.create(API, ResourceFields(scopes=("other",)))
    assert await resources.get(API) == first


async def test_get_and_delete_a_resource(
    resources: ResourceRegistry, resource_store: MemoryResourceStore
) -> None:
    await resources.create(API, ORDERS)
    await resources.delete(API)
    assert resource_store.resources == {}
    with pytest.raises(NotFound) as missing:
        await resources.get(API)
    assert missing.value.description == "Resource 'https://api.example.com/orders' not found"
    with pytest.raises(NotFound):
        await resources.delete(API)
    with pytest.raises(InvalidRequest, match="Missing 'identifier'"):
        await resources.get("")
    with pytest.raises(InvalidRequest, match="Missing 'identifier'"):
        await resources.delete("")
    # What no identifier can be is not found, without asking the database.
    for impossible in (API + "\x00", "https://a.example/" + "a" * 600):
        with pytest.raises(NotFound):
            await resources.get(impossible)
        with pytest.raises(NotFound):
            await resources.delete(impossible)


async def test_list_resources_pages_by_identifier(resources: ResourceRegistry) -> None:
    identifiers = [f"https://api.example.com/svc-{index:02d}" for index in (4, 0, 6, 2, 1, 5, 3)]
    for identifier in identifiers:
        await resources.create(identifier, ORDERS)
    seen: list[str] = []
    token = ""
    while True:
        page = await resources.list(page_size_requested=3, page_token=token)
        assert page.total_size == 7 and len(page.resources) <= 3
        seen += [resource.identifier for resource in page.resources]
        token = page.next_page_token
        if not token:
            break
    assert seen == sorted(identifiers)
    everything = await resources.list()
    assert len(everything.resources) == 7 and everything.next_page_token == ""
    with pytest.raises(InvalidRequest, match="page_token"):
        await resources.list(page_token="!!not base64!!")
    with pytest.raises(InvalidRequest, match="page_size"):
        await resources.list(page_size_requested=-1)


async def test_update_a_resource_with_a_mask(
    resources: ResourceRegistry, registry: ClientRegistry
) -> None:
    created = await resources.create(API, ORDERS)
    await registry.create(BACKEND, client_id="introspector")
    changes = ResourceFields(
        name="ignored",
        scopes=("orders:admin", "orders:read"),
        access_token_ttl_seconds=3600,
        introspection_client_id="introspector",
    )
    updated = await resources.update(
        API, changes, ["scopes", "access_token_ttl_seconds", "introspection_client_id"]
    )
    assert updated.name == "Orders API"
    assert updated.scopes == ("orders:admin", "orders:read")
    assert (updated.access_token_ttl_seconds, updated.introspection_client_id) == (
        3600,
        "introspector",
    )
    assert updated.created_at == created.created_at and updated.updated_at > created.updated_at
    assert updated.revision == created.revision + 1
    assert await resources.get(API) == updated
    # "" takes the introspection client away again.
    cleared = await resources.update(API, ResourceFields(), ["introspection_client_id"])
    assert cleared.introspection_client_id == "" and cleared.scopes == updated.scopes


async def test_update_without_a_mask_replaces_every_field(resources: ResourceRegistry) -> None:
    await resources.create(
        API, ResourceFields(name="Orders", scopes=("a",), access_token_ttl_seconds=120)
    )
    replaced = await resources.update(API, ResourceFields(scopes=("b",)))
    assert replaced.fields() == ResourceFields(scopes=("b",))
    assert replaced.identifier == API


@pytest.mark.parametrize(
    ("identifier", "fields", "mask", "error", "description"),
    [
        ("https://nowhere.example", ORDERS, [], NotFound, "Resource 'https://nowhere.example'"),
        (API, ORDERS, ["identifier"], InvalidRequest, "Unknown field 'identifier' in"),
        (API, ORDERS, ["name", "colour"], InvalidRequest, "Unknown field 'colour' in"),
        (API, ResourceFields(), ["scopes"], InvalidRequest, "'scopes' must name at least"),
        (API, ResourceFields(), [], InvalidRequest, "'scopes' must name at least"),
        (
            API,
            ResourceFields(access_token_ttl_seconds=30),
            ["access_token_ttl_seconds"],
            InvalidRequest,
            "'access_token_ttl_seconds'",
        ),
        (
            API,
            ResourceFields(introspection_client_id="ghost"),
            ["introspection_client_id"],
            InvalidRequest,
            "Unknown client 'ghost' in 'introspection_client_id'",
        ),
        (API, ResourceFields(name="\x00"), ["name"], InvalidRequest, "Invalid 'name'"),
        ("", ORDERS, [], InvalidRequest, "Missing 'identifier'"),
    ],
)
async def test_refused_updates_change_nothing(
    resources: ResourceRegistry,
    identifier: str,
    fields: ResourceFields,
    mask: list[str],
    error: type[Exception],
    description: str,
) -> None:
    created = await resources.create(API, ORDERS)
    with pytest.raises(error) as caught:
        await resources.update(identifier, fields, mask)
    assert str(getattr(caught.value, "description", "")).startswith(description)
    assert await resources.get(API) == created


async def test_a_lost_update_race_is_a_conflict(
    resources: ResourceRegistry, resource_store: MemoryResourceStore
) -> None:
    created = await resources.create(API, ORDERS)
    # Another replica wrote between this read and this write.
    racing = dataclasses.replace(created, name="theirs", revision=2)
    original_get = resource_store.get

    async def stale_get(identifier: str) -> Any:
        found = await original_get(identifier)
        resource_store.resources[identifier] = racing
        return found

    resource_store.get = stale_get  # type: ignore[method-assign]
    with pytest.raises(Conflict):
        await resources.update(API, ResourceFields(name="mine"), ["name"])
    assert resource_store.resources[API] == racing
