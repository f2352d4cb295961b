"""Dynamic client registration (RFC 7591) and its management protocol (RFC 7592):
a client registers itself, gets a token with its credentials, reads and updates
its registration with the registration access token, and deletes it; each policy
violation gets the RFC 7591 error."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.admin_support import AdminApi, client_token
from tests.e2e.conftest import RunningSystem
from tests.e2e.test_sign_in import introspect

pytestmark = pytest.mark.e2e


def registration_headers(system: RunningSystem) -> dict[str, str]:
    """Open registration on the embedded default; an initial access token otherwise."""
    if system.mode == "embedded":
        return {}
    with AdminApi(system) as api:
        iat = api.ok("POST", "/registration-tokens", 201, json={"max_uses": 1})
    return {"Authorization": f"Bearer {iat['initial_access_token']}"}


def register(system: RunningSystem, metadata: dict[str, Any]) -> httpx.Response:
    with system.http() as http:
        return http.post("/oauth/register", json=metadata, headers=registration_headers(system))


def test_register_use_read_update_delete(system: RunningSystem) -> None:
    metadata = {
        "client_name": "Self-made",
        "grant_types": ["client_credentials"],
        "scope": "openid",
        "token_endpoint_auth_method": "client_secret_basic",
        "contacts": ["ops@example.com"],
    }
    resp = register(system, metadata)
    assert resp.status_code == 201, resp.text
    assert resp.headers["cache-control"] == "no-store"
    body = resp.json()
    client_id = body["client_id"]
    for name, value in metadata.items():
        assert body[name] == value
    assert body["client_secret"] and body["registration_access_token"]
    assert body["client_secret_expires_at"] == 0 and body["client_id_issued_at"] > 0
    assert body["registration_client_uri"] == f"{system.base_url}/oauth/register/{client_id}"

    token = client_token(system, client_id, body["client_secret"])
    auth = {"Authorization": f"Bearer {body['registration_access_token']}"}
    with system.http() as http:
        read = http.get(f"/oauth/register/{client_id}", headers=auth)
        assert read.status_code == 200 and read.json()["client_name"] == "Self-made"

        update = {**metadata, "client_id": client_id, "client_name": "Renamed"}
        resp = http.put(f"/oauth/register/{client_id}", json=update, headers=auth)
        assert resp.status_code == 200, resp.text
        assert resp.json()["client_name"] == "Renamed"

        wrong = http.get(f"/oauth/register/{client_id}", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_token"

        assert http.delete(f"/oauth/register/{client_id}", headers=auth).status_code == 204
        assert introspect(system, token) == {"active": False}
        gone = http.get(f"/oauth/register/{client_id}", headers=auth)
        assert gone.status_code == 401
    # The admin service ran the deletion cascade and audited it.
    with AdminApi(system) as api:
        events = api.ok("GET", "/audit", params={"target": f"client:{client_id}"})["items"]
    deleted = [e for e in events if e["action"] == "client.deleted"]
    assert [(e["actor"], e["outcome"], e["source"]) for e in deleted] == [
        (f"client:{client_id}", "success", "oauth2-admin")
    ]
    assert deleted[0]["details"]["via"] == "rfc7592"


@pytest.mark.parametrize(
    ("metadata", "error"),
    [
        ({"redirect_uris": ["http://app.example.com/cb"]}, "invalid_redirect_uri"),
        ({"redirect_uris": ["https://app.example.com/cb#frag"]}, "invalid_redirect_uri"),
        ({"redirect_uris": ["myapp:/cb"]}, "invalid_redirect_uri"),
        (
            {"redirect_uris": ["https://app.example.com/cb"], "grant_types": ["password"]},
            "invalid_client_metadata",
        ),
        ({"grant_types": ["client_credentials"], "scope": "admin"}, "invalid_client_metadata"),
        (
            {
                "grant_types": ["client_credentials"],
                "token_endpoint_auth_method": "private_key_jwt",
            },
            "invalid_client_metadata",
        ),
    ],
)
def test_policy_violations(system: RunningSystem, metadata: dict[str, Any], error: str) -> None:
    resp = register(system, metadata)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"] == error
    assert set(resp.json()) <= {"error", "error_description"}


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://127.0.0.1:51004/cb",
        "http://[::1]/cb",
        "com.example.app:/oauth2redirect",
        "https://app.example.com/cb",
    ],
)
def test_native_and_web_redirect_uris_allowed(system: RunningSystem, redirect_uri: str) -> None:
    resp = register(
        system,
        {
            "redirect_uris": [redirect_uri],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code"],
        },
    )
    assert resp.status_code == 201, resp.text
    assert "client_secret" not in resp.json()


# The embedded default registers openly (docs/operators.md): protected registration
# is the PostgreSQL deployment's default.
@pytest.mark.parametrize("system", ["postgres"], indirect=True)
def test_protected_registration_needs_a_valid_initial_access_token(system: RunningSystem) -> None:
    with system.http() as http:
        resp = http.post("/oauth/register", json={"grant_types": ["client_credentials"]})
        assert resp.status_code == 401 and resp.json()["error"] == "invalid_token"
    headers = registration_headers(system)
    with system.http() as http:
        ok = http.post(
            "/oauth/register", json={"grant_types": ["client_credentials"]}, headers=headers
        )
        assert ok.status_code == 201
        used_up = http.post(
            "/oauth/register", json={"grant_types": ["client_credentials"]}, headers=headers
        )
        assert used_up.status_code == 401 and used_up.json()["error"] == "invalid_token"
