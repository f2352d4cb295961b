"""Pushed authorization requests (RFC 9126) through the gateway, on PostgreSQL +
Redis and on the embedded default: the client pushes its request with its client
authentication, the browser brings only client_id and request_uri, and the code it
comes back with buys tokens (the ID token checked with joserfc). A request_uri is
single use and the pushing client's own; a request the authorization endpoint
would refuse is refused at the push, with its error."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from tests.e2e.browser import Arrival, Browser, page_text, pkce_pair
from tests.e2e.conftest import RunningSystem, basic
from tests.e2e.test_registration import register
from tests.e2e.test_sign_in import (
    PASSWORD,
    REDIRECT,
    SCOPE,
    exchange,
    new_client,
    unique,
    verify_id_token,
)

pytestmark = pytest.mark.e2e

URN = "urn:ietf:params:oauth:request_uri:"


def push(system: RunningSystem, client: dict[str, Any], **params: str) -> httpx.Response:
    """POST /oauth/par with the client's authentication (Basic for confidential
    clients, client_id in the form for public ones)."""
    form = {"response_type": "code", "redirect_uri": REDIRECT, "scope": SCOPE, **params}
    headers = {}
    if client["token_endpoint_auth_method"] == "client_secret_basic":
        headers["Authorization"] = basic(client["client_id"], client["client_secret"])
    else:
        form.setdefault("client_id", client["client_id"])
    with system.http() as http:
        return http.post("/oauth/par", data=form, headers=headers)


def pushed(system: RunningSystem, client: dict[str, Any], **params: str) -> str:
    resp = push(system, client, **params)
    assert resp.status_code == 201, resp.text
    assert resp.headers["cache-control"] == "no-store"
    body = resp.json()
    assert set(body) == {"request_uri", "expires_in"} and body["expires_in"] == 60
    assert body["request_uri"].startswith(URN) and len(body["request_uri"]) > len(URN) + 40
    return str(body["request_uri"])


def authorize_with(client_id: str, request_uri: str) -> str:
    return "/oauth/authorize?" + urlencode({"client_id": client_id, "request_uri": request_uri})


def test_discovery_names_the_endpoint(system: RunningSystem) -> None:
    with system.http() as http:
        metadata = http.get("/.well-known/oauth-authorization-server").json()
    assert metadata["pushed_authorization_request_endpoint"] == system.base_url + "/oauth/par"
    assert metadata["require_pushed_authorization_requests"] is False
    assert metadata["request_uri_parameter_supported"] is True


@pytest.mark.parametrize("auth_method", ["client_secret_basic", "none"])
def test_push_then_sign_in_with_only_the_request_uri(
    system: RunningSystem, auth_method: str
) -> None:
    client = new_client(system, auth_method)
    username = unique("hazel")
    user = system.create_user(username, PASSWORD, f"{username}@example.com")
    verifier, challenge = pkce_pair()
    request_uri = pushed(
        system,
        client,
        state="par-state",
        nonce="par-nonce",
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    with Browser(system.base_url) as browser:
        login = browser.go(authorize_with(client["client_id"], request_uri))
        assert isinstance(login, httpx.Response) and login.status_code == 200, login.text
        consent = browser.submit(login, {"username": username, "password": PASSWORD})
        assert isinstance(consent, httpx.Response) and consent.status_code == 200
        arrival = browser.submit(consent, button="decision=approve")
        assert isinstance(arrival, Arrival) and arrival.url.startswith(REDIRECT + "?")
        assert arrival.params["state"] == "par-state"
        assert arrival.params["iss"] == system.base_url

        resp = exchange(system, client, arrival.params["code"], verifier)
        assert resp.status_code == 200, resp.text
        tokens = resp.json()
        verify_id_token(
            system,
            tokens["id_token"],
            client["client_id"],
            user["user_id"],
            tokens["access_token"],
            "par-nonce",
        )

        # Single use: the same request_uri again is a page, never a redirect.
        again = browser.go(authorize_with(client["client_id"], request_uri))
        assert isinstance(again, httpx.Response) and again.status_code == 400
        assert "request_uri is unknown, expired or already used" in page_text(again)


def test_a_request_uri_is_the_pushing_clients_own(system: RunningSystem) -> None:
    owner = new_client(system, "client_secret_basic")
    other = new_client(system, "client_secret_basic")
    _, challenge = pkce_pair()
    request_uri = pushed(system, owner, code_challenge=challenge, code_challenge_method="S256")
    with Browser(system.base_url) as browser:
        stolen = browser.go(authorize_with(other["client_id"], request_uri))
        assert isinstance(stolen, httpx.Response) and stolen.status_code == 400
        assert "pushed by another client" in page_text(stolen)
        # Brought by the wrong client, it is spent: it has leaked.
        late = browser.go(authorize_with(owner["client_id"], request_uri))
        assert isinstance(late, httpx.Response) and late.status_code == 400
        # Without client_id, or one that is not a pushed request's URN: a page too.
        for url in (
            "/oauth/authorize?" + urlencode({"request_uri": request_uri}),
            authorize_with(owner["client_id"], "https://rp.example/request.jwt"),
        ):
            refused = browser.go(url)
            assert isinstance(refused, httpx.Response) and refused.status_code == 400


def test_what_the_authorization_endpoint_would_refuse_is_refused_at_the_push(
    system: RunningSystem,
) -> None:
    client = new_client(system, "client_secret_basic")
    _, challenge = pkce_pair()
    pkce = {"code_challenge": challenge, "code_challenge_method": "S256"}

    def refused(resp: httpx.Response, status: int, error: str) -> str:
        assert resp.status_code == status, resp.text
        assert resp.headers["cache-control"] == "no-store"
        body = resp.json()
        assert body["error"] == error, body
        return str(body.get("error_description", ""))

    unregistered = push(system, client, redirect_uri="https://evil.example/cb", **pkce)
    assert "redirect_uri" in refused(unregistered, 400, "invalid_request")
    refused(push(system, client, scope="openid admin", **pkce), 400, "invalid_scope")
    refused(push(system, client, response_type="token", **pkce), 400, "unsupported_response_type")
    refused(push(system, client), 400, "invalid_request")  # PKCE required
    refused(push(system, client, request_uri=URN + "x", **pkce), 400, "invalid_request")
    other = new_client(system, "client_secret_basic")
    mismatch = push(system, client, client_id=other["client_id"], **pkce)
    assert mismatch.status_code == 400, mismatch.text
    wrong_secret = {**client, "client_secret": "not-the-secret"}
    assert refused(push(system, wrong_secret, **pkce), 401, "invalid_client") is not None
    with system.http() as http:
        anonymous = http.post("/oauth/par", data={"response_type": "code"})
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "invalid_client"


def test_a_client_may_require_pushed_requests(system: RunningSystem) -> None:
    """RFC 9126 section 6, set by an operator (oauth2ctl, the admin API) or by the
    client at registration: its requests that were not pushed are refused at its
    redirect URI; pushed ones go on."""
    client = system.create_client(
        "--name",
        unique("Strict"),
        "--grant-type",
        "authorization_code",
        "--redirect-uri",
        REDIRECT,
        "--scope",
        SCOPE,
        "--require-par",
    )
    assert client["require_pushed_authorization_requests"] is True
    _, challenge = pkce_pair()
    pkce = {"code_challenge": challenge, "code_challenge_method": "S256"}
    direct = "/oauth/authorize?" + urlencode(
        {
            "response_type": "code",
            "client_id": client["client_id"],
            "redirect_uri": REDIRECT,
            "scope": SCOPE,
            "state": "direct",
            **pkce,
        }
    )
    with Browser(system.base_url) as browser:
        refused = browser.go(direct)
        assert isinstance(refused, Arrival), refused
        assert refused.params["error"] == "invalid_request"
        assert "RFC 9126" in refused.params["error_description"]
        assert refused.params["state"] == "direct"
        login = browser.go(authorize_with(client["client_id"], pushed(system, client, **pkce)))
        assert isinstance(login, httpx.Response) and login.status_code == 200
        assert 'name="password"' in login.text

    # Turned off again with oauth2ctl: the direct request reaches the login page.
    system.ctl("client", "update", client["client_id"], "--no-require-par")
    with Browser(system.base_url) as browser:
        page = browser.go(direct)
        assert isinstance(page, httpx.Response) and page.status_code == 200

    # A client may ask for it when it registers (RFC 7591 with RFC 9126's metadata).
    registered = register(
        system,
        {
            "client_name": "Registers strict",
            "redirect_uris": [REDIRECT],
            "grant_types": ["authorization_code"],
            "token_endpoint_auth_method": "client_secret_basic",
            "require_pushed_authorization_requests": True,
        },
    )
    assert registered.status_code == 201, registered.text
    assert registered.json()["require_pushed_authorization_requests"] is True
    wrong = register(
        system, {"redirect_uris": [REDIRECT], "require_pushed_authorization_requests": "yes"}
    )
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_client_metadata"
