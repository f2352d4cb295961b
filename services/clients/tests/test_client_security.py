"""The rules of the registry: one redirect URI policy on every path, imported
secrets of at least 32 characters, client_ids that can never be a user's subject,
allowed_cors_origins, the introspection permission and disabled clients."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from oauth2.v1 import clients_pb2

from common.errors import (
    InvalidClient,
    InvalidClientMetadata,
    InvalidRedirectUri,
    InvalidRequest,
    NotFound,
)
from services.clients.domain import ClientMetadata, ClientRegistry
from services.clients.domain.registration import ClientRegistration
from services.clients.domain.registration_policy import RegistrationPolicy
from services.clients.servicer import client_to_proto, metadata_from_proto
from services.clients.store.cache import decode_client, encode_client
from services.clients.store.sql import SqlClientStore
from services.clients.tests.fakes import MemoryClientStore, MemoryInitialAccessTokenStore
from services.clients.tests.test_store_contract import make_client

APP = "https://app.example.com/cb"
POLICY = RegistrationPolicy.of(
    grant_types=["authorization_code", "refresh_token", "client_credentials"],
    scopes=["openid", "profile"],
    auth_methods=["client_secret_basic", "client_secret_post", "none"],
)


@pytest.fixture
def registration(registry: ClientRegistry) -> ClientRegistration:
    return ClientRegistration(registry, MemoryInitialAccessTokenStore(), POLICY, mode="open")


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("javascript:alert(1)", "not allowed"),
        ("JavaScript:alert(1)", "not allowed"),
        ("data:text/html,<script>x</script>", "not allowed"),
        ("chrome://settings", "not allowed"),
        ("view-source:https://app.example.com/cb", "not allowed"),
        ("jar:https://app.example.com/a.jar!/cb", "not allowed"),
        ("https://app.example.com@evil.example/cb", "userinfo"),
        ("http://app.example.com/cb", "loopback"),
        ("https://app.example.com/cb#x", "fragment"),
        ("myapp:/cb", "reverse domain"),
    ],
)
async def test_admin_path_applies_the_registration_redirect_policy(
    registry: ClientRegistry, registration: ClientRegistration, uri: str, message: str
) -> None:
    """The operator's CreateClient/UpdateClient and RFC 7591 registration refuse
    the same URIs with the same error, for redirect and post-logout URIs alike."""
    with pytest.raises(InvalidRedirectUri, match=message):
        await registry.create(ClientMetadata(redirect_uris=(uri,)))
    with pytest.raises(InvalidRedirectUri, match=message):
        await registration.register(ClientMetadata(redirect_uris=(uri,)))
    client, _ = await registry.create(ClientMetadata(redirect_uris=(APP,)))
    with pytest.raises(InvalidRedirectUri, match="'post_logout_redirect_uris'"):
        await registry.update(
            client.client_id,
            ClientMetadata(post_logout_redirect_uris=(uri,)),
            ["post_logout_redirect_uris"],
        )


@pytest.mark.parametrize(
    "uri", ["https://app.example.com/cb", "http://127.0.0.1:4000/cb", "com.example.app:/cb"]
)
async def test_admin_path_accepts_what_registration_accepts(
    registry: ClientRegistry, uri: str
) -> None:
    client, _ = await registry.create(ClientMetadata(redirect_uris=(uri,)))
    assert client.redirect_uris == (uri,)


@pytest.mark.parametrize("secret", ["x" * 10, "s" * 31, ""])
async def test_short_imported_secrets_are_refused(registry: ClientRegistry, secret: str) -> None:
    if not secret:
        # No secret is no import: one is generated.
        _, generated = await registry.create(ClientMetadata(client_name="b"))
        assert len(generated) >= 43
        return
    with pytest.raises(InvalidRequest, match="'client_secret': 32 to 512"):
        await registry.create(ClientMetadata(client_name="b"), client_secret_plain=secret)


async def test_imported_secret_of_32_characters_authenticates(registry: ClientRegistry) -> None:
    secret = "k" * 32
    client, shown = await registry.create(
        ClientMetadata(client_name="b"), client_secret_plain=secret
    )
    assert shown == ""
    assert await registry.authenticate(client.client_id, secret, "client_secret_basic") == client


@pytest.mark.parametrize(
    "client_id",
    [
        str(uuid.uuid4()),
        str(uuid.uuid4()).upper(),
        uuid.uuid4().hex,
        "{" + str(uuid.uuid4()) + "}",
        "urn:uuid:" + str(uuid.uuid4()),
    ],
)
async def test_client_id_can_never_be_a_user_subject(
    registry: ClientRegistry, client_id: str
) -> None:
    """User subjects are UUIDs; a client_credentials token's sub is the client_id."""
    with pytest.raises(InvalidRequest, match="reserved for user subjects"):
        await registry.create(ClientMetadata(client_name="b"), client_id=client_id)


async def test_generated_client_ids_are_never_uuids(registry: ClientRegistry) -> None:
    for _ in range(50):
        client, _ = await registry.create(ClientMetadata(client_name="b"))
        with pytest.raises(ValueError):
            uuid.UUID(client.client_id)


@pytest.mark.parametrize(
    ("origin", "stored"),
    [
        ("https://spa.example.com", "https://spa.example.com"),
        ("HTTPS://SPA.Example.com:443", "https://spa.example.com"),
        ("https://spa.example.com:8443", "https://spa.example.com:8443"),
        ("http://localhost:3000", "http://localhost:3000"),
        ("http://127.0.0.1:5173", "http://127.0.0.1:5173"),
        ("http://[::1]:8080", "http://[::1]:8080"),
    ],
)
async def test_cors_origins_are_stored_as_origins(
    registry: ClientRegistry, origin: str, stored: str
) -> None:
    client, _ = await registry.create(ClientMetadata(allowed_cors_origins=(origin, stored)))
    assert client.allowed_cors_origins == (stored,)


@pytest.mark.parametrize(
    "origin",
    [
        "https://spa.example.com/",
        "https://spa.example.com/app",
        "https://*.example.com",
        "*",
        "https://spa.example.com?x=1",
        "https://spa.example.com#x",
        "http://spa.example.com",
        "ftp://spa.example.com",
        "null",
        "spa.example.com",
        "https://user@spa.example.com",
        "https://spa.example.com:99999",
        "",
    ],
)
async def test_bad_cors_origins_are_refused(
    registry: ClientRegistry, registration: ClientRegistration, origin: str
) -> None:
    with pytest.raises(InvalidClientMetadata, match="'allowed_cors_origins'"):
        await registry.create(ClientMetadata(allowed_cors_origins=(origin,)))
    with pytest.raises(InvalidClientMetadata, match="'allowed_cors_origins'"):
        await registration.register(
            ClientMetadata(redirect_uris=(APP,), allowed_cors_origins=(origin,))
        )


async def test_registrants_may_set_cors_origins_but_not_operator_fields(
    registration: ClientRegistration,
) -> None:
    registered = await registration.register(
        ClientMetadata(redirect_uris=(APP,), allowed_cors_origins=("https://spa.example.com",))
    )
    assert registered.client.allowed_cors_origins == ("https://spa.example.com",)
    assert registered.client.introspection is False
    assert registered.client.enabled is True
    with pytest.raises(InvalidClientMetadata, match="'introspection'"):
        await registration.register(ClientMetadata(redirect_uris=(APP,), introspection=True))
    with pytest.raises(InvalidClientMetadata, match="'enabled'"):
        await registration.register(ClientMetadata(redirect_uris=(APP,), enabled=True))


async def test_rfc7592_update_keeps_what_operators_set(
    registry: ClientRegistry, registration: ClientRegistration
) -> None:
    registered = await registration.register(ClientMetadata(redirect_uris=(APP,)))
    client_id = registered.client.client_id
    await registry.update(
        client_id, ClientMetadata(introspection=True, enabled=False), ["introspection", "enabled"]
    )
    updated = await registration.update(
        client_id, registered.registration_access_token, ClientMetadata(redirect_uris=(APP,))
    )
    assert updated.client.introspection is True
    assert updated.client.enabled is False


async def test_introspection_permission_round_trips(registry: ClientRegistry) -> None:
    client, _ = await registry.create(ClientMetadata(client_name="rs", introspection=True))
    assert client.introspection is True
    plain, _ = await registry.create(ClientMetadata(client_name="other"))
    assert plain.introspection is False
    updated = await registry.update(
        client.client_id, ClientMetadata(introspection=False), ["introspection"]
    )
    assert updated.introspection is False
    assert updated.scope == client.scope


async def test_introspection_is_for_confidential_clients(registry: ClientRegistry) -> None:
    with pytest.raises(InvalidClientMetadata, match="'introspection' requires a confidential"):
        await registry.create(
            ClientMetadata(
                redirect_uris=(APP,), token_endpoint_auth_method="none", introspection=True
            )
        )


async def test_disabled_client_cannot_authenticate_or_redirect(registry: ClientRegistry) -> None:
    client, secret = await registry.create(ClientMetadata(redirect_uris=(APP,)))
    assert client.enabled is True
    await registry.authenticate(client.client_id, secret, "client_secret_basic")
    disabled = await registry.update(client.client_id, ClientMetadata(enabled=False), ["enabled"])
    assert disabled.enabled is False
    with pytest.raises(InvalidClient, match="Client authentication failed") as caught:
        await registry.authenticate(client.client_id, secret, "client_secret_basic")
    assert "disabled" in (caught.value.detail or "")
    with pytest.raises(NotFound):
        await registry.validate_redirect_uri(client.client_id, APP)
    # Still visible to operators, and enabled again it works.
    assert (await registry.get(client.client_id)).enabled is False
    await registry.update(client.client_id, ClientMetadata(enabled=True), ["enabled"])
    await registry.authenticate(client.client_id, secret, "client_secret_basic")


async def test_disabled_public_client_cannot_authenticate(registry: ClientRegistry) -> None:
    client, _ = await registry.create(
        ClientMetadata(redirect_uris=(APP,), token_endpoint_auth_method="none", enabled=False)
    )
    with pytest.raises(InvalidClient):
        await registry.authenticate(client.client_id, "", "none")


def test_new_fields_cross_the_contract() -> None:
    client = make_client(
        "c1",
        introspection=True,
        allowed_cors_origins=("https://spa.example.com",),
        enabled=False,
    )
    message = client_to_proto(client)
    assert message.introspection is True
    assert list(message.allowed_cors_origins) == ["https://spa.example.com"]
    assert message.enabled is False
    metadata = metadata_from_proto(
        clients_pb2.ClientMetadata(introspection=True, allowed_cors_origins=["https://a.example"])
    )
    assert metadata.enabled is None  # unset: the default (enabled) applies
    assert metadata.introspection is True
    assert metadata.allowed_cors_origins == ("https://a.example",)
    assert decode_client(encode_client(client)) == client


async def test_new_fields_round_trip_in_sql(sql_store: SqlClientStore) -> None:
    client = make_client(
        "sec1",
        introspection=True,
        allowed_cors_origins=("https://spa.example.com", "http://localhost:3000"),
        enabled=False,
        updated_at=make_client("x").updated_at + timedelta(seconds=1),
    )
    await sql_store.create(client)
    assert await sql_store.get("sec1") == client
    default = make_client("sec2")
    await sql_store.create(default)
    loaded = await sql_store.get("sec2")
    assert loaded is not None
    assert (loaded.introspection, loaded.allowed_cors_origins, loaded.enabled) == (
        False,
        (),
        True,
    )


async def test_memory_store_is_the_same(memory_store: MemoryClientStore) -> None:
    registry = ClientRegistry(memory_store)
    client, _ = await registry.create(ClientMetadata(introspection=True))
    assert (await registry.get(client.client_id)).introspection is True


def test_generated_client_ids_never_look_like_an_option() -> None:
    """``oauth2ctl client disable -Su4T…`` was read as an option: a generated id
    starts with a letter or digit (2 in 64 of token_urlsafe's do not)."""
    import re

    from services.clients.domain.registry import new_client_id

    ids = [new_client_id() for _ in range(3000)]
    assert all(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{21}", client_id) for client_id in ids)
    assert len(set(ids)) == len(ids)
