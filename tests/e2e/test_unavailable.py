"""A stopped clients service gives temporarily_unavailable (503) at the gateway,
not a hang or a 500, and the system recovers when it is back. With Redis, a client
the token service authenticated before is still served from its cache:
no change of a client can be made while the clients service is down."""

from __future__ import annotations

import time

import pytest

from tests.e2e.conftest import RunningSystem, basic

pytestmark = pytest.mark.e2e


@pytest.mark.slow  # long waits: make test-slow and CI run it
def test_clients_service_down_then_back(system: RunningSystem) -> None:
    client = system.create_client(
        "--name", "outage", "--grant-type", "client_credentials", "--scope", "api"
    )
    auth = {"Authorization": basic(client["client_id"], client["client_secret"])}
    other = system.create_client(
        "--name", "outage-new", "--grant-type", "client_credentials", "--scope", "api"
    )
    unseen = {"Authorization": basic(other["client_id"], other["client_secret"])}
    form = {"grant_type": "client_credentials"}
    with system.http() as http:
        assert http.post("/oauth/token", data=form, headers=auth).status_code == 200
        system.system.stop("clients")
        try:
            if system.mode == "postgres":
                resp = http.post("/oauth/token", data=form, headers=auth)
                assert resp.status_code == 200, resp.text
            started = time.monotonic()
            resp = http.post("/oauth/token", data=form, headers=unseen)
            elapsed = time.monotonic() - started
            assert resp.status_code == 503, resp.text
            assert resp.json() == {
                "error": "temporarily_unavailable",
                "error_description": "A service this request needs is unavailable; retry later",
            }
            assert resp.headers["cache-control"] == "no-store"
            assert elapsed < 8, f"took {elapsed:.1f}s: the deadline did not hold"
            assert http.get("/ready").status_code == 503
        finally:
            system.system.start("clients")
        deadline = time.monotonic() + 20
        while True:
            resp = http.post("/oauth/token", data=form, headers=unseen)
            if resp.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert resp.status_code == 200, resp.text
        assert http.get("/ready").status_code == 200
