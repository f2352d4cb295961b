"""A client's back-channel logout settings (OpenID Connect Back-Channel Logout 1.0
section 2.2) and token exchange audiences (RFC 8693): what the registry accepts and
refuses with invalid_client_metadata, what only operators set, and the round trip
through the store on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from common.errors import InvalidClientMetadata
from services.clients.app import build_registry
from services.clients.domain import ClientRegistration, ClientRegistry, RegistrationPolicy
from services.clients.domain.metadata import validate_metadata
from services.clients.domain.model import ClientMetadata
from services.clients.settings import ClientsSettings
from services.clients.store.sql import SqlClientStore
from services.clients.tests.fakes import MemoryClientStore, MemoryInitialAccessTokenStore

APP = "https://app.example.com/callback"
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"


def validate(allow_http: bool = False, **fields: Any) -> ClientMetadata:
    return validate_metadata(
        ClientMetadata(redirect_uris=(APP,), **fields),
        client_id="cid",
        backchannel_logout_uri_allow_http=allow_http,
    )


def refused(**fields: Any) -> str:
    with pytest.raises(InvalidClientMetadata) as caught:
        validate(**fields)
    return caught.value.description


def test_defaults() -> None:
    metadata = validate()
    assert metadata.backchannel_logout_uri == ""
    assert metadata.backchannel_logout_session_required is False
    assert metadata.token_exchange_audiences == ()


def test_a_backchannel_logout_uri_is_https_with_a_query_but_no_fragment() -> None:
    uri = "https://rp.example.com/logout/backchannel?tenant=7"
    metadata = validate(backchannel_logout_uri=uri, backchannel_logout_session_required=True)
    assert metadata.backchannel_logout_uri == uri
    assert metadata.backchannel_logout_session_required is True
    for bad in (
        "http://rp.example.com/bcl",  # plain http, without the setting
        "https://rp.example.com/bcl#frag",
        "https://rp.example.com/bcl#",
        "/relative/bcl",
        "javascript:alert(1)",
        "https:///no-host",
        "https://rp.example.com/a b",
        "https://rp.example.com/" + "a" * 3000,
    ):
        assert "'backchannel_logout_uri' must be an absolute https URL" in refused(
            backchannel_logout_uri=bad
        ), bad
    # http only where the setting allows it (development, the tests' local endpoint).
    assert validate(True, backchannel_logout_uri="http://127.0.0.1:9/bcl").backchannel_logout_uri


def test_session_required_needs_a_uri() -> None:
    assert "needs a 'backchannel_logout_uri'" in refused(backchannel_logout_session_required=True)


def test_token_exchange_audiences_are_checked_and_deduplicated() -> None:
    metadata = validate(
        grant_types=(EXCHANGE,),
        token_endpoint_auth_method="client_secret_basic",
        token_exchange_audiences=("inventory-api", "https://api.example/", "inventory-api"),
    )
    assert metadata.token_exchange_audiences == ("inventory-api", "https://api.example/")
    for bad in ("", "two words", "x" * 256, "tab\there"):
        assert "in 'token_exchange_audiences'" in refused(token_exchange_audiences=(bad,))
    assert "Too many" in refused(token_exchange_audiences=tuple(f"a{n}" for n in range(21)))


def test_the_exchange_grant_is_for_confidential_clients() -> None:
    assert "requires a confidential client" in refused(
        grant_types=(EXCHANGE,), token_endpoint_auth_method="none"
    )


async def test_round_trip_in_sql(sql_store: SqlClientStore) -> None:
    registry = ClientRegistry(sql_store)
    client, _secret = await registry.create(
        ClientMetadata(
            grant_types=("client_credentials", EXCHANGE),
            backchannel_logout_uri="https://rp.example.com/bcl",
            backchannel_logout_session_required=True,
            token_exchange_audiences=("inventory-api",),
        )
    )
    loaded = await sql_store.get(client.client_id)
    assert loaded == client
    assert loaded.backchannel_logout_uri == "https://rp.example.com/bcl"
    assert loaded.token_exchange_audiences == ("inventory-api",)
    updated = await registry.update(
        client.client_id,
        ClientMetadata(token_exchange_audiences=()),
        ["token_exchange_audiences"],
    )
    assert updated.token_exchange_audiences == ()
    assert updated.backchannel_logout_session_required is True


def registration(registry: ClientRegistry) -> ClientRegistration:
    return ClientRegistration(
        registry,
        MemoryInitialAccessTokenStore(),
        RegistrationPolicy.of(
            grant_types=["authorization_code", "refresh_token", EXCHANGE],
            scopes=["openid"],
            auth_methods=["client_secret_basic", "none"],
        ),
        mode="open",
    )


async def test_registration_takes_the_logout_uri_but_never_exchange_audiences() -> None:
    registry = ClientRegistry(MemoryClientStore())
    registered = await registration(registry).register(
        ClientMetadata(
            redirect_uris=(APP,),
            backchannel_logout_uri="https://rp.example.com/bcl",
            backchannel_logout_session_required=True,
        )
    )
    assert registered.client.backchannel_logout_uri == "https://rp.example.com/bcl"
    assert registered.client.backchannel_logout_session_required is True
    with pytest.raises(InvalidClientMetadata, match="set by operators only"):
        await registration(registry).register(
            ClientMetadata(redirect_uris=(APP,), token_exchange_audiences=("anything",))
        )


async def test_the_http_setting_reaches_the_registry() -> None:
    uri = "http://localhost:9000/bcl"
    strict = build_registry(ClientsSettings(), engine=None, kv=None)  # type: ignore[arg-type]
    with pytest.raises(InvalidClientMetadata, match="absolute https URL"):
        strict.validate(ClientMetadata(backchannel_logout_uri=uri), client_id="c")
    relaxed = build_registry(
        ClientsSettings(backchannel_logout_uri_allow_http=True),
        engine=None,  # type: ignore[arg-type]
        kv=None,  # type: ignore[arg-type]
    )
    validated = relaxed.validate(ClientMetadata(backchannel_logout_uri=uri), client_id="c")
    assert validated.backchannel_logout_uri == uri
