"""What an operator changes about a client takes back what it had:
rotating its secret, removing one of its scopes or disabling it makes its old
refresh token invalid_grant and its old access token inactive, through the
gateway; userinfo refuses a token that carries no user; the admin API applies
the registration's redirect URI policy and refuses short imported secrets."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.e2e.admin_support import AdminApi, client_token
from tests.e2e.browser import pkce_pair
from tests.e2e.conftest import RunningSystem, basic
from tests.e2e.test_registration import register
from tests.e2e.test_sign_in import exchange, introspect, new_client, token_request
from tests.e2e.test_sign_in_rejections import code_for, person  # noqa: F401 - a fixture

pytestmark = pytest.mark.e2e


def signed_in(system: RunningSystem, client: dict[str, Any], username: str) -> dict[str, Any]:
    verifier, challenge = pkce_pair()
    resp = exchange(system, client, code_for(system, client, username, challenge), verifier)
    assert resp.status_code == 200, resp.text
    tokens: dict[str, Any] = resp.json()
    assert introspect(system, tokens["access_token"])["active"] is True
    return tokens


def refreshed(system: RunningSystem, client: dict[str, Any], refresh_token: str) -> Any:
    return token_request(
        system, client, {"grant_type": "refresh_token", "refresh_token": refresh_token}
    )


def next_second() -> None:
    """Token times (iat) are whole seconds and a not-before kills every token issued
    at or before it: a token issued in the very second of the change dies too."""
    time.sleep(int(time.time()) + 1.05 - time.time())


def test_rotating_the_secret_revokes(system: RunningSystem, person: str) -> None:  # noqa: F811
    client = new_client(system, "client_secret_basic")
    tokens = signed_in(system, client, person)
    with AdminApi(system) as api:
        rotated = api.ok("POST", f"/clients/{client['client_id']}/secret")
    client = {**client, "client_secret": rotated["client_secret"]}

    resp = refreshed(system, client, tokens["refresh_token"])
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"] == "invalid_grant"
    assert introspect(system, tokens["access_token"]) == {"active": False}
    # The new secret works, and what it obtains stays valid.
    next_second()
    fresh = signed_in(system, client, person)
    assert refreshed(system, client, fresh["refresh_token"]).status_code == 200


def test_removing_a_scope_revokes(system: RunningSystem, person: str) -> None:  # noqa: F811
    client = new_client(system, "client_secret_basic")
    tokens = signed_in(system, client, person)
    with AdminApi(system) as api:
        updated = api.ok(
            "PATCH", f"/clients/{client['client_id']}", json={"scope": "openid offline_access"}
        )
    assert updated["scope"] == "openid offline_access"
    resp = refreshed(system, client, tokens["refresh_token"])
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_grant", resp.text
    assert introspect(system, tokens["access_token"]) == {"active": False}


def test_renaming_revokes_nothing(system: RunningSystem, person: str) -> None:  # noqa: F811
    client = new_client(system, "client_secret_basic")
    tokens = signed_in(system, client, person)
    with AdminApi(system) as api:
        api.ok("PATCH", f"/clients/{client['client_id']}", json={"client_name": "Renamed"})
    assert introspect(system, tokens["access_token"])["active"] is True
    assert refreshed(system, client, tokens["refresh_token"]).status_code == 200


def test_disabling_revokes(system: RunningSystem, person: str) -> None:  # noqa: F811
    client = new_client(system, "client_secret_basic")
    tokens = signed_in(system, client, person)
    client_id = client["client_id"]
    system.ctl("client", "disable", client_id)

    # Disabled: the client itself is refused (RFC 6749 section 5.2).
    resp = refreshed(system, client, tokens["refresh_token"])
    assert resp.status_code == 401 and resp.json()["error"] == "invalid_client", resp.text
    assert introspect(system, tokens["access_token"]) == {"active": False}
    # Enabled again, what it held before stays revoked.
    system.ctl("client", "enable", client_id)
    resp = refreshed(system, client, tokens["refresh_token"])
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_grant", resp.text
    assert introspect(system, tokens["access_token"]) == {"active": False}


def test_a_disabled_backend_gets_no_token(system: RunningSystem) -> None:
    svc = system.create_client("--name", "svc-off", "--grant-type", "client_credentials")
    token = client_token(system, svc["client_id"], svc["client_secret"])
    system.ctl("client", "disable", svc["client_id"])
    assert introspect(system, token) == {"active": False}
    with system.http() as http:
        resp = http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": basic(svc["client_id"], svc["client_secret"])},
        )
    assert resp.status_code == 401 and resp.json()["error"] == "invalid_client"


def test_userinfo_refuses_a_token_without_a_user(system: RunningSystem) -> None:
    svc = system.create_client(
        "--name", "svc-openid", "--grant-type", "client_credentials", "--scope", "openid"
    )
    token = client_token(system, svc["client_id"], svc["client_secret"], "openid")
    with system.http() as http:
        resp = http.get("/oauth/userinfo", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 401, resp.text
    assert resp.json()["error"] == "invalid_token"
    challenge = resp.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="oauth2"') and 'error="invalid_token"' in challenge
    assert resp.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"redirect_uris": ["javascript:alert(document.cookie)"]}, "invalid_redirect_uri"),
        ({"redirect_uris": ["http://rp.example/callback"]}, "invalid_redirect_uri"),
        ({"redirect_uris": ["https://rp.example@evil.example/cb"]}, "invalid_redirect_uri"),
        ({"client_secret": "0123456789"}, "invalid_request"),
        ({"client_id": "7d444840-9dc0-11d1-b245-5ffdce74fad2"}, "invalid_request"),
    ],
)
def test_admin_api_applies_the_same_policy(
    system: RunningSystem, body: dict[str, Any], error: str
) -> None:
    with AdminApi(system) as api:
        resp = api.http.post("/clients", json=body)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"] == error
    assert len(resp.content) < 1024


def test_an_rfc7592_update_that_drops_a_scope_revokes(system: RunningSystem) -> None:
    """The registrant's own update (RFC 7592 section 2.2), through the admin service;
    allowed_cors_origins is registration metadata (an extension, as Hydra's)."""
    metadata = {
        "client_name": "Self-made",
        "grant_types": ["client_credentials"],
        "scope": "openid profile",
        "allowed_cors_origins": ["HTTPS://SPA.example:443"],
    }
    resp = register(system, metadata)
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["allowed_cors_origins"] == ["https://spa.example"]
    client_id, secret = body["client_id"], body["client_secret"]
    token = client_token(system, client_id, secret)
    auth = {"Authorization": f"Bearer {body['registration_access_token']}"}
    with system.http() as http:
        kept = http.put(
            f"/oauth/register/{client_id}",
            json={**metadata, "client_id": client_id, "client_name": "Renamed"},
            headers=auth,
        )
        assert kept.status_code == 200, kept.text
        assert introspect(system, token)["active"] is True
        dropped = http.put(
            f"/oauth/register/{client_id}",
            json={**metadata, "client_id": client_id, "scope": "openid"},
            headers=auth,
        )
        assert dropped.status_code == 200, dropped.text
    assert dropped.json()["scope"] == "openid"
    assert introspect(system, token) == {"active": False}
