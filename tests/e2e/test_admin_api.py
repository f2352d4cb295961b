"""An operator manages clients, users, grants and keys through /admin/api with an
admin bearer token; the audit log shows each action with its trace id; deleting a
client or disabling a user revokes what it holds, across services."""

from __future__ import annotations

import re
import time
import uuid

import httpx
import pytest

from tests.e2e.admin_support import AdminApi, admin_credentials, client_token
from tests.e2e.browser import pkce_pair
from tests.e2e.conftest import RunningSystem, basic
from tests.e2e.test_sign_in import PASSWORD, exchange, introspect, new_client, token_request
from tests.e2e.test_sign_in_rejections import code_for

pytestmark = pytest.mark.e2e


def test_admin_api_requires_an_admin_token(system: RunningSystem) -> None:
    with httpx.Client(base_url=system.admin_url, timeout=10) as http:
        resp = http.get("/admin/api/clients")
        assert resp.status_code == 401
        assert resp.headers["www-authenticate"].startswith("Bearer")
        assert "error=" not in resp.headers["www-authenticate"]

        resp = http.get("/admin/api/clients", headers={"Authorization": "Bearer not-a-token"})
        assert resp.status_code == 401
        assert 'error="invalid_token"' in resp.headers["www-authenticate"]

        other = system.create_client(
            "--name", "not-admin", "--grant-type", "client_credentials", "--scope", "api"
        )
        token = client_token(system, other["client_id"], other["client_secret"])
        resp = http.get("/admin/api/clients", headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code == 403
        assert 'error="insufficient_scope"' in resp.headers["www-authenticate"]
        assert resp.json()["error"] == "insufficient_scope"


def test_clients_through_the_api(system: RunningSystem) -> None:
    tag = uuid.uuid4().hex[:8]
    with AdminApi(system) as api:
        created = [
            api.ok(
                "POST",
                "/clients",
                201,
                json={
                    "client_name": f"svc-{tag}-{i}",
                    "grant_types": ["client_credentials"],
                    "scope": "api",
                },
            )
            for i in range(3)
        ]
        first = created[0]
        assert (
            first["client_secret"] and first["token_endpoint_auth_method"] == "client_secret_basic"
        )

        page = api.ok("GET", "/clients", params={"search": tag, "page_size": 2})
        assert len(page["items"]) == 2 and page["next_page_token"]
        rest = api.ok(
            "GET",
            "/clients",
            params={"search": tag, "page_size": 2, "page_token": page["next_page_token"]},
        )
        ids = {c["client_id"] for c in page["items"] + rest["items"]}
        assert ids == {c["client_id"] for c in created}
        assert "next_page_token" not in rest

        shown = api.ok("GET", f"/clients/{first['client_id']}")
        assert shown["client_name"] == f"svc-{tag}-0" and "client_secret" not in shown
        updated = api.ok("PATCH", f"/clients/{first['client_id']}", json={"client_name": "renamed"})
        assert updated["client_name"] == "renamed"

        token = client_token(system, first["client_id"], first["client_secret"])
        rotated = api.ok("POST", f"/clients/{first['client_id']}/secret")
        assert rotated["client_secret"] != first["client_secret"]
        with system.http() as http:
            old = http.post(
                "/oauth/token",
                data={"grant_type": "client_credentials"},
                headers={"Authorization": basic(first["client_id"], first["client_secret"])},
            )
        assert old.status_code == 401
        # Rotating the secret revokes what the old one obtained (the client's not-before).
        assert introspect(system, token) == {"active": False}
        # iat has whole seconds: a token of the rotation's second dies with the old ones.
        time.sleep(int(time.time()) + 1.05 - time.time())
        token = client_token(system, first["client_id"], rotated["client_secret"])

        # Deleting the client kills the access token it already holds.
        assert introspect(system, token)["active"] is True
        api.ok("DELETE", f"/clients/{first['client_id']}", 204)
        assert introspect(system, token) == {"active": False}
        resp = api.http.get(f"/clients/{first['client_id']}")
        assert resp.status_code == 404 and resp.json()["error"] == "not_found"

        events = api.ok("GET", "/audit", params={"target": f"client:{first['client_id']}"})["items"]
        actions = [e["action"] for e in events]
        for action in (
            "client.created",
            "client.updated",
            "client.secret_rotated",
            "client.deleted",
        ):
            assert action in actions, actions
        admin_id = admin_credentials(system)["client_id"]
        for event in events:
            assert event["actor"] == f"client:{admin_id}"
            assert event["remote_addr"] == "127.0.0.1"
            assert re.fullmatch(r"[0-9a-f]{32}", event["trace_id"]), event
            assert event["outcome"] == "success"


def test_users_grants_and_disable(system: RunningSystem) -> None:
    username = f"erin-{uuid.uuid4().hex[:8]}"
    with AdminApi(system) as api:
        user = api.ok(
            "POST",
            "/users",
            201,
            json={"username": username, "password": PASSWORD, "email": f"{username}@example.com"},
        )
        assert "password" not in str(user).lower() or "password_hash" not in user
        assert api.ok("GET", f"/users/{user['user_id']}")["username"] == username
        api.ok("PATCH", f"/users/{user['user_id']}", json={"given_name": "Erin"})

        client = new_client(system, "client_secret_basic")
        verifier, challenge = pkce_pair()
        tokens = exchange(
            system, client, code_for(system, client, username, challenge), verifier
        ).json()
        grants = api.ok("GET", "/grants", params={"user_id": user["user_id"]})
        assert [c["client_id"] for c in grants["consents"]] == [client["client_id"]]
        assert len(grants["items"]) == 1
        assert grants["items"][0]["client_id"] == client["client_id"]

        # A second sign-in, then revoke just that family.
        verifier2, challenge2 = pkce_pair()
        second = exchange(
            system, client, code_for(system, client, username, challenge2), verifier2
        ).json()
        families = api.ok("GET", "/grants", params={"user_id": user["user_id"]})["items"]
        assert len(families) == 2
        newest = families[0]["family_id"]
        api.ok("DELETE", f"/grants/{newest}", 204)
        assert introspect(system, second["access_token"]) == {"active": False}
        assert introspect(system, tokens["access_token"])["active"] is True

        # Disabling the user revokes everything it holds: at introspection, at the
        # gateway's own bearer check (userinfo), and at the token endpoint.
        with system.http() as http:
            info = http.get(
                "/oauth/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
            )
            assert info.status_code == 200
            api.ok("PATCH", f"/users/{user['user_id']}", json={"enabled": False})
            info = http.get(
                "/oauth/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
            )
            assert info.status_code == 401
            assert 'error="invalid_token"' in info.headers["www-authenticate"]
        assert introspect(system, tokens["access_token"]) == {"active": False}
        resp = token_request(
            system,
            client,
            {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        )
        assert resp.status_code == 400 and resp.json()["error"] == "invalid_grant"

        api.ok(
            "POST", f"/users/{user['user_id']}/password", 204, json={"password": "another password"}
        )
        api.ok("DELETE", f"/users/{user['user_id']}", 204)
        assert api.http.get(f"/users/{user['user_id']}").status_code == 404

        actions = {
            e["action"]
            for e in api.ok("GET", "/audit", params={"target": f"user:{user['user_id']}"})["items"]
        }
        assert {
            "user.created",
            "user.updated",
            "user.disabled",
            "user.password_set",
            "user.deleted",
        } <= actions, actions

        stats = api.ok("GET", "/stats")
        assert stats["clients"] >= 1 and stats["users"] >= 0
        assert stats["tokens_issued_by_grant_type"]["authorization_code"] >= 2


def test_revoke_all_grants_of_a_client(system: RunningSystem) -> None:
    username = f"finn-{uuid.uuid4().hex[:8]}"
    system.create_user(username, PASSWORD)
    client = new_client(system, "client_secret_basic")
    verifier, challenge = pkce_pair()
    tokens = exchange(
        system, client, code_for(system, client, username, challenge), verifier
    ).json()
    with AdminApi(system) as api:
        revoked = api.ok("DELETE", "/grants", params={"client_id": client["client_id"]})
        assert revoked["revoked"] >= 1
        grants = api.ok("GET", "/grants", params={"client_id": client["client_id"]})
        assert grants["items"] == [] and grants["consents"] == []
    assert introspect(system, tokens["access_token"]) == {"active": False}
    resp = token_request(
        system, client, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    )
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_grant"


def test_keys_listing(system: RunningSystem) -> None:
    with AdminApi(system) as api:
        keys = api.ok("GET", "/keys")["items"]
    algs = {k["alg"] for k in keys if k["status"] == "active"}
    assert {"ES256", "RS256"} <= algs
