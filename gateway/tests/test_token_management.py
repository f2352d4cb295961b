"""Introspection (RFC 7662), revocation (RFC 7009) and the JWK Set (RFC 7517)."""

from __future__ import annotations

import httpx
from oauth2.v1 import token_pb2

from common.errors import InvalidClient, UnauthorizedClient
from gateway.tests.conftest import FakeTokenService
from gateway.tests.helpers import assert_error, basic


async def test_inactive_token_is_exactly_active_false(
    client: httpx.AsyncClient, fake_token: FakeTokenService
) -> None:
    response = await client.post(
        "/oauth/introspect",
        data={"token": "garbage", "token_type_hint": "access_token"},
        headers=basic("rs", "rs-secret"),
    )
    assert (response.status_code, response.json()) == (200, {"active": False})
    assert response.headers["cache-control"] == "no-store"
    request = fake_token.requests[-1][1]
    assert (request.token, request.token_type_hint) == ("garbage", "access_token")
    assert (request.credentials.client_id, request.credentials.auth_method) == (
        "rs",
        "client_secret_basic",
    )


async def test_active_token_shows_only_present_members(
    client: httpx.AsyncClient, fake_token: FakeTokenService
) -> None:
    fake_token.answers["Introspect"] = token_pb2.IntrospectResponse(
        active=True,
        scope="api:read",
        client_id="c1",
        token_type="Bearer",
        exp=2000,
        iat=1000,
        sub="c1",
        aud=["https://auth.example.com"],
        iss="https://auth.example.com",
        jti="j1",
    )
    response = await client.post(
        "/oauth/introspect",
        data={"token": "t", "client_id": "rs", "client_secret": "x"},
    )
    assert response.json() == {
        "active": True,
        "scope": "api:read",
        "client_id": "c1",
        "token_type": "Bearer",
        "exp": 2000,
        "iat": 1000,
        "sub": "c1",
        "aud": "https://auth.example.com",
        "iss": "https://auth.example.com",
        "jti": "j1",
    }
    fake_token.answers["Introspect"] = token_pb2.IntrospectResponse(
        active=True, aud=["a", "b"], nbf=5, username="alice"
    )
    response = await client.post("/oauth/introspect", data={"token": "t"}, headers=basic("r", "s"))
    assert response.json() == {"active": True, "username": "alice", "nbf": 5, "aud": ["a", "b"]}


async def test_introspection_with_bad_credentials(
    client: httpx.AsyncClient, fake_token: FakeTokenService
) -> None:
    fake_token.answers["Introspect"] = InvalidClient("Client authentication failed")
    response = await client.post("/oauth/introspect", data={"token": "t"}, headers=basic("r", "x"))
    assert_error(response, 401, "invalid_client", "Client authentication failed")


async def test_revocation_is_200_with_empty_body(
    client: httpx.AsyncClient, fake_token: FakeTokenService
) -> None:
    response = await client.post(
        "/oauth/revoke", data={"token": "t1", "client_id": "pub"}, headers={}
    )
    assert (response.status_code, response.content) == (200, b"")
    request = fake_token.requests[-1][1]
    assert (request.token, request.credentials.auth_method, request.actor.id) == (
        "t1",
        "none",
        "client:pub",
    )


async def test_revocation_of_someone_elses_token(
    client: httpx.AsyncClient, fake_token: FakeTokenService
) -> None:
    fake_token.answers["Revoke"] = UnauthorizedClient("The token was issued to another client")
    response = await client.post("/oauth/revoke", data={"token": "t"}, headers=basic("r", "s"))
    assert_error(response, 400, "unauthorized_client", "The token was issued to another client")


async def test_jwks_rendering(client: httpx.AsyncClient, fake_token: FakeTokenService) -> None:
    fake_token.answers["GetJwks"] = token_pb2.Jwks(
        keys=[
            token_pb2.JsonWebKey(
                kty="EC", kid="k1", use="sig", alg="ES256", crv="P-256", x="xx", y="yy"
            ),
            token_pb2.JsonWebKey(kty="RSA", kid="k2", use="sig", alg="RS256", n="nn", e="AQAB"),
        ]
    )
    response = await client.get("/oauth/jwks")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=60"
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "keys": [
            {
                "kty": "EC",
                "kid": "k1",
                "use": "sig",
                "alg": "ES256",
                "crv": "P-256",
                "x": "xx",
                "y": "yy",
            },
            {"kty": "RSA", "kid": "k2", "use": "sig", "alg": "RS256", "n": "nn", "e": "AQAB"},
        ]
    }
