"""Resource indicators (RFC 8707) through the gateway, on PostgreSQL + Redis and on
the embedded default: a resource server registered with oauth2ctl; ``resource`` at
the token endpoint (client_credentials), at the authorization endpoint (the code,
then its refresh tokens, stay for it) and at PAR gives access tokens whose ``aud``
is the resource and whose scopes are its own (checked with joserfc); an unknown or
foreign resource is ``invalid_target``; the resource server's own client
introspects the tokens for it, and nobody else's."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.e2e.browser import Arrival, Browser, pkce_pair
from tests.e2e.conftest import RunningSystem, basic
from tests.e2e.test_sign_in import PASSWORD, REDIRECT, exchange, unique

pytestmark = pytest.mark.e2e


def register_api(system: RunningSystem, introspector: str = "") -> str:
    identifier = f"https://{unique('api')}.example.com/v1"
    args = [
        "resource",
        "create",
        "--identifier",
        identifier,
        "--scope",
        "orders:read",
        "--scope",
        "orders:write",
        "--access-token-ttl",
        "300",
    ]
    if introspector:
        args += ["--introspection-client", introspector]
    system.ctl(*args)
    return identifier


def access_claims(system: RunningSystem, token: str) -> dict[str, Any]:
    with system.http() as http:
        keys = KeySet.import_key_set(http.get("/oauth/jwks").json())
    return dict(jwt.decode(token, keys, algorithms=["ES256"]).claims)


def token_request(system: RunningSystem, client: dict[str, Any], **form: Any) -> httpx.Response:
    with system.http() as http:
        return http.post(
            "/oauth/token",
            data=form,
            headers={"Authorization": basic(client["client_id"], client["client_secret"])},
        )


def introspect_as(system: RunningSystem, client: dict[str, Any], token: str) -> dict[str, Any]:
    with system.http() as http:
        resp = http.post(
            "/oauth/introspect",
            data={"token": token},
            headers={"Authorization": basic(client["client_id"], client["client_secret"])},
        )
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def test_client_credentials_for_a_resource(system: RunningSystem) -> None:
    api_client = system.create_client(
        "--name", unique("Orders API"), "--grant-type", "client_credentials", "--scope", "none"
    )
    identifier = register_api(system, introspector=api_client["client_id"])
    service = system.create_client(
        "--name",
        unique("Shop"),
        "--grant-type",
        "client_credentials",
        "--scope",
        "orders:read profile",
    )
    resp = token_request(system, service, grant_type="client_credentials", resource=identifier)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["scope"] == "orders:read" and body["expires_in"] == 300
    claims = access_claims(system, body["access_token"])
    assert claims["aud"] == identifier and claims["scope"] == "orders:read"

    # Without a resource: today's default audience.
    plain = token_request(system, service, grant_type="client_credentials").json()
    assert access_claims(system, plain["access_token"])["aud"] == system.base_url

    # The resource server's client sees the token for it; another client does not.
    seen = introspect_as(system, api_client, body["access_token"])
    assert seen["active"] is True and seen["aud"] == identifier
    stranger = system.create_client(
        "--name", unique("Stranger"), "--grant-type", "client_credentials", "--scope", "x"
    )
    assert introspect_as(system, stranger, body["access_token"]) == {"active": False}

    for resource, status in [
        ("https://unknown.example.com/", 400),
        ("not-a-uri", 400),
    ]:
        refused = token_request(system, service, grant_type="client_credentials", resource=resource)
        assert (refused.status_code, refused.json()["error"]) == (status, "invalid_target")
    other = register_api(system)
    # A client registered with none of the resource's scopes may not use it.
    outsider = system.create_client(
        "--name", unique("Outsider"), "--grant-type", "client_credentials", "--scope", "profile"
    )
    refused = token_request(system, outsider, grant_type="client_credentials", resource=other)
    assert (refused.status_code, refused.json()["error"]) == (400, "invalid_target")


def test_a_code_and_its_refresh_tokens_are_for_the_resource(system: RunningSystem) -> None:
    identifier = register_api(system)
    client = system.create_client(
        "--name",
        unique("Orders App"),
        "--grant-type",
        "authorization_code",
        "--grant-type",
        "refresh_token",
        "--redirect-uri",
        REDIRECT,
        "--scope",
        "openid offline_access orders:read",
    )
    username = unique("quinn")
    system.create_user(username, PASSWORD)
    verifier, challenge = pkce_pair()
    query = {
        "response_type": "code",
        "client_id": client["client_id"],
        "redirect_uri": REDIRECT,
        "scope": "openid offline_access orders:read",
        "state": "rs",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "resource": identifier,
    }
    with Browser(system.base_url) as browser:
        login = browser.go("/oauth/authorize?" + urlencode(query))
        assert isinstance(login, httpx.Response) and login.status_code == 200
        consent = browser.submit(login, {"username": username, "password": PASSWORD})
        assert isinstance(consent, httpx.Response)
        arrival = browser.submit(consent, button="decision=approve")
        assert isinstance(arrival, Arrival) and "code" in arrival.params, arrival

        # An unknown resource is invalid_target at the redirect URI.
        refused = browser.go(
            "/oauth/authorize?" + urlencode(query | {"resource": "https://nope.example/"})
        )
        assert isinstance(refused, Arrival)
        assert refused.params["error"] == "invalid_target"

    tokens = exchange(system, client, arrival.params["code"], verifier).json()
    assert tokens["scope"] == "orders:read" and "id_token" in tokens
    assert access_claims(system, tokens["access_token"])["aud"] == identifier
    refreshed = token_request(
        system, client, grant_type="refresh_token", refresh_token=tokens["refresh_token"]
    )
    assert refreshed.status_code == 200, refreshed.text
    assert access_claims(system, refreshed.json()["access_token"])["aud"] == identifier
    # A refresh token is not widened to another resource.
    other = register_api(system)
    wider = token_request(
        system,
        client,
        grant_type="refresh_token",
        refresh_token=refreshed.json()["refresh_token"],
        resource=other,
    )
    assert (wider.status_code, wider.json()["error"]) == (400, "invalid_target")


def test_a_pushed_request_for_a_resource(system: RunningSystem) -> None:
    identifier = register_api(system)
    client = system.create_client(
        "--name",
        unique("Pushed Orders"),
        "--grant-type",
        "authorization_code",
        "--redirect-uri",
        REDIRECT,
        "--scope",
        "orders:read",
    )
    _, challenge = pkce_pair()
    form = {
        "response_type": "code",
        "redirect_uri": REDIRECT,
        "scope": "orders:read",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    auth = {"Authorization": basic(client["client_id"], client["client_secret"])}
    with system.http() as http:
        good = http.post("/oauth/par", data=form | {"resource": identifier}, headers=auth)
        assert good.status_code == 201, good.text
        bad = http.post(
            "/oauth/par", data=form | {"resource": "https://nope.example/"}, headers=auth
        )
    assert (bad.status_code, bad.json()["error"]) == (400, "invalid_target")
