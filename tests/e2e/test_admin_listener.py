"""Public and admin surfaces apart (like Hydra's 4444/4445): the admin API, /metrics
and the admin API's OpenAPI document answer on the gateway's admin listener only;
the public listener, the one an ingress exposes, answers 404 for them."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.e2e.admin_support import admin_token
from tests.e2e.conftest import RunningSystem

pytestmark = pytest.mark.e2e

ADMIN_PATHS = [
    ("GET", "/admin/api/clients"),
    ("POST", "/admin/api/clients"),
    ("GET", "/admin/api/users"),
    ("POST", "/admin/api/keys/rotate"),
    ("GET", "/admin/api/audit"),
    ("GET", "/admin/api/stats"),
    ("GET", "/metrics"),
]


def test_the_admin_surface_is_not_on_the_public_port(system: RunningSystem) -> None:
    bearer = {"Authorization": f"Bearer {admin_token(system)}"}
    with system.http() as public:
        for method, path in ADMIN_PATHS:
            answer = public.request(method, path, headers=bearer, json={})
            assert (answer.status_code, answer.json()) == (404, {"error": "not_found"}), path
        document = public.get("/openapi.json").json()
        assert not [path for path in document["paths"] if path.startswith("/admin")]
        assert "/metrics" not in document["paths"]
        assert document["servers"] == [{"url": system.base_url}]


def test_the_admin_surface_is_on_the_admin_port(system: RunningSystem) -> None:
    bearer = {"Authorization": f"Bearer {admin_token(system)}"}
    with httpx.Client(base_url=system.admin_url, timeout=10) as admin:
        listed = admin.get("/admin/api/clients", headers=bearer)
        assert listed.status_code == 200, listed.text
        assert any(c["client_name"] for c in listed.json()["items"])
        assert admin.get("/admin/api/stats", headers=bearer).status_code == 200
        assert admin.get("/admin/api/clients").status_code == 401
        metrics = admin.get("/metrics")
        assert metrics.status_code == 200
        assert "oauth2_http_requests_total" in metrics.text
        document = admin.get("/openapi.json").json()
        assert "/admin/api/clients" in document["paths"] and "/metrics" in document["paths"]
        assert document["servers"] == [{"url": system.admin_url}]
        # And nothing of the public surface.
        assert (
            admin.post("/oauth/token", data={"grant_type": "client_credentials"}).status_code == 404
        )
        assert admin.get("/login").status_code == 404


def test_oauth2ctl_uses_the_admin_port(system: RunningSystem) -> None:
    result = system.ctl("client", "list", "--json")
    assert result.returncode == 0
    wrong = system.ctl("--url", system.base_url, "client", "list", check=False)
    assert wrong.returncode == 1
    assert "not_found" in wrong.stderr


def test_a_denied_admin_call_is_audited(system: RunningSystem) -> None:
    with httpx.Client(base_url=system.admin_url, timeout=10) as admin:
        refused = admin.get("/admin/api/users", headers={"Authorization": "Bearer forged"})
        assert refused.status_code == 401
        bearer = {"Authorization": f"Bearer {admin_token(system)}"}
        events: list[dict[str, object]] = []
        for _ in range(50):  # reported in the background: a moment later
            found = admin.get("/admin/api/audit", headers=bearer, params={"action": "admin.denied"})
            assert found.status_code == 200, found.text
            events = found.json()["items"]
            if events:
                break
            time.sleep(0.1)
    assert events, "no admin.denied event was recorded"
    event = events[0]
    assert event["outcome"] == "denied"
    assert event["details"]["reason"] in ("invalid_token", "no_token")  # type: ignore[index]
    assert event["details"]["path"].startswith("/admin/api/")  # type: ignore[index]
