"""ClientRegistry rules over an in-memory store: no gRPC, no SQL."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from common.errors import (
    Conflict,
    InvalidClient,
    InvalidClientMetadata,
    InvalidRequest,
    NotFound,
)
from common.timeutil import utcnow
from services.clients.domain import ClientMetadata, ClientRegistry
from services.clients.domain.registry import AUTHENTICATION_FAILED
from services.clients.tests.fakes import MemoryClientStore

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
