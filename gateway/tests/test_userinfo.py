"""GET/POST /oauth/userinfo (OpenID Connect Core section 5.3) and every RFC 6750
error it answers."""

from __future__ import annotations

import httpx
import pytest

from common.errors import TemporarilyUnavailable
from gateway.tests.conftest import Fakes
from gateway.tests.fakes import GOOD_TOKEN, USER_ID
from gateway.tests.helpers import FORM

EXPECTED_CLAIMS = {
    "sub": USER_ID,
    "name": "Alice Liddell",
    "given_name": "Alice",
    "family_name": "Liddell",
    "preferred_username": "alice",
    "updated_at": 1735689600,
    "email": "alice@example.com",
    "email_verified": True,
}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_bearer_error(
    response: httpx.Response, status: int, error: str, description: str
) -> None:
    assert response.status_code == status
    assert response.json() == {"error": error, "error_description": description}
    challenge = f'Bearer realm="oauth2", error="{error}", error_description="{description}"'
    if error == "insufficient_scope":
        challenge += ', scope="openid"'
    assert response.headers["www-authenticate"] == challenge
    assert response.headers["cache-control"] == "no-store"


async def test_get_with_authorization_header(client: httpx.AsyncClient, fakes_reset: Fakes) -> None:
    response = await client.get("/oauth/userinfo", headers=bearer(GOOD_TOKEN))
    assert (response.status_code, response.json()) == (200, EXPECTED_CLAIMS)
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"] == "application/json"
    verify = fakes_reset.token.requests[-1][1]
    assert (verify.token, list(verify.required_scopes)) == (GOOD_TOKEN, ["openid"])
    # A token without a user behind it (client_credentials) is the token service's to refuse.
    assert verify.require_user is True
    claims = fakes_reset.authorize.requests[-1][1]
    assert (claims.user_id, list(claims.scopes)) == (USER_ID, ["openid", "profile", "email"])


async def test_post_with_header_or_body(client: httpx.AsyncClient) -> None:
    response = await client.post("/oauth/userinfo", headers=bearer(GOOD_TOKEN))
    assert (response.status_code, response.json()) == (200, EXPECTED_CLAIMS)
    response = await client.post("/oauth/userinfo", data={"access_token": GOOD_TOKEN})
    assert (response.status_code, response.json()) == (200, EXPECTED_CLAIMS)


async def test_no_token_is_a_bare_challenge(client: httpx.AsyncClient, fakes_reset: Fakes) -> None:
    for response in (
        await client.get("/oauth/userinfo"),
        await client.post("/oauth/userinfo", data={}),
        await client.get("/oauth/userinfo", headers={"Authorization": "Basic YTpi"}),
    ):
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == 'Bearer realm="oauth2"'
        assert response.json() == {
            "error": "invalid_token",
            "error_description": "An access token is required",
        }
    assert fakes_reset.calls() == []


@pytest.mark.parametrize(
    ("method", "url", "kwargs", "description"),
    [
        (
            "POST",
            "/oauth/userinfo",
            {"headers": {**bearer(GOOD_TOKEN), **FORM}, "content": f"access_token={GOOD_TOKEN}"},
            "Use only one method to send the access token",
        ),
        (
            "GET",
            f"/oauth/userinfo?access_token={GOOD_TOKEN}",
            {},
            "Send the access token in the Authorization header",
        ),
        (
            "GET",
            "/oauth/userinfo",
            {"headers": {"Authorization": "Bearer "}},
            "Malformed Bearer authorization header",
        ),
        (
            "GET",
            "/oauth/userinfo",
            {"headers": {"Authorization": "Bearer two words"}},
            "Malformed Bearer authorization header",
        ),
        (
            "POST",
            "/oauth/userinfo",
            {"headers": FORM, "content": "access_token=a&access_token=b"},
            "Parameter 'access_token' is included more than once",
        ),
    ],
)
async def test_invalid_request(
    client: httpx.AsyncClient,
    fakes_reset: Fakes,
    method: str,
    url: str,
    kwargs: dict[str, object],
    description: str,
) -> None:
    response = await client.request(method, url, **kwargs)  # type: ignore[arg-type]
    assert_bearer_error(response, 400, "invalid_request", description)
    assert fakes_reset.calls() == []


@pytest.mark.parametrize(
    ("token", "status", "error", "description"),
    [
        ("expired", 401, "invalid_token", "The access token expired"),
        ("inactive", 401, "invalid_token", "The access token is not active"),
        ("disabled-user", 401, "invalid_token", "The access token's user is disabled"),
        ("ghost", 401, "invalid_token", "The access token's user is unknown"),
        ("no-openid", 403, "insufficient_scope", "The access token lacks the 'openid' scope"),
    ],
)
async def test_token_errors(
    client: httpx.AsyncClient, token: str, status: int, error: str, description: str
) -> None:
    response = await client.get("/oauth/userinfo", headers=bearer(token))
    assert_bearer_error(response, status, error, description)


async def test_token_service_down_is_503(client: httpx.AsyncClient, fakes_reset: Fakes) -> None:
    fakes_reset.token.answers["VerifyAccessToken"] = TemporarilyUnavailable()
    response = await client.get("/oauth/userinfo", headers=bearer(GOOD_TOKEN))
    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable"
    assert "www-authenticate" not in response.headers
