"""Token exchange (RFC 8693) through the gateway, on PostgreSQL + Redis and on the
embedded default: a person signs in to a web app for the orders API; the orders
API, a confidential client allowed the grant and one audience, exchanges the token
it was shown for one meant for the inventory API, narrowed, with ``act`` naming
itself (delegation), checked with joserfc; the inventory API introspects it; an
invalid subject token, a target outside the policy and a wider scope get the RFC's
errors; the exchanges are in the audit log."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.e2e.admin_support import AdminApi
from tests.e2e.browser import Browser, pkce_pair
from tests.e2e.conftest import RunningSystem
from tests.e2e.test_resource_indicators import introspect_as, token_request
from tests.e2e.test_sign_in import PASSWORD, REDIRECT, exchange, sign_in, unique

pytestmark = pytest.mark.e2e

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS = "urn:ietf:params:oauth:token-type:access_token"
ID = "urn:ietf:params:oauth:token-type:id_token"


def claims_of(system: RunningSystem, token: str) -> dict[str, Any]:
    with system.http() as http:
        keys = KeySet.import_key_set(http.get("/oauth/jwks").json())
    return dict(jwt.decode(token, keys, algorithms=["ES256"]).claims)


def audit_actions(system: RunningSystem, target: str, action: str) -> list[dict[str, Any]]:
    """The audit events of ``target`` with ``action``, waiting for them to arrive."""
    with AdminApi(system) as api:
        for _ in range(50):
            items = api.ok("GET", "/audit", params={"target": target, "action": action})["items"]
            if items:
                return list(items)
            time.sleep(0.2)
    return []


def test_a_resource_server_exchanges_the_users_token(system: RunningSystem) -> None:
    inventory = system.create_client(
        "--name", unique("Inventory API"), "--grant-type", "client_credentials", "--scope", "x"
    )
    orders = system.create_client(
        "--name",
        unique("Orders API"),
        "--grant-type",
        "client_credentials",
        "--grant-type",
        TOKEN_EXCHANGE,
        "--scope",
        "orders:read",
        "--token-exchange-audience",
        inventory["client_id"],
    )
    identifier = f"https://{unique('orders')}.example.com/"
    system.ctl(
        "resource",
        "create",
        "--identifier",
        identifier,
        "--scope",
        "orders:read",
        "--scope",
        "orders:write",
        "--introspection-client",
        orders["client_id"],
    )
    web = system.create_client(
        "--name",
        unique("Shop"),
        "--grant-type",
        "authorization_code",
        "--redirect-uri",
        REDIRECT,
        "--scope",
        "openid orders:read orders:write",
    )
    username = unique("olga")
    user = system.create_user(username, PASSWORD)
    verifier, challenge = pkce_pair()
    query = {
        "response_type": "code",
        "client_id": web["client_id"],
        "redirect_uri": REDIRECT,
        "scope": "openid orders:read orders:write",
        "state": "te",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "resource": identifier,
    }
    with Browser(system.base_url) as browser:
        arrival = sign_in(browser, "/oauth/authorize?" + urlencode(query), username)
    tokens = exchange(system, web, arrival.params["code"], verifier).json()
    shown = tokens["access_token"]
    assert claims_of(system, shown)["aud"] == identifier

    own = token_request(system, orders, grant_type="client_credentials").json()["access_token"]
    resp = token_request(
        system,
        orders,
        grant_type=TOKEN_EXCHANGE,
        subject_token=shown,
        subject_token_type=ACCESS,
        actor_token=own,
        actor_token_type=ACCESS,
        audience=inventory["client_id"],
        scope="orders:read",
    )
    assert resp.status_code == 200, resp.text
    assert resp.headers["cache-control"] == "no-store"
    body = resp.json()
    assert body["issued_token_type"] == ACCESS and body["token_type"] == "Bearer"
    assert body["scope"] == "orders:read" and "refresh_token" not in body
    claims = claims_of(system, body["access_token"])
    assert claims["sub"] == user["user_id"]
    assert claims["aud"] == inventory["client_id"]
    assert claims["client_id"] == orders["client_id"]
    assert claims["act"] == {"sub": orders["client_id"], "client_id": orders["client_id"]}
    assert claims["exp"] <= claims_of(system, shown)["exp"]

    # The inventory API sees the token it was given.
    seen = introspect_as(system, inventory, body["access_token"])
    assert seen["active"] is True and seen["sub"] == user["user_id"]

    refusals = [
        # Never wider than the subject token (its scope is orders:read orders:write).
        ({"scope": "openid"}, "invalid_scope"),
        # A target the client's policy does not name.
        ({"audience": "https://elsewhere.example/"}, "invalid_target"),
        # Not a token of ours; an access token sent as an ID token.
        ({"subject_token": "forged"}, "invalid_request"),
        ({"subject_token_type": ID}, "invalid_request"),
        ({"subject_token_type": ""}, "invalid_request"),
    ]
    for change, error in refusals:
        form = {
            "grant_type": TOKEN_EXCHANGE,
            "subject_token": shown,
            "subject_token_type": ACCESS,
            "audience": inventory["client_id"],
        }
        form.update(change)
        refused = token_request(system, orders, **{k: v for k, v in form.items() if v})
        assert (refused.status_code, refused.json()["error"]) == (400, error), (change, refused)

    # A client the token was never shown to cannot exchange it.
    stranger = system.create_client(
        "--name",
        unique("Stranger"),
        "--grant-type",
        TOKEN_EXCHANGE,
        "--scope",
        "orders:read",
        "--token-exchange-audience",
        inventory["client_id"],
    )
    refused = token_request(
        system,
        stranger,
        grant_type=TOKEN_EXCHANGE,
        subject_token=shown,
        subject_token_type=ACCESS,
    )
    assert (refused.status_code, refused.json()["error"]) == (400, "invalid_request")

    events = audit_actions(system, f"client:{orders['client_id']}", "token.exchanged")
    outcomes = {event["outcome"] for event in events}
    assert outcomes == {"success", "denied"}, events


def test_a_client_without_the_grant_is_unauthorized(system: RunningSystem) -> None:
    plain = system.create_client(
        "--name", unique("Plain"), "--grant-type", "client_credentials", "--scope", "x"
    )
    own = token_request(system, plain, grant_type="client_credentials").json()["access_token"]
    refused = token_request(
        system, plain, grant_type=TOKEN_EXCHANGE, subject_token=own, subject_token_type=ACCESS
    )
    assert (refused.status_code, refused.json()["error"]) == (400, "unauthorized_client")
    with system.http() as http:
        metadata = http.get("/.well-known/openid-configuration").json()
    assert TOKEN_EXCHANGE in metadata["grant_types_supported"]
