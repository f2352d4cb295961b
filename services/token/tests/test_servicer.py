"""TokenService through real gRPC: errors arrive as common.errors classes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import jwt
import pytest
from google.protobuf import empty_pb2
from oauth2.v1 import common_pb2, token_pb2, token_pb2_grpc

from common.errors import (
    InsufficientScope,
    InvalidClient,
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
    InvalidToken,
    TemporarilyUnavailable,
    UnauthorizedClient,
    UnsupportedGrantType,
)
from common.grpc_client import ServiceClient
from common.grpc_server import ErrorInterceptor
from common.secrets import sha256_hex
from common.services import TokenClient
from services.token.domain.ports import AuthenticatedClient, ClientCredentials
from services.token.servicer import TokenServicer
from services.token.tests.conftest import ISSUER, Wired, wire
from services.token.tests.people import (
    AUTH_TIME,
    REDIRECT_URI,
    exchange_code,
    issue_code,
    register_spa,
    register_web,
)

PKCE_VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"

TokenClient = TokenClient


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


def creds(wired: Wired, client_id: str, secret: str | None = None) -> common_pb2.ClientCredentials:
    """The client's credentials as the contract carries them; by default its
    secret as the registry generated it."""
    if secret is None:
        secret = wired.clients.registered[client_id].client_secret
    return common_pb2.ClientCredentials(
        client_id=client_id, client_secret=secret, auth_method="client_secret_basic"
    )


async def test_exchange_introspect_revoke(wired: Wired, client: TokenClient) -> None:
    await wired.clients.register("svc")
    await wired.clients.register("rs", grant_types=(), introspection=True)
    response = await client.call.Exchange(
        token_pb2.TokenRequest(
            grant_type="client_credentials", credentials=creds(wired, "svc"), scope="read"
        )
    )
    assert response.token_type == "Bearer"
    assert response.expires_in == 3600
    assert response.scope == "read"
    assert response.refresh_token == "" and response.id_token == ""
    claims = jwt.decode(response.access_token, options={"verify_signature": False})

    active = await client.call.Introspect(
        token_pb2.IntrospectRequest(token=response.access_token, credentials=creds(wired, "rs"))
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
        token_pb2.RevokeRequest(token=response.access_token, credentials=creds(wired, "svc"))
    )
    inactive = await client.call.Introspect(
        token_pb2.IntrospectRequest(token=response.access_token, credentials=creds(wired, "rs"))
    )
    assert inactive == token_pb2.IntrospectResponse(active=False)


async def test_errors_arrive_as_their_classes(wired: Wired, client: TokenClient) -> None:
    await wired.clients.register("svc", scope=("read",))
    await wired.clients.register("spa", auth_method="none", grant_types=("authorization_code",))
    cases = [
        (
            token_pb2.TokenRequest(grant_type="password", credentials=creds(wired, "svc")),
            UnsupportedGrantType,
        ),
        (
            token_pb2.TokenRequest(
                grant_type="client_credentials", credentials=creds(wired, "svc", "x")
            ),
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
                grant_type="client_credentials", credentials=creds(wired, "svc"), scope="admin"
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
    await client.call.Revoke(
        token_pb2.RevokeRequest(token="garbage", credentials=creds(wired, "svc"))
    )
    with pytest.raises(InvalidRequest) as no_selector:
        await client.call.ListGrants(token_pb2.ListGrantsRequest())
    assert no_selector.value.description == "Give 'subject' or 'client_id'"


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
                token_pb2.TokenRequest(
                    grant_type="client_credentials", credentials=creds(wired, "svc", "any")
                )
            )
    finally:
        await token_client.close()
        await server.stop(None)


async def test_verify_access_token_for_userinfo(wired: Wired, client: TokenClient) -> None:
    """RFC 6750 section 3.1 through gRPC: invalid_token, insufficient_scope, or the claims."""
    web = await register_web(wired)
    code = await issue_code(wired, "web", verifier=PKCE_VERIFIER, scopes=("openid", "profile"))
    tokens = await exchange_code(wired, web, code, PKCE_VERIFIER)

    verified = await client.call.VerifyAccessToken(
        token_pb2.VerifyAccessTokenRequest(token=tokens.access_token, required_scopes=["openid"])
    )
    assert verified.active
    assert (verified.sub, verified.client_id, verified.scope) == ("user-1", "web", "openid profile")
    assert verified.auth_time == int(AUTH_TIME.timestamp())
    assert verified.token_type == "Bearer"

    with pytest.raises(InsufficientScope) as lacking:
        await client.call.VerifyAccessToken(
            token_pb2.VerifyAccessTokenRequest(
                token=tokens.access_token, required_scopes=["openid", "email"]
            )
        )
    assert lacking.value.description == "The access token lacks scope 'email'"

    for token in ("", "garbage", tokens.refresh_token, tokens.id_token):
        with pytest.raises(InvalidToken) as invalid:
            await client.call.VerifyAccessToken(token_pb2.VerifyAccessTokenRequest(token=token))
        assert invalid.value.description == "The access token is invalid or expired"

    # Revoked through its family: invalid at once.
    await wired.revocations.revoke_family(sha256_hex(code))
    with pytest.raises(InvalidToken):
        await client.call.VerifyAccessToken(
            token_pb2.VerifyAccessTokenRequest(token=tokens.access_token)
        )

    hint = await client.call.DecodeIdTokenHint(
        token_pb2.DecodeIdTokenHintRequest(id_token_hint=tokens.id_token)
    )
    assert (hint.sub, hint.client_id) == ("user-1", "web")
    with pytest.raises(InvalidRequest) as bad_hint:
        await client.call.DecodeIdTokenHint(
            token_pb2.DecodeIdTokenHintRequest(id_token_hint=tokens.access_token)
        )
    assert bad_hint.value.description == "Invalid id_token_hint"


async def test_code_exchange_through_grpc(wired: Wired, client: TokenClient) -> None:
    await register_spa(wired)
    code = await issue_code(wired, "spa", verifier=PKCE_VERIFIER)
    spa = common_pb2.ClientCredentials(client_id="spa", auth_method="none")
    response = await client.call.Exchange(
        token_pb2.TokenRequest(
            grant_type="authorization_code",
            credentials=spa,
            code=code,
            redirect_uri=REDIRECT_URI,
            code_verifier=PKCE_VERIFIER,
        )
    )
    assert response.access_token and response.refresh_token and response.id_token
    with pytest.raises(InvalidGrant):
        await client.call.Exchange(
            token_pb2.TokenRequest(
                grant_type="authorization_code",
                credentials=spa,
                code=code,
                redirect_uri=REDIRECT_URI,
                code_verifier=PKCE_VERIFIER,
            )
        )
    # The replay revoked the family: its refresh token is dead.
    with pytest.raises(InvalidGrant) as info:
        await client.call.Exchange(
            token_pb2.TokenRequest(
                grant_type="refresh_token", credentials=spa, refresh_token=response.refresh_token
            )
        )
    assert info.value.description == "The refresh token was revoked"
