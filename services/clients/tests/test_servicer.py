"""ClientsService through real gRPC: errors arrive as the right common.errors classes."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import jwt
import pytest
from oauth2.v1 import clients_pb2, clients_pb2_grpc, common_pb2

from common.db import create_engine
from common.errors import (
    Conflict,
    InvalidClient,
    InvalidClientMetadata,
    InvalidRedirectUri,
    InvalidRequest,
    InvalidToken,
    NotFound,
)
from common.grpc_client import ServiceClient
from common.grpc_server import ErrorInterceptor
from common.kv import MemoryKeyValue
from common.migrations import upgrade
from common.services import ClientsClient
from services.clients.app import (
    MIGRATIONS_DIR,
    SERVICE_NAME,
    build_registration,
    build_registry,
    build_resources,
    servicer_adder,
)
from services.clients.domain.jwks import canonical_json
from services.clients.domain.model import ClientMetadata
from services.clients.servicer import ClientsServicer, metadata_from_proto
from services.clients.settings import ClientsSettings
from services.clients.tests.keys import ec_jwk, key_set, rsa_jwk, rsa_private_jwk

Client = ClientsClient
APP = "https://app.example.com/callback"


@pytest.fixture(scope="module")
async def clients(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Client]:
    """The servicer on the app's own wiring (SQLite + in-process cache), on a free port."""
    data_dir: Path = tmp_path_factory.mktemp("clients")
    settings = ClientsSettings(data_dir=data_dir, database_url=None)
    await asyncio.to_thread(upgrade, settings, MIGRATIONS_DIR)
    engine = create_engine(settings)
    kv = MemoryKeyValue()
    server = grpc.aio.server(interceptors=[ErrorInterceptor()])
    registry = build_registry(settings, engine, kv, os.urandom(32))
    servicer = ClientsServicer(
        registry,
        build_registration(settings, engine, registry),
        build_resources(settings, engine, kv),
    )
    servicer_adder(servicer)(server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    client: Client = ServiceClient(
        clients_pb2_grpc.ClientsServiceStub, f"127.0.0.1:{port}", SERVICE_NAME, deadline=5
    )
    yield client
    await client.close()
    await server.stop(None)
    await engine.dispose()


async def create(clients: Client, **metadata: Any) -> clients_pb2.CreateClientResponse:
    request = clients_pb2.CreateClientRequest(metadata=clients_pb2.ClientMetadata(**metadata))
    return await clients.call.CreateClient(request)


def credentials(client_id: str, secret: str, method: str) -> clients_pb2.AuthenticateClientRequest:
    return clients_pb2.AuthenticateClientRequest(
        credentials=common_pb2.ClientCredentials(
            client_id=client_id, client_secret=secret, auth_method=method
        )
    )


async def test_client_secret_jwt_through_grpc(clients: Client) -> None:
    """RFC 7523 section 2.2: the secret is shown once and keys the client's assertions;
    the contract's Client carries neither it nor its sealed copy."""
    created = await create(
        clients, token_endpoint_auth_method="client_secret_jwt", grant_types=["client_credentials"]
    )
    cid, secret = created.client.client_id, created.client_secret
    assert len(secret) >= 86 and created.client.token_endpoint_auth_method == "client_secret_jwt"
    assert secret.encode() not in created.client.SerializeToString()
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": cid,
        "sub": cid,
        "aud": ClientsSettings().issuer + "/oauth/token",
    }
    claims |= {"iat": now, "exp": now + 60, "jti": str(uuid.uuid4())}
    assertion = jwt.encode(claims, secret.encode(), algorithm="HS512")
    request = clients_pb2.AuthenticateClientRequest(
        credentials=common_pb2.ClientCredentials(
            client_id=cid, auth_method="client_secret_jwt", client_assertion=assertion
        )
    )
    assert (await clients.call.AuthenticateClient(request)).client_id == cid
    with pytest.raises(InvalidClient, match="used before"):
        await clients.call.AuthenticateClient(request)
    fetched = await clients.call.GetClient(clients_pb2.GetClientRequest(client_id=cid))
    assert secret.encode() not in fetched.SerializeToString()
    rotated = await clients.call.RotateClientSecret(
        clients_pb2.RotateClientSecretRequest(client_id=cid)
    )
    assert rotated.client_secret and rotated.client_secret != secret


async def test_create_and_authenticate(clients: Client) -> None:
    created = await create(clients, client_name="backend", scope="read write")
    assert created.client_secret and len(created.client_secret) >= 43
    assert created.client.grant_types == ["client_credentials"]
    assert created.client.created_at.seconds > 0 and created.client.revision == 1
    assert not created.client.HasField("client_secret_expires_at")
    cid = created.client.client_id
    authenticated = await clients.call.AuthenticateClient(
        credentials(cid, created.client_secret, "client_secret_basic")
    )
    assert authenticated.client_id == cid and authenticated.scope == "read write"


@pytest.mark.parametrize(
    ("client_id", "secret", "method"),
    [
        ("unknown", "whatever", "client_secret_basic"),
        (None, "wrong", "client_secret_basic"),
        (None, None, "client_secret_post"),
        (None, None, "none"),
    ],
)
async def test_authentication_failures(
    clients: Client, client_id: str | None, secret: str | None, method: str
) -> None:
    created = await create(clients)
    with pytest.raises(InvalidClient) as caught:
        await clients.call.AuthenticateClient(
            credentials(
                client_id or created.client.client_id, secret or created.client_secret, method
            )
        )
    assert caught.value.description == "Client authentication failed"


async def test_public_client(clients: Client) -> None:
    created = await create(
        clients, redirect_uris=[APP], token_endpoint_auth_method="none", require_pkce=False
    )
    assert created.client_secret == ""
    assert created.client.require_pkce is False
    assert created.client.response_types == ["code"]
    await clients.call.AuthenticateClient(credentials(created.client.client_id, "", "none"))
    with pytest.raises(InvalidRequest):
        await clients.call.RotateClientSecret(
            clients_pb2.RotateClientSecretRequest(client_id=created.client.client_id)
        )


async def test_metadata_errors(clients: Client) -> None:
    with pytest.raises(InvalidClientMetadata, match="grant_types"):
        await create(clients, grant_types=["password"])
    with pytest.raises(InvalidRedirectUri, match="fragment"):
        await create(clients, redirect_uris=["https://a.example/cb#x"])
    with pytest.raises(Conflict):
        for _ in range(2):
            await clients.call.CreateClient(clients_pb2.CreateClientRequest(client_id="twice"))


async def test_get_update_rotate_delete(clients: Client) -> None:
    created = await create(clients, client_name="web", redirect_uris=[APP])
    cid = created.client.client_id
    fetched = await clients.call.GetClient(clients_pb2.GetClientRequest(client_id=cid))
    assert fetched == created.client
    updated = await clients.call.UpdateClient(
        clients_pb2.UpdateClientRequest(
            client_id=cid,
            metadata=clients_pb2.ClientMetadata(scope="openid profile"),
            update_mask=["scope"],
        )
    )
    assert updated.scope == "openid profile" and updated.revision == 2
    assert list(updated.redirect_uris) == [APP]
    rotated = await clients.call.RotateClientSecret(
        clients_pb2.RotateClientSecretRequest(client_id=cid)
    )
    assert rotated.client_secret not in ("", created.client_secret)
    await clients.call.AuthenticateClient(
        credentials(cid, rotated.client_secret, "client_secret_basic")
    )
    await clients.call.DeleteClient(clients_pb2.DeleteClientRequest(client_id=cid))
    with pytest.raises(NotFound):
        await clients.call.GetClient(clients_pb2.GetClientRequest(client_id=cid))
    with pytest.raises(NotFound):
        await clients.call.DeleteClient(clients_pb2.DeleteClientRequest(client_id=cid))


async def test_validate_redirect_uri(clients: Client) -> None:
    created = await create(clients, redirect_uris=[APP])
    cid = created.client.client_id
    ok = await clients.call.ValidateRedirectUri(
        clients_pb2.ValidateRedirectUriRequest(client_id=cid, redirect_uri=APP, kind="redirect")
    )
    assert ok.valid and ok.client.client_id == cid
    near = await clients.call.ValidateRedirectUri(
        clients_pb2.ValidateRedirectUriRequest(client_id=cid, redirect_uri=APP + "/")
    )
    assert not near.valid
    with pytest.raises(NotFound):
        await clients.call.ValidateRedirectUri(
            clients_pb2.ValidateRedirectUriRequest(client_id="missing", redirect_uri=APP)
        )


async def test_list_clients(clients: Client) -> None:
    for index in range(3):
        await clients.call.CreateClient(
            clients_pb2.CreateClientRequest(
                client_id=f"listed-{index}",
                metadata=clients_pb2.ClientMetadata(client_name="Listed"),
            )
        )
    first = await clients.call.ListClients(
        clients_pb2.ListClientsRequest(page=common_pb2.PageRequest(page_size=2), search="LISTED-")
    )
    assert [c.client_id for c in first.clients] == ["listed-0", "listed-1"]
    assert first.page.total_size == 3 and first.page.next_page_token
    second = await clients.call.ListClients(
        clients_pb2.ListClientsRequest(
            page=common_pb2.PageRequest(page_size=2, page_token=first.page.next_page_token),
            search="listed-",
        )
    )
    assert [c.client_id for c in second.clients] == ["listed-2"]
    assert second.page.next_page_token == ""


async def test_registration_through_grpc(clients: Client) -> None:
    """RFC 7591/7592 over the wire; the embedded default registers openly."""
    registered = await clients.call.RegisterClient(
        clients_pb2.RegisterClientRequest(
            metadata=clients_pb2.ClientMetadata(
                client_name="Self-made", redirect_uris=["com.example.app:/cb"]
            ),
            actor=common_pb2.Actor(remote_addr="192.0.2.1"),
        )
    )
    client = registered.client
    assert client.dynamically_registered and client.client_name == "Self-made"
    assert registered.client_secret and registered.registration_access_token
    assert registered.client_id_issued_at == client.created_at
    access = clients_pb2.RegistrationAccessRequest(
        client_id=client.client_id,
        registration_access_token=registered.registration_access_token,
    )
    read = await clients.call.GetRegistration(access)
    assert read.client == client and read.client_secret == ""
    assert read.registration_access_token == registered.registration_access_token

    updated = await clients.call.UpdateRegistration(
        clients_pb2.UpdateRegistrationRequest(
            client_id=client.client_id,
            registration_access_token=registered.registration_access_token,
            metadata=clients_pb2.ClientMetadata(
                client_name="Renamed", redirect_uris=["com.example.app:/cb"]
            ),
            client_secret=registered.client_secret,
        )
    )
    assert updated.client.client_name == "Renamed" and updated.client.revision == 2

    with pytest.raises(InvalidRedirectUri):
        await clients.call.RegisterClient(
            clients_pb2.RegisterClientRequest(
                metadata=clients_pb2.ClientMetadata(redirect_uris=["myapp:/cb"])
            )
        )
    with pytest.raises(InvalidToken):
        await clients.call.GetRegistration(
            clients_pb2.RegistrationAccessRequest(
                client_id=client.client_id, registration_access_token="wrong"
            )
        )
    await clients.call.DeleteRegistration(access)
    with pytest.raises(NotFound):
        await clients.call.GetClient(clients_pb2.GetClientRequest(client_id=client.client_id))
    with pytest.raises(InvalidToken):
        await clients.call.DeleteRegistration(access)


async def test_create_initial_access_token(clients: Client) -> None:
    created = await clients.call.CreateInitialAccessToken(
        clients_pb2.CreateInitialAccessTokenRequest(expires_in=120, max_uses=2)
    )
    assert len(created.initial_access_token) >= 43 and created.expires_at.seconds > 0
    with pytest.raises(InvalidRequest, match="expires_in"):
        await clients.call.CreateInitialAccessToken(
            clients_pb2.CreateInitialAccessTokenRequest(expires_in=-5)
        )


async def test_keys_and_request_object_settings_cross_the_contract(clients: Client) -> None:
    """jwks is JSON text on the wire, stored canonical; every field reaches the Client
    message and back through UpdateClient's mask (SQLite and the cache on the way)."""
    document = key_set(rsa_jwk(), ec_jwk())
    created = await create(
        clients,
        redirect_uris=[APP],
        jwks=json.dumps(document, indent=2),
        require_signed_request_object=True,
        request_object_signing_alg="PS256",
    )
    client = created.client
    assert client.jwks == canonical_json(document)
    assert (client.jwks_uri, client.require_signed_request_object) == ("", True)
    assert client.request_object_signing_alg == "PS256"
    fetched = await clients.call.GetClient(clients_pb2.GetClientRequest(client_id=client.client_id))
    assert fetched == client
    uri = "https://app.example.com/jwks"
    updated = await clients.call.UpdateClient(
        clients_pb2.UpdateClientRequest(
            client_id=client.client_id,
            metadata=clients_pb2.ClientMetadata(jwks_uri=uri),
            update_mask=["jwks", "jwks_uri", "request_object_signing_alg"],
        )
    )
    assert (updated.jwks, updated.jwks_uri, updated.request_object_signing_alg) == ("", uri, "")
    assert updated.require_signed_request_object is True
    with pytest.raises(InvalidClientMetadata, match="private keys must never be registered"):
        await create(clients, jwks=json.dumps(key_set(rsa_private_jwk())))
    with pytest.raises(InvalidClientMetadata, match="must not both be present"):
        await clients.call.RegisterClient(
            clients_pb2.RegisterClientRequest(
                metadata=clients_pb2.ClientMetadata(
                    redirect_uris=["com.example.app:/cb"],
                    jwks=json.dumps(key_set()),
                    jwks_uri=uri,
                )
            )
        )
    with pytest.raises(InvalidClientMetadata, match="'jwks_uri' must be an absolute https URL"):
        await create(clients, jwks_uri="http://app.example.com/jwks")


async def test_logout_and_exchange_settings_cross_the_contract(clients: Client) -> None:
    """Back-Channel Logout 1.0 section 2.2 and RFC 8693 fields reach the Client message
    and back through UpdateClient's mask; RFC 7591 registration may set the logout
    ones but never the token exchange grant nor its audiences (operators only)."""
    exchange = "urn:ietf:params:oauth:grant-type:token-exchange"
    created = await create(
        clients,
        grant_types=["client_credentials", exchange],
        backchannel_logout_uri="https://svc.example.com/bcl",
        backchannel_logout_session_required=True,
        token_exchange_audiences=["billing", "https://api.example.com", "billing"],
    )
    client = created.client
    assert client.backchannel_logout_uri == "https://svc.example.com/bcl"
    assert client.backchannel_logout_session_required is True
    assert list(client.token_exchange_audiences) == ["billing", "https://api.example.com"]
    fetched = await clients.call.GetClient(clients_pb2.GetClientRequest(client_id=client.client_id))
    assert fetched == client
    updated = await clients.call.UpdateClient(
        clients_pb2.UpdateClientRequest(
            client_id=client.client_id,
            metadata=clients_pb2.ClientMetadata(token_exchange_audiences=["inventory"]),
            update_mask=["token_exchange_audiences"],
        )
    )
    assert list(updated.token_exchange_audiences) == ["inventory"]
    assert updated.backchannel_logout_session_required is True

    registered = await clients.call.RegisterClient(
        clients_pb2.RegisterClientRequest(
            metadata=clients_pb2.ClientMetadata(
                redirect_uris=["com.example.app:/cb"],
                backchannel_logout_uri="https://app.example.com/bcl",
                backchannel_logout_session_required=True,
            )
        )
    )
    assert registered.client.backchannel_logout_uri == "https://app.example.com/bcl"
    assert registered.client.backchannel_logout_session_required is True
    for metadata in (
        clients_pb2.ClientMetadata(grant_types=["client_credentials", exchange]),
        clients_pb2.ClientMetadata(
            grant_types=["client_credentials"], token_exchange_audiences=["billing"]
        ),
    ):
        with pytest.raises(InvalidClientMetadata, match="set by operators only"):
            await clients.call.RegisterClient(clients_pb2.RegisterClientRequest(metadata=metadata))
    with pytest.raises(InvalidClientMetadata, match="needs a 'backchannel_logout_uri'"):
        await create(clients, backchannel_logout_session_required=True)


async def test_dpop_bound_access_tokens_crosses_the_contract(clients: Client) -> None:
    """RFC 9449 section 5.2 client metadata: set at creation, read back, turned off
    and on through UpdateClient's mask (SQLite and the cache on the way), left alone by
    updates of other fields; an RFC 7591 registrant may set it too."""
    created = await create(clients, redirect_uris=[APP], dpop_bound_access_tokens=True)
    client = created.client
    assert client.dpop_bound_access_tokens is True
    get = clients_pb2.GetClientRequest(client_id=client.client_id)
    assert await clients.call.GetClient(get) == client
    renamed = await clients.call.UpdateClient(
        clients_pb2.UpdateClientRequest(
            client_id=client.client_id,
            metadata=clients_pb2.ClientMetadata(client_name="renamed"),
            update_mask=["client_name"],
        )
    )
    assert renamed.dpop_bound_access_tokens is True
    turned_off = await clients.call.UpdateClient(
        clients_pb2.UpdateClientRequest(
            client_id=client.client_id,
            metadata=clients_pb2.ClientMetadata(),
            update_mask=["dpop_bound_access_tokens"],
        )
    )
    assert turned_off.dpop_bound_access_tokens is False
    assert (await clients.call.GetClient(get)).dpop_bound_access_tokens is False
    turned_on = await clients.call.UpdateClient(
        clients_pb2.UpdateClientRequest(
            client_id=client.client_id,
            metadata=clients_pb2.ClientMetadata(dpop_bound_access_tokens=True),
            update_mask=["dpop_bound_access_tokens"],
        )
    )
    assert turned_on.dpop_bound_access_tokens is True
    assert await clients.call.GetClient(get) == turned_on
    assert (await create(clients, redirect_uris=[APP])).client.dpop_bound_access_tokens is False

    registered = await clients.call.RegisterClient(
        clients_pb2.RegisterClientRequest(
            metadata=clients_pb2.ClientMetadata(
                redirect_uris=["com.example.app:/cb"], dpop_bound_access_tokens=True
            )
        )
    )
    assert registered.client.dpop_bound_access_tokens is True


def test_mapping_of_the_new_fields() -> None:
    message = clients_pb2.ClientMetadata(
        jwks='{"keys":[]}',
        jwks_uri="https://a.example/jwks",
        require_signed_request_object=True,
        request_object_signing_alg="ES256",
        dpop_bound_access_tokens=True,
    )
    metadata = metadata_from_proto(message)
    assert (metadata.jwks, metadata.jwks_uri) == ('{"keys":[]}', "https://a.example/jwks")
    assert metadata.require_signed_request_object is True
    assert metadata.request_object_signing_alg == "ES256"
    assert metadata.dpop_bound_access_tokens is True
    assert metadata_from_proto(clients_pb2.ClientMetadata()) == ClientMetadata()


# --- resource servers (RFC 8707) ------------------------------------------------------------


def resource(identifier: str, *scopes: str, **fields: Any) -> clients_pb2.Resource:
    return clients_pb2.Resource(identifier=identifier, scopes=scopes, **fields)


async def test_resource_lifecycle_through_grpc(clients: Client) -> None:
    """Create, get, update (masked and whole), delete over the wire, on SQLite."""
    introspector = await create(clients, client_name="orders-rs")
    api = "https://api.example.com/grpc-orders"
    created = await clients.call.CreateResource(
        clients_pb2.CreateResourceRequest(
            resource=resource(
                api,
                "orders:read",
                "orders:write",
                "orders:read",
                name="Orders",
                access_token_ttl_seconds=900,
                introspection_client_id=introspector.client.client_id,
            ),
            actor=common_pb2.Actor(id="client:admin"),
        )
    )
    assert created.identifier == api and created.name == "Orders"
    assert list(created.scopes) == ["orders:read", "orders:write"]
    assert created.access_token_ttl_seconds == 900
    assert created.introspection_client_id == introspector.client.client_id
    assert created.created_at.seconds > 0 and created.updated_at == created.created_at
    fetched = await clients.call.GetResource(clients_pb2.GetResourceRequest(identifier=api))
    assert fetched == created

    renamed = await clients.call.UpdateResource(
        clients_pb2.UpdateResourceRequest(
            resource=resource(api, name="Orders v2"), update_mask=["name"]
        )
    )
    assert renamed.name == "Orders v2" and list(renamed.scopes) == list(created.scopes)
    assert renamed.created_at == created.created_at
    replaced = await clients.call.UpdateResource(
        clients_pb2.UpdateResourceRequest(resource=resource(api, "orders:admin"))
    )
    assert (replaced.name, list(replaced.scopes)) == ("", ["orders:admin"])
    assert (replaced.access_token_ttl_seconds, replaced.introspection_client_id) == (0, "")

    await clients.call.DeleteResource(clients_pb2.DeleteResourceRequest(identifier=api))
    with pytest.raises(NotFound, match="not found"):
        await clients.call.GetResource(clients_pb2.GetResourceRequest(identifier=api))
    with pytest.raises(NotFound):
        await clients.call.DeleteResource(clients_pb2.DeleteResourceRequest(identifier=api))
    with pytest.raises(NotFound):
        await clients.call.UpdateResource(
            clients_pb2.UpdateResourceRequest(resource=resource(api, "x"))
        )


async def test_resource_errors_through_grpc(clients: Client) -> None:
    api = "https://api.example.com/grpc-errors"
    await clients.call.CreateResource(
        clients_pb2.CreateResourceRequest(resource=resource(api, "a"))
    )
    with pytest.raises(Conflict, match="already exists"):
        await clients.call.CreateResource(
            clients_pb2.CreateResourceRequest(resource=resource(api, "b"))
        )
    for refused, match in [
        (resource("https://api.example.com/x#frag", "a"), "fragment"),
        (resource("not a uri", "a"), "identifier"),
        (resource("https://api.example.com/y"), "'scopes' must name at least one scope"),
        (resource("https://api.example.com/y", "a b"), "Invalid scope token"),
        (
            resource("https://api.example.com/y", "a", access_token_ttl_seconds=30),
            "access_token_ttl_seconds",
        ),
        (
            resource("https://api.example.com/y", "a", introspection_client_id="nobody"),
            "Unknown client 'nobody'",
        ),
    ]:
        with pytest.raises(InvalidRequest, match=match):
            await clients.call.CreateResource(clients_pb2.CreateResourceRequest(resource=refused))
    with pytest.raises(InvalidRequest, match="Unknown field 'scope' in 'update_mask'"):
        await clients.call.UpdateResource(
            clients_pb2.UpdateResourceRequest(resource=resource(api, "c"), update_mask=["scope"])
        )
    with pytest.raises(InvalidRequest, match="Missing 'identifier'"):
        await clients.call.GetResource(clients_pb2.GetResourceRequest())
    with pytest.raises(NotFound):
        await clients.call.GetResource(clients_pb2.GetResourceRequest(identifier="https://x\x00"))


async def test_list_resources_through_grpc(clients: Client) -> None:
    listed = [f"https://list.example.com/{name}" for name in ("c", "a", "b")]
    for identifier in listed:
        await clients.call.CreateResource(
            clients_pb2.CreateResourceRequest(resource=resource(identifier, "s"))
        )
    everything = await clients.call.ListResources(clients_pb2.ListResourcesRequest())
    found = [r.identifier for r in everything.resources]
    assert found == sorted(found) and set(listed) <= set(found)
    assert everything.page.total_size == len(found) and everything.page.next_page_token == ""
    seen: list[str] = []
    token = ""
    while True:
        page = await clients.call.ListResources(
            clients_pb2.ListResourcesRequest(
                page=common_pb2.PageRequest(page_size=2, page_token=token)
            )
        )
        assert len(page.resources) <= 2
        seen += [r.identifier for r in page.resources]
        token = page.page.next_page_token
        if not token:
            break
    assert seen == found
    with pytest.raises(InvalidRequest, match="page_token"):
        await clients.call.ListResources(
            clients_pb2.ListResourcesRequest(page=common_pb2.PageRequest(page_token="!"))
        )
