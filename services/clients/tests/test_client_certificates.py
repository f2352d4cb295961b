"""Mutual-TLS client authentication (RFC 8705 section 2): ``tls_client_auth`` (the
certificate carries the one subject attribute the client registered) and
``self_signed_tls_client_auth`` (its public key is one of the client's registered
keys), in the registry and through the servicer over gRPC; the metadata rules of
both; the generic invalid_client for every failure."""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import json
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from jwt.algorithms import ECAlgorithm
from oauth2.v1 import clients_pb2, clients_pb2_grpc, common_pb2
from prometheus_client import REGISTRY

from common.client_keys import ClientKeySets
from common.db import create_engine
from common.errors import InvalidClient, InvalidClientMetadata, InvalidRequest
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
from services.clients.domain import ClientRegistry
from services.clients.domain.client_certificates import ClientCertificates
from services.clients.domain.metadata import validate_metadata
from services.clients.domain.model import Client, ClientMetadata
from services.clients.servicer import ClientsServicer
from services.clients.settings import ClientsSettings
from services.clients.tests.fakes import MemoryClientStore

FAILED = "Client authentication failed"
TLS = "tls_client_auth"
SELF_SIGNED = "self_signed_tls_client_auth"
JWKS_URI = "https://app.example.com/jwks"
NOW = datetime.now(UTC)

# --- certificates -------------------------------------------------------------------


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


CA_KEY = new_key()
CA_NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test CA")])
CLIENT_KEY = new_key()
OTHER_KEY = new_key()
SUBJECT = x509.Name(
    [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example"),
        x509.NameAttribute(NameOID.COMMON_NAME, "app.example.com"),
    ]
)
# RFC 4514 lists the RDNs last first.
SUBJECT_DN = "CN=app.example.com,O=Example,C=DE"
SANS: list[x509.GeneralName] = [
    x509.DNSName("App.Example.com"),
    x509.UniformResourceIdentifier("spiffe://example.org/ns/app"),
    x509.IPAddress(ipaddress.ip_address("2001:db8::10")),
    x509.IPAddress(ipaddress.ip_address("192.0.2.10")),
    x509.RFC822Name("App@Example.com"),
]


def certificate(
    *,
    key: ec.EllipticCurvePrivateKey = CLIENT_KEY,
    subject: x509.Name = SUBJECT,
    sans: list[x509.GeneralName] | None = SANS,
    self_signed: bool = False,
    not_before: datetime = NOW - timedelta(days=1),
    not_after: datetime = NOW + timedelta(days=30),
) -> bytes:
    """A client certificate (DER) issued by the test CA, or signed by its own key."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject if self_signed else CA_NAME)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    signer = key if self_signed else CA_KEY
    return builder.sign(signer, hashes.SHA256()).public_bytes(Encoding.DER)


def jwk(key: ec.EllipticCurvePrivateKey, kid: str) -> dict[str, Any]:
    return {**ECAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid}


def jwks(*keys: dict[str, Any]) -> str:
    return json.dumps({"keys": list(keys)})


# --- the registry -------------------------------------------------------------------


class JwksServer:
    def __init__(self) -> None:
        self.document: dict[str, Any] = {"keys": [jwk(OTHER_KEY, "other")]}
        self.calls = 0

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        return httpx.Response(200, json=self.document)


@pytest.fixture
def server() -> JwksServer:
    return JwksServer()


@pytest.fixture
def registry(memory_store: MemoryClientStore, server: JwksServer) -> ClientRegistry:
    keys = ClientKeySets(refetch_seconds=0, transport=httpx.MockTransport(server.handle))
    return ClientRegistry(memory_store, certificates=ClientCertificates(keys))


async def tls_client(registry: ClientRegistry, **fields: Any) -> Client:
    metadata = ClientMetadata(token_endpoint_auth_method=TLS, **fields)
    client, secret = await registry.create(metadata)
    assert secret == "" and client.client_secret_hash is None
    return client


async def self_signed_client(registry: ClientRegistry, **fields: Any) -> Client:
    fields.setdefault("jwks", jwks(jwk(CLIENT_KEY, "client")))
    client, secret = await registry.create(
        ClientMetadata(token_endpoint_auth_method=SELF_SIGNED, **fields)
    )
    assert secret == "" and client.client_secret_hash is None
    return client


async def authenticate(
    registry: ClientRegistry,
    client: Client,
    der: bytes,
    *,
    secret: str = "",
    method: str = "none",
    assertion: str = "",
) -> Client:
    return await registry.authenticate(client.client_id, secret, method, assertion, der)


async def refused(registry: ClientRegistry, client: Client, der: bytes, **kwargs: Any) -> str:
    """The detail of the refusal; its description is always the generic one."""
    with pytest.raises(InvalidClient) as caught:
        await authenticate(registry, client, der, **kwargs)
    assert caught.value.description == FAILED
    return caught.value.detail


def outcomes(outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "oauth2_client_certificate_authentications_total", {"outcome": outcome}
    )
    return value or 0.0


async def test_subject_dn_match_and_mismatch(registry: ClientRegistry) -> None:
    client = await tls_client(registry, tls_client_auth_subject_dn=SUBJECT_DN)
    accepted, refusals = outcomes("accepted"), outcomes("refused")
    assert await authenticate(registry, client, certificate()) == client
    other = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "app.example.com")])
    detail = await refused(registry, client, certificate(subject=other))
    assert "certificate subject 'CN=app.example.com' is not" in detail
    # Name equality: the same attributes in another order are another DN.
    reordered = x509.Name(list(reversed(list(SUBJECT))))
    await refused(registry, client, certificate(subject=reordered))
    assert outcomes("accepted") - accepted == 1 and outcomes("refused") - refusals == 2


@pytest.mark.parametrize(
    ("field", "registered", "wrong"),
    [
        # DNS names and e-mail addresses compare case-insensitively.
        ("tls_client_auth_san_dns", "app.example.COM", "other.example.com"),
        ("tls_client_auth_san_uri", "spiffe://example.org/ns/app", "spiffe://example.org/ns/APP"),
        ("tls_client_auth_san_ip", "2001:0db8:0000::0010", "2001:db8::11"),
        ("tls_client_auth_san_ip", "192.0.2.10", "192.0.2.11"),
        ("tls_client_auth_san_email", "app@example.com", "ops@example.com"),
    ],
)
async def test_each_san_kind_match_and_mismatch(
    registry: ClientRegistry, field: str, registered: str, wrong: str
) -> None:
    client = await tls_client(registry, **{field: registered})
    assert await authenticate(registry, client, certificate()) == client
    other = await tls_client(registry, **{field: wrong})
    assert "SAN" in await refused(registry, other, certificate())
    # Without the extension there is no SAN to match.
    assert "SAN" in await refused(registry, client, certificate(sans=None))


async def test_the_subject_dn_is_not_a_san(registry: ClientRegistry) -> None:
    """Each attribute is looked for where it lives: a SAN DNS name equal to the
    registered DN's CN does not make the DN match, nor the reverse."""
    client = await tls_client(registry, tls_client_auth_san_dns="app.example.com")
    await refused(registry, client, certificate(sans=[x509.RFC822Name("app.example.com")]))


async def test_expired_or_not_yet_valid_certificate(registry: ClientRegistry) -> None:
    client = await tls_client(registry, tls_client_auth_subject_dn=SUBJECT_DN)
    expired = certificate(not_before=NOW - timedelta(days=30), not_after=NOW - timedelta(days=1))
    assert "expired" in await refused(registry, client, expired)
    early = certificate(not_before=NOW + timedelta(days=1), not_after=NOW + timedelta(days=30))
    assert "not valid before" in await refused(registry, client, early)


async def test_garbage_and_no_certificate_are_refused(registry: ClientRegistry) -> None:
    client = await tls_client(registry, tls_client_auth_subject_dn=SUBJECT_DN)
    assert "not X.509 DER" in await refused(registry, client, b"\x30\x03garbage")
    assert "no TLS client certificate" in await refused(registry, client, b"")
    pem_like = b"-----BEGIN CERTIFICATE-----\n"
    assert "not X.509 DER" in await refused(registry, client, pem_like)


async def test_a_tls_client_presents_its_client_id_alone(registry: ClientRegistry) -> None:
    """RFC 8705 section 2: no secret, no assertion, no other method; the gateway's
    ``none`` with the certificate of the connection."""
    client = await tls_client(registry, tls_client_auth_subject_dn=SUBJECT_DN)
    der = certificate()
    detail = await refused(registry, client, der, secret="s" * 40, method="client_secret_post")
    assert "presented 'client_secret_post' with a secret" in detail
    assert "with a secret" in await refused(registry, client, der, secret="s" * 40)
    assert "with an assertion" in await refused(registry, client, der, assertion="a.b.c")
    await refused(registry, client, der, method="tls_client_auth")
    await registry.update(client.client_id, ClientMetadata(enabled=False), ["enabled"])
    assert "disabled" in await refused(registry, client, der)


async def test_a_secret_client_ignores_a_certificate(registry: ClientRegistry) -> None:
    """A client_secret_basic client still authenticates by its secret, with or
    without a TLS certificate on the connection; a certificate alone is nothing."""
    client, secret = await registry.create(ClientMetadata(client_name="backend"))
    der = certificate()
    assert await authenticate(registry, client, der, secret=secret, method="client_secret_basic")
    detail = await refused(registry, client, der)
    assert "registered client_secret_basic, presented 'none'" in detail
    await refused(registry, client, der, secret="wrong" * 8, method="client_secret_basic")


async def test_self_signed_with_a_registered_key(registry: ClientRegistry) -> None:
    client = await self_signed_client(
        registry, jwks=jwks(jwk(OTHER_KEY, "other"), jwk(CLIENT_KEY, "client"))
    )
    der = certificate(self_signed=True)
    assert await authenticate(registry, client, der) == client
    # Issued by the CA or self-signed, only the key counts; the subject does not.
    bare = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "anything")])
    assert await authenticate(registry, client, certificate(subject=bare, sans=None)) == client
    stranger = certificate(key=new_key(), self_signed=True)
    assert "none of" in await refused(registry, client, stranger)
    expired = certificate(self_signed=True, not_after=NOW - timedelta(seconds=1))
    assert "expired" in await refused(registry, client, expired)


async def test_self_signed_keys_for_encryption_do_not_count(registry: ClientRegistry) -> None:
    client = await self_signed_client(registry, jwks=jwks({**jwk(CLIENT_KEY, "c"), "use": "enc"}))
    assert "none of" in await refused(registry, client, certificate(self_signed=True))


async def test_self_signed_with_a_jwks_uri(registry: ClientRegistry, server: JwksServer) -> None:
    client = await self_signed_client(registry, jwks="", jwks_uri=JWKS_URI)
    der = certificate(self_signed=True)
    # The served set has another key only: refused after one refetch.
    assert "none of" in await refused(registry, client, der)
    assert server.calls == 2
    # The client rotated: the refetch finds its key.
    server.document = {"keys": [jwk(CLIENT_KEY, "client")]}
    assert await authenticate(registry, client, der) == client
    assert await authenticate(registry, client, der) == client
    assert server.calls == 3  # the second time from the cache


async def test_an_unreachable_jwks_uri_refuses(memory_store: MemoryClientStore) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503)

    keys = ClientKeySets(transport=httpx.MockTransport(down))
    registry = ClientRegistry(memory_store, certificates=ClientCertificates(keys))
    client = await self_signed_client(registry, jwks="", jwks_uri=JWKS_URI)
    unavailable = outcomes("unavailable")
    detail = await refused(registry, client, certificate(self_signed=True))
    assert "HTTP 503" in detail
    assert outcomes("unavailable") - unavailable == 1


# --- metadata ------------------------------------------------------------------------


def validate(**fields: Any) -> ClientMetadata:
    return validate_metadata(ClientMetadata(**fields), client_id="c")


def metadata_refusal(**fields: Any) -> str:
    with pytest.raises(InvalidClientMetadata) as caught:
        validate(**fields)
    return caught.value.description


def test_tls_client_auth_needs_exactly_one_subject_attribute() -> None:
    assert "exactly one of 'tls_client_auth_subject_dn'" in metadata_refusal(
        token_endpoint_auth_method=TLS
    )
    assert "; got 2" in metadata_refusal(
        token_endpoint_auth_method=TLS,
        tls_client_auth_subject_dn=SUBJECT_DN,
        tls_client_auth_san_dns="app.example.com",
    )
    validated = validate(token_endpoint_auth_method=TLS, tls_client_auth_subject_dn=SUBJECT_DN)
    assert validated.tls_client_auth_subject_dn == SUBJECT_DN  # as given
    assert validated.grant_types == ("client_credentials",)  # a confidential client


@pytest.mark.parametrize(
    "field",
    [
        "tls_client_auth_subject_dn",
        "tls_client_auth_san_dns",
        "tls_client_auth_san_uri",
        "tls_client_auth_san_ip",
        "tls_client_auth_san_email",
    ],
)
@pytest.mark.parametrize("method", ["client_secret_basic", SELF_SIGNED, "private_key_jwt"])
def test_subject_attributes_only_with_tls_client_auth(field: str, method: str) -> None:
    fields: dict[str, Any] = {"token_endpoint_auth_method": method, field: "x"}
    if method != "client_secret_basic":
        fields["jwks"] = jwks(jwk(CLIENT_KEY, "k"))
    assert metadata_refusal(**fields) == (
        f"'{field}' is only for 'token_endpoint_auth_method' tls_client_auth"
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("tls_client_auth_subject_dn", "not a dn", "RFC 4514 form"),
        ("tls_client_auth_subject_dn", "CN=" + "a" * 1030, "longer than 1024"),
        ("tls_client_auth_san_ip", "192.0.2.300", "IPv4 or IPv6 address"),
        ("tls_client_auth_san_ip", "app.example.com", "IPv4 or IPv6 address"),
        ("tls_client_auth_san_uri", "/relative/path", "absolute URI"),
        ("tls_client_auth_san_uri", "spiffe://a b", "must not contain spaces"),
        ("tls_client_auth_san_email", "app.example.com", "one '@'"),
        ("tls_client_auth_san_email", "a@b@example.com", "one '@'"),
        ("tls_client_auth_san_email", "@example.com", "one '@'"),
        ("tls_client_auth_san_dns", "app\n.example.com", "Invalid character"),
    ],
)
def test_subject_attribute_values(field: str, value: str, message: str) -> None:
    refusal = metadata_refusal(token_endpoint_auth_method=TLS, **{field: value})
    assert message in refusal and field in refusal


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("tls_client_auth_subject_dn", "CN=App\\, Inc.,O=Example,C=DE"),
        ("tls_client_auth_san_ip", "2001:db8::10"),
        ("tls_client_auth_san_uri", "urn:example:app"),
        ("tls_client_auth_san_email", "app@example.com"),
        ("tls_client_auth_san_dns", "app.example.com"),
    ],
)
def test_subject_attribute_values_accepted(field: str, value: str) -> None:
    assert getattr(validate(token_endpoint_auth_method=TLS, **{field: value}), field) == value


def test_self_signed_needs_keys() -> None:
    assert "register 'jwks' or 'jwks_uri'" in metadata_refusal(
        token_endpoint_auth_method=SELF_SIGNED
    )
    assert validate(token_endpoint_auth_method=SELF_SIGNED, jwks_uri=JWKS_URI).jwks_uri


def test_the_binding_flag_is_any_clients() -> None:
    assert validate(tls_client_certificate_bound_access_tokens=True).token_endpoint_auth_method
    assert validate().tls_client_certificate_bound_access_tokens is False


async def test_no_secret_to_rotate_nor_to_import(registry: ClientRegistry) -> None:
    client = await tls_client(registry, tls_client_auth_san_dns="app.example.com")
    assert client.is_confidential and not client.holds_secret
    with pytest.raises(InvalidRequest, match="has no secret to rotate"):
        await registry.rotate_secret(client.client_id)
    with pytest.raises(InvalidRequest, match="has no 'client_secret'"):
        await registry.create(
            ClientMetadata(token_endpoint_auth_method=TLS, tls_client_auth_san_dns="a.example"),
            client_secret_plain="s" * 40,
        )
    self_signed = await self_signed_client(registry)
    with pytest.raises(InvalidRequest, match="has no secret to rotate"):
        await registry.rotate_secret(self_signed.client_id)


async def test_switching_to_a_tls_method_drops_the_secret(registry: ClientRegistry) -> None:
    client, _ = await registry.create(ClientMetadata(client_name="backend"))
    assert client.client_secret_hash is not None
    switched = await registry.update(
        client.client_id,
        ClientMetadata(token_endpoint_auth_method=TLS, tls_client_auth_subject_dn=SUBJECT_DN),
        ["token_endpoint_auth_method", "tls_client_auth_subject_dn"],
    )
    assert switched.client_secret_hash is None
    assert await authenticate(registry, switched, certificate()) == switched
    # Back to a secret method, the subject attribute must go too.
    with pytest.raises(InvalidClientMetadata, match="only for"):
        await registry.update(
            client.client_id,
            ClientMetadata(token_endpoint_auth_method="client_secret_basic"),
            ["token_endpoint_auth_method"],
        )
    back = await registry.update(
        client.client_id,
        dataclasses.replace(
            ClientMetadata(token_endpoint_auth_method="client_secret_basic"),
            tls_client_auth_subject_dn="",
        ),
        ["token_endpoint_auth_method", "tls_client_auth_subject_dn"],
    )
    assert back.client_secret_hash is None  # until rotate_secret


# --- over gRPC -----------------------------------------------------------------------


@pytest.fixture(scope="module")
async def clients(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ClientsClient]:
    """The servicer on the app's own wiring (SQLite + in-process cache), on a free port."""
    data_dir: Path = tmp_path_factory.mktemp("clients-mtls")
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
    client: ClientsClient = ServiceClient(
        clients_pb2_grpc.ClientsServiceStub, f"127.0.0.1:{port}", SERVICE_NAME, deadline=5
    )
    yield client
    await client.close()
    await server.stop(None)
    await engine.dispose()


async def grpc_create(clients: ClientsClient, **metadata: Any) -> clients_pb2.Client:
    request = clients_pb2.CreateClientRequest(metadata=clients_pb2.ClientMetadata(**metadata))
    response = await clients.call.CreateClient(request)
    assert response.client_secret == ""
    return response.client


async def grpc_authenticate(
    clients: ClientsClient, client_id: str, der: bytes, **credentials: Any
) -> clients_pb2.Client:
    request = clients_pb2.AuthenticateClientRequest(
        credentials=common_pb2.ClientCredentials(
            client_id=client_id,
            auth_method=credentials.pop("auth_method", "none"),
            client_certificate=der,
            **credentials,
        )
    )
    return await clients.call.AuthenticateClient(request)


async def test_tls_client_auth_over_grpc(clients: ClientsClient) -> None:
    created = await grpc_create(
        clients,
        token_endpoint_auth_method=TLS,
        tls_client_auth_san_uri="spiffe://example.org/ns/app",
        tls_client_certificate_bound_access_tokens=True,
    )
    assert created.tls_client_auth_san_uri == "spiffe://example.org/ns/app"
    assert created.tls_client_certificate_bound_access_tokens is True
    assert (created.tls_client_auth_subject_dn, created.tls_client_auth_san_dns) == ("", "")
    authenticated = await grpc_authenticate(clients, created.client_id, certificate())
    assert authenticated.client_id == created.client_id
    assert authenticated.token_endpoint_auth_method == TLS
    with pytest.raises(InvalidClient, match=FAILED):
        await grpc_authenticate(clients, created.client_id, certificate(sans=None))
    with pytest.raises(InvalidClient, match=FAILED):
        await grpc_authenticate(clients, created.client_id, b"")
    updated = await clients.call.UpdateClient(
        clients_pb2.UpdateClientRequest(
            client_id=created.client_id,
            metadata=clients_pb2.ClientMetadata(
                tls_client_auth_san_uri="", tls_client_auth_san_ip="192.0.2.10"
            ),
            update_mask=["tls_client_auth_san_uri", "tls_client_auth_san_ip"],
        )
    )
    assert (updated.tls_client_auth_san_uri, updated.tls_client_auth_san_ip) == ("", "192.0.2.10")
    assert (await grpc_authenticate(clients, created.client_id, certificate())).client_id
    with pytest.raises(InvalidClientMetadata, match="exactly one of"):
        await grpc_create(clients, token_endpoint_auth_method=TLS)


async def test_self_signed_tls_client_auth_over_grpc(clients: ClientsClient) -> None:
    created = await grpc_create(
        clients, token_endpoint_auth_method=SELF_SIGNED, jwks=jwks(jwk(CLIENT_KEY, "client"))
    )
    der = certificate(self_signed=True)
    assert (await grpc_authenticate(clients, created.client_id, der)).client_id
    with pytest.raises(InvalidClient, match=FAILED):
        await grpc_authenticate(clients, created.client_id, certificate(key=OTHER_KEY))
    with pytest.raises(InvalidClient, match=FAILED):
        await grpc_authenticate(
            clients,
            created.client_id,
            der,
            auth_method="client_secret_post",
            client_secret="s" * 40,
        )
