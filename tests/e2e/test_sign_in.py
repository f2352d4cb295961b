"""People sign in: the authorization code flow with PKCE and OpenID Connect, as a
browser makes it (cookie jar, redirects, the forms found in the HTML), for a
confidential and a public client; tokens checked with joserfc against the JWKS;
userinfo; refresh with rotation; logout ends the session."""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.e2e.browser import Arrival, Browser, page_text, pkce_pair
from tests.e2e.conftest import RunningSystem, basic

pytestmark = pytest.mark.e2e

REDIRECT = "https://rp.example/callback"
SCOPE = "openid profile email offline_access"
PASSWORD = "correct horse battery staple"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def authorize_url(client_id: str, challenge: str | None = None, **params: str) -> str:
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": SCOPE,
        "state": secrets.token_urlsafe(8),
        "nonce": secrets.token_urlsafe(8),
    }
    if challenge is not None:
        query |= {"code_challenge": challenge, "code_challenge_method": "S256"}
    query |= params
    return "/oauth/authorize?" + urlencode({k: v for k, v in query.items() if v is not None})


def new_client(system: RunningSystem, auth_method: str) -> dict[str, Any]:
    return system.create_client(
        "--name",
        unique("Photo Book"),
        "--grant-type",
        "authorization_code",
        "--grant-type",
        "refresh_token",
        "--redirect-uri",
        REDIRECT,
        "--scope",
        SCOPE,
        "--auth-method",
        auth_method,
    )


def sign_in(
    browser: Browser, url: str, username: str, password: str = PASSWORD, approve: bool = True
) -> Arrival:
    """From the authorization request to the client's redirect URI."""
    page = browser.go(url)
    assert isinstance(page, httpx.Response) and page.status_code == 200, page
    assert 'name="password"' in page.text
    page = browser.submit(page, {"username": username, "password": password})
    if isinstance(page, Arrival):
        return page
    assert page.status_code == 200, page_text(page)
    assert "consent" in str(page.url)
    arrival = browser.submit(page, button="decision=" + ("approve" if approve else "deny"))
    assert isinstance(arrival, Arrival), arrival
    return arrival


def token_request(
    system: RunningSystem, client: dict[str, Any], form: dict[str, str]
) -> httpx.Response:
    headers = {}
    if client["token_endpoint_auth_method"] == "client_secret_basic":
        headers["Authorization"] = basic(client["client_id"], client["client_secret"])
    else:
        form = {**form, "client_id": client["client_id"]}
    with system.http() as http:
        return http.post("/oauth/token", data=form, headers=headers)


def exchange(
    system: RunningSystem,
    client: dict[str, Any],
    code: str,
    verifier: str,
    redirect_uri: str = REDIRECT,
) -> httpx.Response:
    return token_request(
        system,
        client,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        },
    )


def introspect(system: RunningSystem, token: str) -> dict[str, Any]:
    rs = system.resource_server()
    with system.http() as http:
        resp = http.post(
            "/oauth/introspect",
            data={"token": token},
            headers={"Authorization": basic(rs["client_id"], rs["client_secret"])},
        )
    assert resp.status_code == 200
    return resp.json()  # type: ignore[no-any-return]


def verify_id_token(
    system: RunningSystem,
    id_token: str,
    client_id: str,
    user_id: str,
    access_token: str,
    nonce: str | None,
) -> dict[str, Any]:
    with system.http() as http:
        keys = KeySet.import_key_set(http.get("/oauth/jwks").json())
    token = jwt.decode(id_token, keys, algorithms=["RS256"])
    assert token.header["alg"] == "RS256"
    claims = token.claims
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": system.base_url},
        sub={"essential": True, "value": user_id},
        aud={"essential": True, "value": client_id},
        exp={"essential": True},
        iat={"essential": True},
        auth_time={"essential": True},
    ).validate(claims)
    assert claims["azp"] == client_id
    digest = hashlib.sha256(access_token.encode()).digest()
    assert claims["at_hash"] == base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()
    if nonce is None:
        assert "nonce" not in claims
    else:
        assert claims["nonce"] == nonce
    return dict(claims)


@pytest.mark.parametrize("auth_method", ["client_secret_basic", "none"])
def test_full_browser_flow(system: RunningSystem, auth_method: str) -> None:
    client = new_client(system, auth_method)
    username = unique("alice")
    user = system.create_user(username, PASSWORD, f"{username}@example.com")
    verifier, challenge = pkce_pair()
    url = authorize_url(client["client_id"], challenge, state="xyz-state", nonce="n-0S6_WzA2Mj")

    with Browser(system.base_url) as browser:
        login = browser.go(url)
        assert isinstance(login, httpx.Response) and login.status_code == 200
        assert login.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in login.headers["content-security-policy"]
        cookie = login.headers.get("set-cookie", "") or str(browser.last.headers)
        consent = browser.submit(login, {"username": username, "password": PASSWORD})
        assert isinstance(consent, httpx.Response) and consent.status_code == 200
        text = page_text(consent)
        assert client["client_name"] in text
        assert "Your email address" in text and "Your name and username" in text
        arrival = browser.submit(consent, button="decision=approve")
        assert isinstance(arrival, Arrival)
        assert arrival.url.startswith(REDIRECT + "?")
        assert arrival.params["state"] == "xyz-state"
        assert arrival.params["iss"] == system.base_url
        code = arrival.params["code"]
        del cookie

        resp = exchange(system, client, code, verifier)
        assert resp.status_code == 200, resp.text
        assert resp.headers["cache-control"] == "no-store"
        tokens = resp.json()
        assert set(tokens) == {
            "access_token",
            "token_type",
            "expires_in",
            "scope",
            "refresh_token",
            "id_token",
        }
        assert tokens["token_type"] == "Bearer" and tokens["scope"] == SCOPE
        verify_id_token(
            system,
            tokens["id_token"],
            client["client_id"],
            user["user_id"],
            tokens["access_token"],
            "n-0S6_WzA2Mj",
        )
        active = introspect(system, tokens["access_token"])
        assert active["active"] is True and active["sub"] == user["user_id"]
        assert active["client_id"] == client["client_id"]

        with system.http() as http:
            info = http.get(
                "/oauth/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
            )
        assert info.status_code == 200, info.text
        claims = info.json()
        assert claims["sub"] == user["user_id"]
        assert claims["email"] == f"{username}@example.com"
        assert claims["preferred_username"] == username

        # Refresh: rotation, a narrower scope, a new ID token without nonce.
        resp = token_request(
            system,
            client,
            {
                "grant_type": "refresh_token",
                "refresh_token": tokens["refresh_token"],
                "scope": "openid email offline_access",
            },
        )
        assert resp.status_code == 200, resp.text
        refreshed = resp.json()
        assert refreshed["scope"] == "openid email offline_access"
        assert refreshed["refresh_token"] != tokens["refresh_token"]
        verify_id_token(
            system,
            refreshed["id_token"],
            client["client_id"],
            user["user_id"],
            refreshed["access_token"],
            None,
        )

        # A second authorization skips consent (remembered) and login (session).
        arrival = browser.go(authorize_url(client["client_id"], pkce_pair()[1]))
        assert isinstance(arrival, Arrival) and "code" in arrival.params

        # prompt=consent shows the page again.
        page = browser.go(authorize_url(client["client_id"], pkce_pair()[1], prompt="consent"))
        assert isinstance(page, httpx.Response) and "consent" in str(page.url)

        # Logout ends the session: the next authorization asks for the password again.
        page = browser.go("/logout")
        assert isinstance(page, httpx.Response) and page.status_code == 200
        done = browser.submit(page)
        assert isinstance(done, httpx.Response) and done.status_code == 200
        page = browser.go(authorize_url(client["client_id"], pkce_pair()[1]))
        assert isinstance(page, httpx.Response) and 'name="password"' in page.text
        arrival = browser.go(authorize_url(client["client_id"], pkce_pair()[1], prompt="none"))
        assert isinstance(arrival, Arrival) and arrival.params["error"] == "login_required"


def test_deny_returns_access_denied(system: RunningSystem) -> None:
    client = new_client(system, "client_secret_basic")
    username = unique("bob")
    system.create_user(username, PASSWORD)
    with Browser(system.base_url) as browser:
        arrival = sign_in(
            browser,
            authorize_url(client["client_id"], pkce_pair()[1], state="s1"),
            username,
            approve=False,
        )
    assert arrival.params == {
        "error": "access_denied",
        "state": "s1",
        "iss": system.base_url,
        **(
            {"error_description": arrival.params["error_description"]}
            if "error_description" in arrival.params
            else {}
        ),
    }
