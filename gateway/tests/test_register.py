"""/oauth/register (RFC 7591) and /oauth/register/{client_id} (RFC 7592) through
the ASGI app against fake ClientsService, TokenService and AuthorizeService servers
of their own, with the real AdminService (which owns the deletion cascade) in front
of them: exact JSON bodies, statuses and headers, and what reaches the services."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf import empty_pb2
from google.protobuf.timestamp_pb2 import Timestamp
from oauth2.v1 import (
    admin_pb2_grpc,
    authorize_pb2,
    authorize_pb2_grpc,
    clients_pb2,
    clients_pb2_grpc,
    token_pb2,
    token_pb2_grpc,
)

from common.errors import (
    AccessDenied,
    InvalidClientMetadata,
    InvalidRedirectUri,
    InvalidToken,
    TemporarilyUnavailable,
)
from common.grpc_server import ErrorInterceptor
from common.services import authorize_client, clients_client, token_client
from gateway.tests.conftest import Factory
from gateway.tests.helpers import assert_error
from services.admin.domain import build_admin_domain
from services.admin.downstream import GrpcClientRegistry, GrpcTokenAuthority, GrpcUserDirectory
from services.admin.servicer import AdminServicer
from services.admin.tests.fakes import MemoryAuditStore, MemoryStateStore
from services.clients.tests.keys import ec_jwk, key_set

ISSUER = "https://auth.example.com"
ISSUED_AT = 1_740_000_000
JSON = {"Content-Type": "application/json"}
RAT = "rat-0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"
AUTH = {"Authorization": f"Bearer {RAT}"}
WEB_METADATA: dict[str, Any] = {
    "client_name": "Photo Book",
    "redirect_uris": ["https://app.example.com/cb"],
    "scope": "openid profile",
    "contacts": ["ops@example.com"],
    "client_uri": "https://app.example.com/",
}


class Calls:
    """Every call to either fake, in order, with its request."""

    def __init__(self) -> None:
        self.log: list[tuple[str, Any]] = []
        self.answers: dict[str, Any] = {}

    def reset(self) -> None:
        self.log.clear()
        self.answers = {
            "RegisterClient": registered,
            "GetRegistration": lambda r: registered_as(r.client_id, secret=""),
            "UpdateRegistration": updated,
            "DeleteRegistration": empty_pb2.Empty(),
            "RevokeGrants": token_pb2.RevokeGrantsResponse(families_revoked=2),
            "RevokeConsents": authorize_pb2.RevokeConsentsResponse(consents_revoked=1),
        }

    def methods(self) -> list[str]:
        return [method for method, _ in self.log]

    def request(self, method: str) -> Any:
        [request] = [r for m, r in self.log if m == method]
        return request

    def answer(self, method: str, request: Any) -> Any:
        self.log.append((method, request))
        answer = self.answers[method]
        if callable(answer):
            answer = answer(request)
        if isinstance(answer, BaseException):
            raise answer
        return answer


def client_message(
    client_id: str, metadata: clients_pb2.ClientMetadata | None = None
) -> clients_pb2.Client:
    """What the real service would store for ``metadata`` (its defaults applied)."""
    m = metadata or clients_pb2.ClientMetadata(**WEB_METADATA)
    method = m.token_endpoint_auth_method or "client_secret_basic"
    return clients_pb2.Client(
        client_id=client_id,
        client_name=m.client_name or client_id,
        redirect_uris=m.redirect_uris,
        grant_types=m.grant_types or ["authorization_code", "refresh_token"],
        response_types=m.response_types or ["code"],
        scope=m.scope or "openid profile email offline_access",
        token_endpoint_auth_method=method,
        require_pkce=True,
        contacts=m.contacts,
        client_uri=m.client_uri,
        logo_uri=m.logo_uri,
        post_logout_redirect_uris=m.post_logout_redirect_uris,
        allowed_cors_origins=m.allowed_cors_origins,
        jwks=m.jwks,
        jwks_uri=m.jwks_uri,
        require_signed_request_object=m.require_signed_request_object,
        request_object_signing_alg=m.request_object_signing_alg,
        backchannel_logout_uri=m.backchannel_logout_uri,
        backchannel_logout_session_required=m.backchannel_logout_session_required,
        dpop_bound_access_tokens=m.dpop_bound_access_tokens,
        tls_client_auth_subject_dn=m.tls_client_auth_subject_dn,
        tls_client_auth_san_dns=m.tls_client_auth_san_dns,
        tls_client_auth_san_uri=m.tls_client_auth_san_uri,
        tls_client_auth_san_ip=m.tls_client_auth_san_ip,
        tls_client_auth_san_email=m.tls_client_auth_san_email,
        tls_client_certificate_bound_access_tokens=m.tls_client_certificate_bound_access_tokens,
        created_at=Timestamp(seconds=ISSUED_AT),
        updated_at=Timestamp(seconds=ISSUED_AT),
        dynamically_registered=True,
        revision=1,
    )


def registered_as(
    client_id: str,
    metadata: clients_pb2.ClientMetadata | None = None,
    secret: str = "s3cret",  # noqa: S107
) -> clients_pb2.RegisterClientResponse:
    client = client_message(client_id, metadata)
    return clients_pb2.RegisterClientResponse(
        client=client,
        client_secret=secret if client.token_endpoint_auth_method != "none" else "",
        registration_access_token=RAT,
        client_id_issued_at=Timestamp(seconds=ISSUED_AT),
    )


def registered(request: clients_pb2.RegisterClientRequest) -> clients_pb2.RegisterClientResponse:
    return registered_as("dyn-1", request.metadata)


def updated(request: clients_pb2.UpdateRegistrationRequest) -> clients_pb2.RegisterClientResponse:
    return registered_as(request.client_id, request.metadata, secret="")


class FakeClients(clients_pb2_grpc.ClientsServiceServicer):
    def __init__(self, calls: Calls) -> None:
        self.calls = calls

    async def RegisterClient(self, request: Any, context: Any) -> Any:
        return self.calls.answer("RegisterClient", request)

    async def GetRegistration(self, request: Any, context: Any) -> Any:
        return self.calls.answer("GetRegistration", request)

    async def UpdateRegistration(self, request: Any, context: Any) -> Any:
        return self.calls.answer("UpdateRegistration", request)

    async def DeleteRegistration(self, request: Any, context: Any) -> Any:
        return self.calls.answer("DeleteRegistration", request)


class FakeToken(token_pb2_grpc.TokenServiceServicer):
    def __init__(self, calls: Calls) -> None:
        self.calls = calls

    async def RevokeGrants(self, request: Any, context: Any) -> Any:
        return self.calls.answer("RevokeGrants", request)


class FakeAuthorize(authorize_pb2_grpc.AuthorizeServiceServicer):
    def __init__(self, calls: Calls) -> None:
        self.calls = calls

    async def RevokeConsents(self, request: Any, context: Any) -> Any:
        return self.calls.answer("RevokeConsents", request)


@pytest.fixture(scope="module")
async def registration_backend() -> AsyncIterator[tuple[str, Calls]]:
    """The fakes above, and the real AdminService (its domain over gRPC clients of
    those fakes, in-memory audit trail) that owns the RFC 7592 deletion cascade."""
    calls = Calls()
    server = grpc.aio.server(interceptors=[ErrorInterceptor()])
    clients_pb2_grpc.add_ClientsServiceServicer_to_server(FakeClients(calls), server)
    token_pb2_grpc.add_TokenServiceServicer_to_server(FakeToken(calls), server)
    authorize_pb2_grpc.add_AuthorizeServiceServicer_to_server(FakeAuthorize(calls), server)
    port = server.add_insecure_port("127.0.0.1:0")
    target = f"127.0.0.1:{port}"
    downstream = (
        GrpcClientRegistry(clients_client(target, 2.0)),
        GrpcUserDirectory(authorize_client(target, 2.0)),
        GrpcTokenAuthority(token_client(target, 2.0)),
    )
    domain = build_admin_domain(
        clients=downstream[0],
        users=downstream[1],
        tokens=downstream[2],
        audit_store=MemoryAuditStore(),
        state=MemoryStateStore(),
        source="oauth2-admin",
        max_details_chars=8192,
        bootstrap_claim_timeout_seconds=60,
    )
    admin_pb2_grpc.add_AdminServiceServicer_to_server(AdminServicer(domain), server)
    await server.start()
    yield target, calls
    for client in downstream:
        await client.close()
    await server.stop(0)


@pytest.fixture
def calls(registration_backend: tuple[str, Calls]) -> Calls:
    registration_backend[1].reset()
    return registration_backend[1]


@pytest.fixture
async def http(
    make_client: Factory, registration_backend: tuple[str, Calls], calls: Calls
) -> httpx.AsyncClient:
    target = registration_backend[0]
    return await make_client(
        issuer=ISSUER, clients_target=target, token_target=target, admin_target=target
    )


def assert_no_store(response: httpx.Response) -> None:
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"


# --- POST /oauth/register (RFC 7591 section 3) --------------------------------


async def test_register_a_confidential_client(http: httpx.AsyncClient, calls: Calls) -> None:
    body = {
        **WEB_METADATA,
        # Unknown or operator-only fields are ignored (RFC 7591 section 2).
        "software_id": "4NRB1-0XZABZI9E6-5SM3R",
        "tos_uri": "https://app.example.com/tos",
        "require_pkce": False,
        "client_name#ja-Jpan-JP": "フォトブック",
        "software_version": "1.0",
    }
    response = await http.post("/oauth/register", json=body)
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"
    assert_no_store(response)
    assert response.json() == {
        "client_id": "dyn-1",
        "client_secret": "s3cret",
        "client_id_issued_at": ISSUED_AT,
        "client_secret_expires_at": 0,
        "registration_access_token": RAT,
        "registration_client_uri": "https://auth.example.com/oauth/register/dyn-1",
        "client_name": "Photo Book",
        "scope": "openid profile",
        "token_endpoint_auth_method": "client_secret_basic",
        "client_uri": "https://app.example.com/",
        "redirect_uris": ["https://app.example.com/cb"],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "contacts": ["ops@example.com"],
    }
    sent = calls.request("RegisterClient")
    assert sent.metadata == clients_pb2.ClientMetadata(**WEB_METADATA)
    assert not sent.metadata.HasField("require_pkce")
    assert sent.initial_access_token == ""
    assert sent.actor.remote_addr == "127.0.0.1"
    assert calls.methods() == ["RegisterClient"]


async def test_register_with_allowed_cors_origins(http: httpx.AsyncClient, calls: Calls) -> None:
    """An extension of RFC 7591 metadata, as ORY Hydra's; the registry validates it."""
    origins = ["https://app.example.com", "http://localhost:3000"]
    response = await http.post(
        "/oauth/register", json={**WEB_METADATA, "allowed_cors_origins": origins}
    )
    assert response.status_code == 201, response.text
    assert response.json()["allowed_cors_origins"] == origins
    assert list(calls.request("RegisterClient").metadata.allowed_cors_origins) == origins
    calls.reset()
    response = await http.post(
        "/oauth/register", json={**WEB_METADATA, "allowed_cors_origins": "x"}
    )
    assert_error(
        response,
        400,
        "invalid_client_metadata",
        "'allowed_cors_origins' must be an array of strings",
    )


async def test_register_with_keys_and_request_object_settings(
    http: httpx.AsyncClient, calls: Calls
) -> None:
    """RFC 7591 section 2 jwks (an object, JSON text to the service) and the
    request-object members, echoed in the client information response."""
    keys = key_set(ec_jwk())
    body = {
        **WEB_METADATA,
        "jwks": keys,
        "require_signed_request_object": True,
        "request_object_signing_alg": "ES256",
    }
    response = await http.post("/oauth/register", json=body)
    assert response.status_code == 201, response.text
    answer = response.json()
    assert answer["jwks"] == keys
    assert (answer["require_signed_request_object"], answer["request_object_signing_alg"]) == (
        True,
        "ES256",
    )
    assert "jwks_uri" not in answer
    sent = calls.request("RegisterClient").metadata
    assert json.loads(sent.jwks) == keys and sent.jwks_uri == ""
    assert sent.require_signed_request_object is True
    assert sent.request_object_signing_alg == "ES256"

    calls.reset()
    uri = "https://app.example.com/jwks.json"
    response = await http.post("/oauth/register", json={**WEB_METADATA, "jwks_uri": uri})
    assert response.status_code == 201, response.text
    assert response.json()["jwks_uri"] == uri and "jwks" not in response.json()
    assert calls.request("RegisterClient").metadata.jwks == ""


@pytest.mark.parametrize(
    ("extra", "description"),
    [
        (
            {"jwks": key_set(ec_jwk()), "jwks_uri": "https://app.example.com/jwks.json"},
            "'jwks' and 'jwks_uri' must not both be present (RFC 7591 section 2); "
            "register one of them",
        ),
        ({"jwks": [ec_jwk()]}, "'jwks' must be a JSON object"),
        ({"jwks_uri": 5}, "'jwks_uri' must be a string"),
        ({"require_signed_request_object": "true"}, "'require_signed_request_object' must be"),
        ({"request_object_signing_alg": ["ES256"]}, "'request_object_signing_alg' must be"),
    ],
)
async def test_register_refuses_bad_key_members(
    http: httpx.AsyncClient, calls: Calls, extra: dict[str, Any], description: str
) -> None:
    response = await http.post("/oauth/register", json={**WEB_METADATA, **extra})
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_client_metadata"
    assert response.json()["error_description"].startswith(description)
    assert calls.log == []  # refused as sent, before the clients service


async def test_the_registry_refuses_a_private_key(http: httpx.AsyncClient, calls: Calls) -> None:
    """The keys themselves are the clients service's to check; its refusal passes through."""
    message = (
        "'jwks' keys[0] holds private key material ('d'): private keys must never be "
        "registered; register the public key only"
    )
    calls.answers["RegisterClient"] = InvalidClientMetadata(message)
    response = await http.post(
        "/oauth/register", json={**WEB_METADATA, "jwks": key_set({**ec_jwk(), "d": "AAAA"})}
    )
    assert_error(response, 400, "invalid_client_metadata", message)
    assert json.loads(calls.request("RegisterClient").metadata.jwks)["keys"][0]["d"] == "AAAA"


async def test_register_with_backchannel_logout(http: httpx.AsyncClient, calls: Calls) -> None:
    """OpenID Connect Back-Channel Logout 1.0 section 2.2 members are registration
    metadata: sent to the clients service, echoed in the client information."""
    uri = "https://app.example.com/logout/backchannel?tenant=7"
    body = {
        **WEB_METADATA,
        "backchannel_logout_uri": uri,
        "backchannel_logout_session_required": True,
    }
    response = await http.post("/oauth/register", json=body)
    assert response.status_code == 201, response.text
    answer = response.json()
    assert answer["backchannel_logout_uri"] == uri
    assert answer["backchannel_logout_session_required"] is True
    sent = calls.request("RegisterClient").metadata
    assert (sent.backchannel_logout_uri, sent.backchannel_logout_session_required) == (uri, True)

    # Read (RFC 7592 section 2.1) and left out when unset.
    calls.reset()
    calls.answers["GetRegistration"] = lambda r: registered_as(
        r.client_id, clients_pb2.ClientMetadata(**WEB_METADATA, backchannel_logout_uri=uri)
    )
    read = (await http.get("/oauth/register/dyn-1", headers=AUTH)).json()
    assert read["backchannel_logout_uri"] == uri
    assert "backchannel_logout_session_required" not in read
    calls.reset()
    read = (await http.get("/oauth/register/dyn-1", headers=AUTH)).json()
    assert "backchannel_logout_uri" not in read
    assert "backchannel_logout_session_required" not in read
    assert "token_exchange_audiences" not in read


async def test_register_with_dpop_bound_access_tokens(
    http: httpx.AsyncClient, calls: Calls
) -> None:
    """RFC 9449 section 5.2: dpop_bound_access_tokens is client metadata a registrant
    may set: sent to the clients service, echoed in the client information, left out
    when false, and carried by an RFC 7592 update."""
    response = await http.post(
        "/oauth/register", json={**WEB_METADATA, "dpop_bound_access_tokens": True}
    )
    assert response.status_code == 201, response.text
    assert response.json()["dpop_bound_access_tokens"] is True
    assert calls.request("RegisterClient").metadata.dpop_bound_access_tokens is True

    calls.reset()
    response = await http.post(
        "/oauth/register", json={**WEB_METADATA, "dpop_bound_access_tokens": False}
    )
    assert response.status_code == 201, response.text
    assert "dpop_bound_access_tokens" not in response.json()
    assert calls.request("RegisterClient").metadata.dpop_bound_access_tokens is False

    calls.reset()
    calls.answers["GetRegistration"] = lambda r: registered_as(
        r.client_id, clients_pb2.ClientMetadata(**WEB_METADATA, dpop_bound_access_tokens=True)
    )
    read = (await http.get("/oauth/register/dyn-1", headers=AUTH)).json()
    assert read["dpop_bound_access_tokens"] is True
    calls.reset()
    body = {**WEB_METADATA, "client_id": "dyn-1", "dpop_bound_access_tokens": True}
    response = await http.put("/oauth/register/dyn-1", json=body, headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.json()["dpop_bound_access_tokens"] is True
    assert calls.request("UpdateRegistration").metadata.dpop_bound_access_tokens is True


TLS_SUBJECT_MEMBERS = {
    "tls_client_auth_subject_dn": "CN=app.example.com,O=Example",
    "tls_client_auth_san_dns": "app.example.com",
    "tls_client_auth_san_uri": "spiffe://example.org/app",
    "tls_client_auth_san_ip": "192.0.2.10",
    "tls_client_auth_san_email": "app@example.com",
}


@pytest.mark.parametrize(("member", "value"), list(TLS_SUBJECT_MEMBERS.items()))
async def test_register_a_tls_client_auth_client(
    http: httpx.AsyncClient, calls: Calls, member: str, value: str
) -> None:
    """RFC 8705 section 2.1.2: a registrant sets tls_client_auth with one subject
    attribute and tls_client_certificate_bound_access_tokens; they reach the clients
    service, come back in the client information (empty ones left out) and travel
    with an RFC 7592 update."""
    metadata = {
        **WEB_METADATA,
        "token_endpoint_auth_method": "tls_client_auth",
        member: value,
        "tls_client_certificate_bound_access_tokens": True,
    }
    response = await http.post("/oauth/register", json=metadata)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["token_endpoint_auth_method"] == "tls_client_auth"
    assert body[member] == value
    assert body["tls_client_certificate_bound_access_tokens"] is True
    assert not (set(TLS_SUBJECT_MEMBERS) - {member}) & set(body)
    sent = calls.request("RegisterClient").metadata
    assert getattr(sent, member) == value
    assert sent.tls_client_certificate_bound_access_tokens is True
    for other in set(TLS_SUBJECT_MEMBERS) - {member}:
        assert getattr(sent, other) == ""

    calls.reset()
    response = await http.put(
        "/oauth/register/dyn-1", json={**metadata, "client_id": "dyn-1"}, headers=AUTH
    )
    assert response.status_code == 200, response.text
    assert response.json()[member] == value
    assert getattr(calls.request("UpdateRegistration").metadata, member) == value


async def test_register_a_self_signed_tls_client(http: httpx.AsyncClient, calls: Calls) -> None:
    """RFC 8705 section 2.2: the certificate's key among the registered ones."""
    metadata = {
        **WEB_METADATA,
        "token_endpoint_auth_method": "self_signed_tls_client_auth",
        "jwks_uri": "https://app.example.com/jwks",
    }
    response = await http.post("/oauth/register", json=metadata)
    assert response.status_code == 201, response.text
    assert response.json()["token_endpoint_auth_method"] == "self_signed_tls_client_auth"
    assert "tls_client_certificate_bound_access_tokens" not in response.json()
    sent = calls.request("RegisterClient").metadata
    assert sent.token_endpoint_auth_method == "self_signed_tls_client_auth"
    assert sent.tls_client_certificate_bound_access_tokens is False


async def test_register_never_sets_token_exchange_audiences(
    http: httpx.AsyncClient, calls: Calls
) -> None:
    """RFC 8693 audiences are an operator's (the admin API): like any member this
    server does not take from registrants, it is ignored (RFC 7591 section 2)."""
    body = {**WEB_METADATA, "token_exchange_audiences": ["https://api.example.com"]}
    response = await http.post("/oauth/register", json=body)
    assert response.status_code == 201, response.text
    assert "token_exchange_audiences" not in response.json()
    assert list(calls.request("RegisterClient").metadata.token_exchange_audiences) == []


async def test_the_registry_refuses_the_token_exchange_grant(
    http: httpx.AsyncClient, calls: Calls
) -> None:
    """The grant type is the clients service's to refuse (its registration policy,
    services/clients/domain/registration_policy.py); its refusal passes through."""
    exchange = "urn:ietf:params:oauth:grant-type:token-exchange"
    message = f"'grant_types' {exchange!r} is set by operators only"
    calls.answers["RegisterClient"] = InvalidClientMetadata(message)
    response = await http.post(
        "/oauth/register", json={**WEB_METADATA, "grant_types": ["authorization_code", exchange]}
    )
    assert_error(response, 400, "invalid_client_metadata", message)
    assert list(calls.request("RegisterClient").metadata.grant_types) == [
        "authorization_code",
        exchange,
    ]


@pytest.mark.parametrize(
    ("extra", "description"),
    [
        ({"backchannel_logout_uri": 5}, "'backchannel_logout_uri' must be a string"),
        (
            {"backchannel_logout_session_required": "true"},
            "'backchannel_logout_session_required' must be true or false",
        ),
        (
            {"dpop_bound_access_tokens": "true"},
            "'dpop_bound_access_tokens' must be true or false",
        ),
        (
            {"tls_client_certificate_bound_access_tokens": 1},
            "'tls_client_certificate_bound_access_tokens' must be true or false",
        ),
        ({"tls_client_auth_san_dns": ["a"]}, "'tls_client_auth_san_dns' must be a string"),
    ],
)
async def test_register_refuses_bad_logout_members(
    http: httpx.AsyncClient, calls: Calls, extra: dict[str, Any], description: str
) -> None:
    response = await http.post("/oauth/register", json={**WEB_METADATA, **extra})
    assert_error(response, 400, "invalid_client_metadata", description)
    assert calls.log == []  # refused as sent, before the clients service


async def test_register_a_native_public_client(http: httpx.AsyncClient, calls: Calls) -> None:
    metadata = {
        "redirect_uris": ["http://127.0.0.1:51004/cb", "com.example.app:/cb"],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code"],
        "post_logout_redirect_uris": ["com.example.app:/bye"],
        "logo_uri": None,  # null counts as omitted
    }
    response = await http.post("/oauth/register", json=metadata)
    assert (response.status_code, response.json()) == (
        201,
        {
            "client_id": "dyn-1",
            "client_id_issued_at": ISSUED_AT,
            "registration_access_token": RAT,
            "registration_client_uri": "https://auth.example.com/oauth/register/dyn-1",
            "client_name": "dyn-1",
            "scope": "openid profile email offline_access",
            "token_endpoint_auth_method": "none",
            "redirect_uris": ["http://127.0.0.1:51004/cb", "com.example.app:/cb"],
            "grant_types": ["authorization_code"],
            "response_types": ["code"],
            "post_logout_redirect_uris": ["com.example.app:/bye"],
        },
    )


async def test_initial_access_token_is_forwarded(http: httpx.AsyncClient, calls: Calls) -> None:
    response = await http.post(
        "/oauth/register", json=WEB_METADATA, headers={"Authorization": "Bearer iat-123"}
    )
    assert response.status_code == 201
    assert calls.request("RegisterClient").initial_access_token == "iat-123"


async def test_charset_utf8_is_accepted(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/oauth/register",
        content=json.dumps(WEB_METADATA).encode(),
        headers={"Content-Type": "Application/JSON; charset=UTF-8"},
    )
    assert response.status_code == 201


async def test_registration_client_uri_keeps_the_issuer_path(
    make_client: Factory, registration_backend: tuple[str, Calls], calls: Calls
) -> None:
    target = registration_backend[0]
    http = await make_client(
        issuer="https://auth.example.com/tenant", clients_target=target, token_target=target
    )
    calls.answers["RegisterClient"] = registered_as("a b/c")
    response = await http.post("/oauth/register", json=WEB_METADATA)
    assert response.json()["registration_client_uri"] == (
        "https://auth.example.com/tenant/oauth/register/a%20b%2Fc"
    )


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (
            InvalidRedirectUri("URI 'http://app.example.com/cb' in 'redirect_uris': http is only"),
            400,
            "invalid_redirect_uri",
        ),
        (
            InvalidClientMetadata("'scope' 'admin' is not allowed for registered clients"),
            400,
            "invalid_client_metadata",
        ),
        (
            InvalidToken("The initial access token is invalid, expired or used up"),
            401,
            "invalid_token",
        ),
        (AccessDenied("Dynamic registration is disabled"), 403, "access_denied"),
    ],
)
async def test_service_errors(
    http: httpx.AsyncClient, calls: Calls, error: Exception, status: int, code: str
) -> None:
    calls.answers["RegisterClient"] = error
    response = await http.post("/oauth/register", json=WEB_METADATA)
    assert_error(response, status, code, str(error))
    if status == 401:
        assert (
            response.headers["www-authenticate"] == 'Bearer realm="oauth2", error="invalid_token"'
        )
    else:
        assert "www-authenticate" not in response.headers


async def test_unavailable_clients_service(http: httpx.AsyncClient, calls: Calls) -> None:
    calls.answers["RegisterClient"] = TemporarilyUnavailable()
    response = await http.post("/oauth/register", json=WEB_METADATA)
    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable"


@pytest.mark.parametrize(
    ("headers", "content", "description"),
    [
        ({}, b"{}", "Content-Type must be application/json"),
        (
            {"Content-Type": "application/x-www-form-urlencoded"},
            b"client_name=x",
            "Content-Type must be application/json",
        ),
        ({"Content-Type": "text/plain"}, b"{}", "Content-Type must be application/json"),
        (
            {"Content-Type": "application/json; charset=latin-1"},
            b"{}",
            "Content-Type charset must be utf-8",
        ),
    ],
)
async def test_only_json_is_accepted(
    http: httpx.AsyncClient,
    calls: Calls,
    headers: dict[str, str],
    content: bytes,
    description: str,
) -> None:
    response = await http.post("/oauth/register", content=content, headers=headers)
    assert_error(response, 415, "invalid_request", description)
    assert calls.log == []


@pytest.mark.parametrize(
    ("content", "error", "description"),
    [
        (b"", "invalid_client_metadata", "The request body is not valid JSON"),
        (b"{", "invalid_client_metadata", "The request body is not valid JSON"),
        (b"\xff\xfe{}", "invalid_client_metadata", "The request body is not valid JSON"),
        (
            b"[" * 1020 + b"]" * 1020,  # a RecursionError inside json
            "invalid_client_metadata",
            "The request body is not valid JSON",
        ),
        (b"[]", "invalid_client_metadata", "The request body must be a JSON object"),
        (b'"text"', "invalid_client_metadata", "The request body must be a JSON object"),
        (b"null", "invalid_client_metadata", "The request body must be a JSON object"),
        (
            b'{"redirect_uris": "https://a.example/cb"}',
            "invalid_redirect_uri",
            "'redirect_uris' must be an array of strings",
        ),
        (
            b'{"post_logout_redirect_uris": [null]}',
            "invalid_redirect_uri",
            "'post_logout_redirect_uris' must be an array of strings",
        ),
        (
            b'{"grant_types": ["client_credentials", 1]}',
            "invalid_client_metadata",
            "'grant_types' must be an array of strings",
        ),
        (b'{"client_name": 5}', "invalid_client_metadata", "'client_name' must be a string"),
        (
            b'{"scope": ["openid"]}',
            "invalid_client_metadata",
            "'scope' must be a string",
        ),
        (
            b'{"client_name": "\\ud800"}',
            "invalid_client_metadata",
            "Invalid characters in 'client_name'",
        ),
        (
            b'{"redirect_uris": ["https://a.example/\\udfff"]}',
            "invalid_redirect_uri",
            "Invalid characters in 'redirect_uris'",
        ),
    ],
)
async def test_bad_bodies(
    http: httpx.AsyncClient, calls: Calls, content: bytes, error: str, description: str
) -> None:
    response = await http.post("/oauth/register", content=content, headers=JSON)
    assert_error(response, 400, error, description)
    assert calls.log == []


async def test_body_size_is_bounded(http: httpx.AsyncClient, calls: Calls) -> None:
    big = json.dumps({"client_name": "x" * 4096}).encode()  # max_body_bytes is 2048 here
    response = await http.post("/oauth/register", content=big, headers=JSON)
    assert_error(response, 413, "invalid_request", "Request body too large")
    assert calls.log == []


async def test_other_methods(http: httpx.AsyncClient) -> None:
    assert (await http.get("/oauth/register")).status_code == 405
    response = await http.patch("/oauth/register/dyn-1", json={}, headers=AUTH)
    assert response.status_code == 405
    assert set(response.headers["allow"].split(", ")) == {"GET", "HEAD", "PUT", "DELETE"}


# --- GET /oauth/register/{client_id} (RFC 7592 section 2.1) -------------------


async def test_read_a_registration(http: httpx.AsyncClient, calls: Calls) -> None:
    response = await http.get("/oauth/register/dyn-1", headers=AUTH)
    assert response.status_code == 200
    assert_no_store(response)
    assert response.json() == {
        "client_id": "dyn-1",
        "client_id_issued_at": ISSUED_AT,
        "client_secret_expires_at": 0,
        "registration_access_token": RAT,
        "registration_client_uri": "https://auth.example.com/oauth/register/dyn-1",
        "client_name": "Photo Book",
        "scope": "openid profile",
        "token_endpoint_auth_method": "client_secret_basic",
        "client_uri": "https://app.example.com/",
        "redirect_uris": ["https://app.example.com/cb"],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "contacts": ["ops@example.com"],
    }
    sent = calls.request("GetRegistration")
    assert (sent.client_id, sent.registration_access_token) == ("dyn-1", RAT)
    assert sent.actor.id == "client:dyn-1"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer   "},
        {"Authorization": "Basic ZHluLTE6czNjcmV0"},
    ],
)
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_missing_registration_access_token(
    http: httpx.AsyncClient, calls: Calls, headers: dict[str, str], method: str
) -> None:
    response = await http.request(
        method,
        "/oauth/register/dyn-1",
        headers={**headers, **JSON},
        content=json.dumps({"client_id": "dyn-1"}).encode(),
    )
    assert_error(response, 401, "invalid_token", "Missing registration access token")
    assert response.headers["www-authenticate"] == 'Bearer realm="oauth2", error="invalid_token"'
    assert calls.log == []


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_wrong_registration_access_token(
    http: httpx.AsyncClient, calls: Calls, method: str
) -> None:
    wrong = InvalidToken("The registration access token is invalid")
    for name in ("GetRegistration", "UpdateRegistration", "DeleteRegistration"):
        calls.answers[name] = wrong
    response = await http.request(
        method,
        "/oauth/register/dyn-1",
        headers={"Authorization": "Bearer wrong", **JSON},
        content=json.dumps({"client_id": "dyn-1", **WEB_METADATA}).encode(),
    )
    assert_error(response, 401, "invalid_token", "The registration access token is invalid")
    assert response.headers["www-authenticate"] == 'Bearer realm="oauth2", error="invalid_token"'
    assert "RevokeGrants" not in calls.methods()


# --- PUT /oauth/register/{client_id} (RFC 7592 section 2.2) -------------------


async def test_update_a_registration(http: httpx.AsyncClient, calls: Calls) -> None:
    body = {
        "client_id": "dyn-1",
        "client_secret": "s3cret",  # may be echoed back
        "client_name": "Renamed",
        "redirect_uris": ["https://app.example.com/new"],
        "grant_types": ["authorization_code"],
        "unknown_field": True,
    }
    response = await http.put("/oauth/register/dyn-1", json=body, headers=AUTH)
    assert response.status_code == 200
    assert_no_store(response)
    assert response.json() == {
        "client_id": "dyn-1",
        "client_id_issued_at": ISSUED_AT,
        "client_secret_expires_at": 0,
        "registration_access_token": RAT,
        "registration_client_uri": "https://auth.example.com/oauth/register/dyn-1",
        "client_name": "Renamed",
        "scope": "openid profile email offline_access",
        "token_endpoint_auth_method": "client_secret_basic",
        "redirect_uris": ["https://app.example.com/new"],
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
    }
    sent = calls.request("UpdateRegistration")
    assert (sent.client_id, sent.registration_access_token, sent.client_secret) == (
        "dyn-1",
        RAT,
        "s3cret",
    )
    assert sent.metadata == clients_pb2.ClientMetadata(
        client_name="Renamed",
        redirect_uris=["https://app.example.com/new"],
        grant_types=["authorization_code"],
    )


async def test_update_that_drops_a_scope_revokes_the_clients_tokens(
    http: httpx.AsyncClient, calls: Calls
) -> None:
    """Through AdminService.UpdateRegistration, as an operator's UpdateClient."""
    body = {"client_id": "dyn-1", **WEB_METADATA, "scope": "openid"}
    response = await http.put("/oauth/register/dyn-1", json=body, headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "openid"
    assert calls.methods() == ["GetRegistration", "UpdateRegistration", "RevokeGrants"]
    revoke = calls.request("RevokeGrants")
    assert (revoke.client_id, revoke.reason) == ("dyn-1", "scope removed: profile")


async def test_update_that_issues_a_new_secret(http: httpx.AsyncClient, calls: Calls) -> None:
    calls.answers["UpdateRegistration"] = lambda r: registered_as(r.client_id, r.metadata, "new")
    response = await http.put(
        "/oauth/register/dyn-1", json={"client_id": "dyn-1", **WEB_METADATA}, headers=AUTH
    )
    assert response.json()["client_secret"] == "new"


@pytest.mark.parametrize(
    ("body", "description"),
    [
        (WEB_METADATA, "'client_id' must be present and match the URL"),
        ({**WEB_METADATA, "client_id": "other"}, "'client_id' must be present and match the URL"),
        ({**WEB_METADATA, "client_id": 1}, "'client_id' must be present and match the URL"),
        (
            {"client_id": "dyn-1", "registration_access_token": RAT},
            "'registration_access_token' is set by the server; leave it out",
        ),
        (
            {"client_id": "dyn-1", "registration_client_uri": "https://x"},
            "'registration_client_uri' is set by the server; leave it out",
        ),
        (
            {"client_id": "dyn-1", "client_secret_expires_at": 0},
            "'client_secret_expires_at' is set by the server; leave it out",
        ),
        (
            {"client_id": "dyn-1", "client_id_issued_at": ISSUED_AT},
            "'client_id_issued_at' is set by the server; leave it out",
        ),
        ({"client_id": "dyn-1", "client_secret": 42}, "'client_secret' must be a string"),
    ],
)
async def test_update_body_rules(
    http: httpx.AsyncClient, calls: Calls, body: dict[str, Any], description: str
) -> None:
    response = await http.put("/oauth/register/dyn-1", json=body, headers=AUTH)
    assert_error(response, 400, "invalid_client_metadata", description)
    assert calls.log == []


async def test_update_needs_json(http: httpx.AsyncClient, calls: Calls) -> None:
    response = await http.put("/oauth/register/dyn-1", content=b"client_id=dyn-1", headers=AUTH)
    assert_error(response, 415, "invalid_request", "Content-Type must be application/json")


async def test_update_policy_error(http: httpx.AsyncClient, calls: Calls) -> None:
    calls.answers["UpdateRegistration"] = InvalidRedirectUri("URI 'myapp:/cb' in 'redirect_uris'")
    response = await http.put(
        "/oauth/register/dyn-1",
        json={"client_id": "dyn-1", "redirect_uris": ["myapp:/cb"]},
        headers=AUTH,
    )
    assert_error(response, 400, "invalid_redirect_uri", "URI 'myapp:/cb' in 'redirect_uris'")


# --- DELETE /oauth/register/{client_id} (RFC 7592 section 2.3) ----------------


async def test_delete_a_registration_revokes_its_grants_and_consents(
    http: httpx.AsyncClient, calls: Calls
) -> None:
    response = await http.delete("/oauth/register/dyn-1", headers=AUTH)
    assert (response.status_code, response.content) == (204, b"")
    assert_no_store(response)
    # The admin service's cascade, the same as an operator's deletion.
    assert calls.methods() == ["DeleteRegistration", "RevokeGrants", "RevokeConsents"]
    deleted = calls.request("DeleteRegistration")
    assert (deleted.client_id, deleted.registration_access_token) == ("dyn-1", RAT)
    assert deleted.actor.id == "client:dyn-1"
    revoked = calls.request("RevokeGrants")
    assert (revoked.client_id, revoked.subject, revoked.family_id) == ("dyn-1", "", "")
    assert revoked.reason == "registration deleted (RFC 7592)"
    assert revoked.actor.id == "client:dyn-1"
    consents = calls.request("RevokeConsents")
    assert (consents.client_id, consents.user_id, consents.actor.id) == (
        "dyn-1",
        "",
        "client:dyn-1",
    )


async def test_delete_reports_a_failed_revocation(http: httpx.AsyncClient, calls: Calls) -> None:
    calls.answers["RevokeGrants"] = TemporarilyUnavailable()
    response = await http.delete("/oauth/register/dyn-1", headers=AUTH)
    assert response.status_code == 503
    # Revoking twice revokes nothing more, so an unavailable token service is retried
    # (common.services) before the gateway gives up.
    assert calls.methods() == ["DeleteRegistration", "RevokeGrants", "RevokeGrants", "RevokeGrants"]
