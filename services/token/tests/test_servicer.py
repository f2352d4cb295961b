"""TokenService through real gRPC: errors arrive as common.errors classes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import jwt
import pytest
from google.protobuf import empty_pb2
from oauth2.v1 import common_pb2, token_pb2, token_pb2_grpc

from common.errors import (
    InvalidClient,
    InvalidScope,
    TemporarilyUnavailable,
    UnauthorizedClient,
    Unimplemented,
    UnsupportedGrantType,
)
from common.grpc_client import ServiceClient
from common.grpc_server import ErrorInterceptor
from services.token.domain.ports import AuthenticatedClient, ClientCredentials
from services.token.servicer import TokenServicer
from services.token.tests.conftest import ISSUER, Wired, wire

TokenClient = ServiceClient[token_pb2_grpc.TokenServiceStub]


async def start_server(servicer: TokenServicer) -> tuple[grpc.aio.Server, int]:
    server = grpc.aio.server(interceptors=[ErrorInterceptor()])
    token_pb2_grpc.add_TokenServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, port


@pytest.fixture
async def client(wired: Wired) -> AsyncIterator[TokenClient]:
    server, port = await start_server(TokenServicer(wired.domain))
    token_client: TokenClient = ServiceClient(
        token_pb2_grpc.TokenServiceStub, f"127.0.0.1:{port}", "oauth2.v1.TokenService", deadline=5
    )
    yield token_client
    await token_client.close()
    await server.stop(None)


def creds(client_id: str, secret: str = "s3cret") -> common_pb2.ClientCredentials:  # noqa: S107
    return common_pb2.ClientCredentials(
        client_id=client_id, client_secret=secret, auth_method="client_secret_basic"
    )


async def test_exchange_introspect_revoke(wired: Wired, client: TokenClient) -> None:
    wired.clients.register("svc")
    wired.clients.register("rs", grant_types=())
    response = await client.call.Exchange(
        token_pb2.TokenRequest(
            grant_type="client_credentials", credentials=creds("svc"), scope="read"
        )
    )
    assert response.token_type == "Bearer"
    assert response.expires_in == 3600
    assert response.scope == "read"
    assert response.refresh_token == "" and response.id_token == ""
    claims = jwt.decode(response.access_token, options={"verify_signature": False})

    active = await client.call.Introspect(
        token_pb2.IntrospectRequest(token=response.access_token, credentials=creds("rs"))
    )
    assert active == token_pb2.IntrospectResponse(
        active=True,
        scope="read",
        client_id="svc",
        token_type="Bearer",
        exp=claims["exp"],
        iat=claims["iat"],
        sub="svc",
        aud=[ISSUER],
        iss=ISSUER,
        jti=claims["jti"],
    )

    await client.call.Revoke(
        token_pb2.RevokeRequest(token=response.access_token, credentials=creds("svc"))
    )
    inactive = await client.call.Introspect(
        token_pb2.IntrospectRequest(token=response.access_token, credentials=creds("rs"))
    )
    assert inactive == token_pb2.IntrospectResponse(active=False)


async def test_errors_arrive_as_their_classes(wired: Wired, client: TokenClient) -> None:
    wired.clients.register("svc", scope=("read",))
    wired.clients.register("spa", auth_method="none")
    cases = [
        (
            token_pb2.TokenRequest(grant_type="password", credentials=creds("svc")),
            UnsupportedGrantType,
        ),
        (
            token_pb2.TokenRequest(grant_type="client_credentials", credentials=creds("svc", "x")),
            InvalidClient,
        ),
        (
            token_pb2.TokenRequest(
                grant_type="client_credentials",
                credentials=common_pb2.ClientCredentials(client_id="spa", auth_method="none"),
            ),
            UnauthorizedClient,
        ),
        (
            token_pb2.TokenRequest(
                grant_type="client_credentials", credentials=creds("svc"), scope="admin"
            ),
            InvalidScope,
        ),
    ]
    for request, error in cases:
        with pytest.raises(error):
            await client.call.Exchange(request)
    with pytest.raises(InvalidScope) as info:
        await client.call.Exchange(cases[3][0])
    assert info.value.description == "Scope 'admin' is not allowed for this client"

    with pytest.raises(InvalidClient):
        await client.call.Introspect(
            token_pb2.IntrospectRequest(
                token="x",
                credentials=common_pb2.ClientCredentials(client_id="spa", auth_method="none"),
            )
        )
    # Garbage at revocation: success (RFC 7009 section 2.2).
    await client.call.Revoke(token_pb2.RevokeRequest(token="garbage", credentials=creds("svc")))
    with pytest.raises(Unimplemented):
        await client.call.VerifyAccessToken(token_pb2.VerifyAccessTokenRequest(token="x"))


async def test_jwks_and_signing_keys(wired: Wired, client: TokenClient) -> None:
    jwks = await client.call.GetJwks(empty_pb2.Empty())
    assert sorted(k.alg for k in jwks.keys) == ["ES256", "RS256"]
    es = next(k for k in jwks.keys if k.alg == "ES256")
    assert es.kid == wired.keys.signing_key("ES256").kid
    assert (es.kty, es.crv, es.use) == ("EC", "P-256", "sig")
    assert es.x and es.y and not es.n
    listed = await client.call.ListSigningKeys(empty_pb2.Empty())
    assert sorted((k.alg, k.status) for k in listed.keys) == [
        ("ES256", "active"),
        ("RS256", "active"),
    ]
    assert all(k.created_at.seconds > 0 and not k.HasField("retired_at") for k in listed.keys)


class UnavailableAuthenticator:
    async def authenticate(self, credentials: ClientCredentials) -> AuthenticatedClient:
        raise TemporarilyUnavailable("", detail="clients service down")


async def test_clients_service_down_is_temporarily_unavailable(wired: Wired) -> None:
    domain = wire(wired.keys, UnavailableAuthenticator(), wired.revocations)
    server, port = await start_server(TokenServicer(domain))
    token_client: TokenClient = ServiceClient(
        token_pb2_grpc.TokenServiceStub, f"127.0.0.1:{port}", "oauth2.v1.TokenService", deadline=5
    )
    try:
        with pytest.raises(TemporarilyUnavailable):
            await token_client.call.Exchange(
                token_pb2.TokenRequest(grant_type="client_credentials", credentials=creds("svc"))
            )
    finally:
        await token_client.close()
        await server.stop(None)
