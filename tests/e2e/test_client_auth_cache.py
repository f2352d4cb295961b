"""The token service's cache of client authentications never outlives a
change: with two token replicas, each serving the client from its cache, a rotated
secret, a narrowed grant or scope, a disabled and a deleted client are refused at
the token endpoint on the very next request, through either replica, whichever
way the change was made (admin API, oauth2ctl, RFC 7592). PostgreSQL and Redis,
the only configuration with the cache."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.admin_support import AdminApi
from tests.e2e.conftest import RunningSystem, start_replicated
from tests.e2e.test_registration import register

pytestmark = pytest.mark.e2e

REPLICAS = 2
#: Requests after each change: round_robin over two replicas sends several to each.
REQUESTS = 8
FORM = {"grant_type": "client_credentials"}


@pytest.fixture(scope="module")
def cached(request: pytest.FixtureRequest) -> Iterator[RunningSystem]:
    # A long backstop, so that only the generation can explain a refusal. Unary
    # calls from the gateway: round_robin then spreads every few requests over both
    # replicas, where the multiplexed streams (two, each on one replica for up to 20 s)
    # could both sit on one replica through a test.
    running = start_replicated(
        request,
        "authcache",
        REPLICAS,
        {"OAUTH2_CLIENT_AUTH_CACHE_SECONDS": "600", "OAUTH2_GRPC_MULTIPLEX_METHODS": ""},
    )
    yield running
    running.system.stop_all()


def counter(port: int, name: str, label: str, value: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and sample.labels.get(label) == value
    )


def cache_hits(port: int) -> float:
    return counter(port, "oauth2_token_client_auth_cache_lookups_total", "result", "hit")


def issued(port: int) -> float:
    return counter(port, "oauth2_tokens_issued_total", "grant_type", "client_credentials")


class Backend:
    """One client_credentials client and the replicas' metrics ports."""

    def __init__(self, system: RunningSystem, client: dict[str, Any]) -> None:
        self.system = system
        self.client_id: str = client["client_id"]
        self.secret: str = client["client_secret"]
        replicas = system.system.processes["token"]
        assert len(replicas) == REPLICAS
        self.ports = [system.system.metrics_ports[proc.pid] for proc in replicas]

    def answers(self, secret: str | None = None, **extra: str) -> list[tuple[int, str]]:
        """(status, error or "") of REQUESTS token requests in a row."""
        auth = (self.client_id, secret or self.secret)
        out = []
        with httpx.Client(base_url=self.system.base_url, timeout=10) as http:
            for _ in range(REQUESTS):
                resp = http.post("/oauth/token", data={**FORM, **extra}, auth=auth)
                out.append((resp.status_code, resp.json().get("error", "")))
        return out

    def warm(self, secret: str | None = None) -> None:
        """Served, and from the cache on every replica: the change that follows has
        something to invalidate everywhere."""
        before_hits = [cache_hits(port) for port in self.ports]
        before_issued = [issued(port) for port in self.ports]
        assert self.answers(secret) == [(200, "")] * REQUESTS
        hits = [cache_hits(p) - b for p, b in zip(self.ports, before_hits, strict=True)]
        spread = [issued(p) - b for p, b in zip(self.ports, before_issued, strict=True)]
        assert all(count >= 2 for count in spread), f"requests per replica: {spread}"
        assert all(count >= 1 for count in hits), f"cache hits per replica: {hits}"


def new_backend(system: RunningSystem, name: str) -> Backend:
    client = system.create_client(
        "--name", name, "--grant-type", "client_credentials", "--scope", "api other"
    )
    return Backend(system, client)


REFUSED = [(401, "invalid_client")] * REQUESTS


def test_a_rotated_secret_is_refused_at_once(cached: RunningSystem) -> None:
    backend = new_backend(cached, "rotated")
    backend.warm()
    with AdminApi(cached) as api:
        rotated = api.ok("POST", f"/clients/{backend.client_id}/secret")["client_secret"]
    assert backend.answers() == REFUSED
    backend.warm(rotated)  # the new secret works, and is cached in its turn
    assert backend.answers() == REFUSED  # the old one stays refused

    out = cached.ctl("client", "rotate-secret", backend.client_id, "--json").stdout
    assert backend.answers(rotated) == REFUSED
    backend.warm(json.loads(out)["client_secret"])


def test_a_disabled_client_is_refused_at_once(cached: RunningSystem) -> None:
    backend = new_backend(cached, "disabled-api")
    backend.warm()
    with AdminApi(cached) as api:
        api.ok("PATCH", f"/clients/{backend.client_id}", json={"enabled": False})
        assert backend.answers() == REFUSED
        api.ok("PATCH", f"/clients/{backend.client_id}", json={"enabled": True})
    backend.warm()

    cached.ctl("client", "disable", backend.client_id)
    assert backend.answers() == REFUSED


def test_a_narrowed_grant_or_scope_is_refused_at_once(cached: RunningSystem) -> None:
    backend = new_backend(cached, "narrowed")
    backend.warm()
    assert backend.answers(scope="other") == [(200, "")] * REQUESTS
    with AdminApi(cached) as api:
        api.ok("PATCH", f"/clients/{backend.client_id}", json={"scope": "api"})
        assert backend.answers(scope="other") == [(400, "invalid_scope")] * REQUESTS
        backend.warm()
        api.ok(
            "PATCH",
            f"/clients/{backend.client_id}",
            json={
                "grant_types": ["authorization_code"],
                "redirect_uris": ["https://narrowed.example/cb"],
            },
        )
    assert backend.answers() == [(400, "unauthorized_client")] * REQUESTS


def test_a_deleted_client_is_refused_at_once(cached: RunningSystem) -> None:
    for how in ("admin", "oauth2ctl"):
        backend = new_backend(cached, f"deleted-{how}")
        backend.warm()
        if how == "admin":
            with AdminApi(cached) as api:
                api.ok("DELETE", f"/clients/{backend.client_id}", 204)
        else:
            cached.ctl("client", "delete", backend.client_id)
        assert backend.answers() == REFUSED


def test_a_wrong_secret_is_never_served_from_the_cache(cached: RunningSystem) -> None:
    backend = new_backend(cached, "guessed")
    backend.warm()
    assert backend.answers(backend.secret[:-1] + "x") == REFUSED
    backend.warm()


def test_rfc7592_changes_are_refused_at_once(cached: RunningSystem) -> None:
    """A client that manages its own registration (RFC 7592): narrowing its scope
    and deleting itself take effect on the very next token request too."""
    metadata = {
        "client_name": "self-managed",
        "grant_types": ["client_credentials"],
        "scope": "openid profile",
        "token_endpoint_auth_method": "client_secret_basic",
    }
    resp = register(cached, metadata)
    assert resp.status_code == 201, resp.text
    body = resp.json()
    backend = Backend(cached, body)
    backend.warm()
    assert backend.answers(scope="profile") == [(200, "")] * REQUESTS
    auth = {"Authorization": f"Bearer {body['registration_access_token']}"}
    with cached.http() as http:
        update = {**metadata, "client_id": backend.client_id, "scope": "openid"}
        resp = http.put(f"/oauth/register/{backend.client_id}", json=update, headers=auth)
        assert resp.status_code == 200, resp.text
        assert backend.answers(scope="profile") == [(400, "invalid_scope")] * REQUESTS
        backend.warm()
        assert http.delete(f"/oauth/register/{backend.client_id}", headers=auth).status_code == 204
    assert backend.answers() == REFUSED
