"""The token service scales on its own: three token replicas behind one gateway
(round_robin over every address), requests spread over all three, and one replica
stopped (SIGTERM, as Kubernetes does) during a bounded load of token requests
costs zero failed requests. PostgreSQL and Redis, as a scaled deployment needs."""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import RunningSystem, start_replicated
from tests.e2e.test_sign_in import introspect

#: Minutes of the suite's time: make test-slow (and CI) runs it, make test does not.
pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REPLICAS = 3
LOAD_SECONDS = 6.0
WORKERS = 4


@pytest.fixture(scope="module")
def scaled(request: pytest.FixtureRequest) -> Iterator[RunningSystem]:
    # The load is one client asking as fast as it can: far over the default per-client
    # limit, which is not what this test is about.
    running = start_replicated(request, "scaled", REPLICAS)
    yield running
    running.system.stop_all()


def issued_by(port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "oauth2_tokens_issued_total"
        and sample.labels.get("grant_type") == "client_credentials"
    )


def test_requests_spread_and_a_replica_leaves_without_failures(scaled: RunningSystem) -> None:
    system = scaled.system
    replicas = system.processes["token"]
    assert len(replicas) == REPLICAS
    ports = [system.metrics_ports[proc.pid] for proc in replicas]
    client = scaled.create_client(
        "--name", "scaled", "--grant-type", "client_credentials", "--scope", "api"
    )
    auth = (client["client_id"], client["client_secret"])
    form = {"grant_type": "client_credentials"}

    before = [issued_by(port) for port in ports]
    with scaled.http() as http:
        tokens = []
        for _ in range(30):
            resp = http.post("/oauth/token", data=form, auth=auth)
            assert resp.status_code == 200, resp.text
            tokens.append(resp.json()["access_token"])
    spread = [issued_by(port) - b for port, b in zip(ports, before, strict=True)]
    assert sum(spread) == 30
    assert all(count >= 5 for count in spread), f"requests per replica: {spread}"
    # A token issued by one replica is active at another's introspection.
    assert all(introspect(scaled, t)["active"] for t in tokens[:3])

    outcomes: list[int] = []
    errors: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + LOAD_SECONDS

    def load() -> None:
        with httpx.Client(base_url=scaled.base_url, timeout=10) as http:
            while time.monotonic() < deadline:
                try:
                    status = http.post("/oauth/token", data=form, auth=auth).status_code
                except httpx.HTTPError as exc:
                    with lock:
                        errors.append(repr(exc))
                    continue
                with lock:
                    outcomes.append(status)

    workers = [threading.Thread(target=load) for _ in range(WORKERS)]
    for worker in workers:
        worker.start()
    time.sleep(LOAD_SECONDS / 3)
    stopped_at = len(outcomes)
    system.stop_replica("token", 0)  # SIGTERM: health NOT_SERVING, drain, exit
    for worker in workers:
        worker.join(LOAD_SECONDS + 20)

    failed = [status for status in outcomes if status != 200]
    assert not errors, errors[:3]
    assert not failed, f"{len(failed)} of {len(outcomes)} requests failed: {sorted(set(failed))}"
    assert stopped_at > 20 and len(outcomes) - stopped_at > 20, "the load was too thin to count"
    assert len(system.processes["token"]) == REPLICAS - 1
    with scaled.http() as http:
        assert http.get("/ready").status_code == 200
