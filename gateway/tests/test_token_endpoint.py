"""POST /oauth/token (RFC 6749 section 3.2, 5.1): what reaches the token service
and how its answer is rendered."""

from __future__ import annotations

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from oauth2.v1 import common_pb2, token_pb2

from common.errors import InvalidClient, InvalidScope, UnsupportedGrantType
from common.vocabulary import JWT_BEARER_ASSERTION_TYPE
from gateway.tests.conftest import Factory, FakeTokenService, dead_target
from gateway.tests.helpers import FORM, assert_error, basic


async def test_client_secret_basic(client: httpx.AsyncClient, fake_token: FakeTokenService) -> None:
    response = await client.post(
        "/oauth/token",
        content="grant_type=client_credentials&scope=read",
        headers={**FORM, **basic("my client", "s3cr:t+/=")},
    )
    assert response.status_code == 200
    assert response.json() == {
        "access_token": "at-1",
        "token_type": "Bearer",
        "expires_in": 3600,
        "scope": "read",
    }
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    assert response.headers["x-content-type-options"] == "nosniff"
    method, request = fake_token.requests[-1]
    assert method == "Exchange"
    assert request.grant_type == "client_credentials"
    assert request.scope == "read"
    assert (request.credentials.client_id, request.credentials.client_secret) == (
        "my client",
        "s3cr:t+/=",
    )
    assert request.credentials.auth_method == "client_secret_basic"


async def test_client_secret_post_with_resources_and_unknown_parameters(
    client: httpx.AsyncClient, fake_token: FakeTokenService
) -> None:
    response = await client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "c1",
            "client_secret": "s1",
            "resource": ["https://a.example", "https://b.example"],
            "assertion": "x",
            "code": "",
        },
    )
    assert response.status_code == 200
    request = fake_token.requests[-1][1]
    assert request.credentials == common_pb2.ClientCredentials(
        client_id="c1", client_secret="s1", auth_method="client_secret_post"
    )
    assert list(request.resource) == ["https://a.example", "https://b.example"]
    # RFC 6749 section 3.2: a parameter no grant reads is ignored, not forwarded.
    assert "assertion" not in str(request)
    assert request.code == ""


async def test_a_client_assertion_names_its_method_by_its_alg(
    client: httpx.AsyncClient, fake_token: FakeTokenService
) -> None:
    """RFC 7523 section 2.2: an HMAC is client_secret_jwt, any other alg (none and
    made-up ones included) private_key_jwt; the clients service holds it to the
    client's registered method and checks the rest."""
    claims = {"iss": "c1", "sub": "c1", "aud": "x", "exp": 2_000_000_000, "jti": "j"}
    key = b"k" * 64
    signed = {alg: jwt.encode(claims, key, algorithm=alg) for alg in ("HS256", "HS384", "HS512")}
    signed |= {"ES256": jwt.encode(claims, ec.generate_private_key(ec.SECP256R1()), "ES256")}
    signed |= {"none": jwt.encode(claims, "", algorithm="none")}
    expected = dict.fromkeys(("HS256", "HS384", "HS512"), "client_secret_jwt")
    expected |= dict.fromkeys(("ES256", "none"), "private_key_jwt")
    for alg, assertion in signed.items():
        response = await client.post(
            "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_assertion_type": JWT_BEARER_ASSERTION_TYPE,
                "client_assertion": assertion,
            },
        )
        assert response.status_code == 200, (alg, response.text)
        credentials = fake_token.requests[-1][1].credentials
        assert (credentials.client_id, credentials.auth_method) == ("c1", expected[alg]), alg
        assert (credentials.client_assertion, credentials.client_secret) == (assertion, "")


async def test_public_client_uses_none(
    client: httpx.AsyncClient, fake_token: FakeTokenService
) -> None:
    response = await client.post(
        "/oauth/token", data={"grant_type": "client_credentials", "client_id": "pub"}
    )
    assert response.status_code == 200
    credentials = fake_token.requests[-1][1].credentials
    assert (credentials.client_id, credentials.client_secret, credentials.auth_method) == (
        "pub",
        "",
        "none",
    )


async def test_optional_members_only_when_present(
    client: httpx.AsyncClient, fake_token: FakeTokenService
) -> None:
    fake_token.answers["Exchange"] = token_pb2.TokenResponse(
        access_token="at", token_type="Bearer", expires_in=60, refresh_token="rt", id_token="it"
    )
    response = await client.post(
        "/oauth/token", data={"grant_type": "refresh_token", "client_id": "pub"}
    )
    assert response.json() == {
        "access_token": "at",
        "token_type": "Bearer",
        "expires_in": 60,
        "refresh_token": "rt",
        "id_token": "it",
    }


async def test_service_errors_are_rendered(
    client: httpx.AsyncClient, fake_token: FakeTokenService
) -> None:
    data = {"grant_type": "client_credentials", "client_id": "c1", "client_secret": "bad"}
    fake_token.answers["Exchange"] = InvalidClient("Client authentication failed")
    response = await client.post("/oauth/token", data=data)
    assert_error(response, 401, "invalid_client", "Client authentication failed")

    fake_token.answers["Exchange"] = UnsupportedGrantType("Unsupported grant_type 'password'")
    response = await client.post("/oauth/token", data=data)
    assert_error(response, 400, "unsupported_grant_type", "Unsupported grant_type 'password'")

    fake_token.answers["Exchange"] = InvalidScope("Scope 'admin' is not allowed")
    response = await client.post("/oauth/token", data=data)
    assert_error(response, 400, "invalid_scope", "Scope 'admin' is not allowed")


async def test_unexpected_service_failure_is_server_error(
    client: httpx.AsyncClient, fake_token: FakeTokenService
) -> None:
    fake_token.answers["Exchange"] = RuntimeError("database password is hunter2")
    response = await client.post(
        "/oauth/token", data={"grant_type": "client_credentials", "client_id": "c1"}
    )
    assert_error(response, 500, "server_error")
    assert "hunter2" not in response.text


async def test_stopped_token_service_is_temporarily_unavailable(make_client: Factory) -> None:
    client = await make_client(token_target=dead_target())
    response = await client.post(
        "/oauth/token", data={"grant_type": "client_credentials", "client_id": "c1"}
    )
    assert_error(
        response,
        503,
        "temporarily_unavailable",
        "A service this request needs is unavailable; retry later",
    )
