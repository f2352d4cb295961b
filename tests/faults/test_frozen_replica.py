"""One of three token replicas frozen (SIGSTOP) for 20 s under load.

A replica that stops answering (a stuck process, a partitioned pod) must leave
the gateway's pick list within a few seconds, and calls that timed out on it
be retried once on another: the freeze costs at most 1% of the requests and
none after its first seconds. Thawed (SIGCONT), it serves its share again.
"""

from __future__ import annotations

import time

import pytest

from tests.e2e.conftest import basic
from tests.e2e.test_token_scaling import issued_by
from tests.faults.conftest import StartFaultSystem
from tests.faults.load import Load, Recorder, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.faults, pytest.mark.slow]

REPLICAS = 3
WORKERS = 6
BEFORE_SECONDS = 3.0
FROZEN_SECONDS = 20.0
AFTER_SECONDS = 6.0
#: After this long frozen, not one request may fail.
EJECTED_WITHIN_SECONDS = 5.0
MAX_FAILED_SHARE = 0.01
#: Two replicas of three still serve: the rate while one is frozen stays at least
#: this share of the rate before (a frozen replica that stays in rotation stalls
#: every caller it is given for a whole deadline).
MIN_RATE_SHARE = 0.5


def test_a_frozen_token_replica_costs_at_most_a_few_requests(
    fault_system: StartFaultSystem,
) -> None:
    fault = fault_system(token_replicas=REPLICAS, metrics=True)
    system = fault.running.system
    replicas = list(system.processes["token"])
    assert len(replicas) == REPLICAS
    ports = [system.metrics_ports[proc.pid] for proc in replicas]
    client = fault.running.create_client(
        "--name", "frozen", "--grant-type", "client_credentials", "--scope", "api"
    )
    auth = {"Authorization": basic(client["client_id"], client["client_secret"])}

    def step(rec: Recorder) -> None:
        rec.post("/oauth/token", data={"grant_type": "client_credentials"}, headers=auth)

    duration = BEFORE_SECONDS + FROZEN_SECONDS + AFTER_SECONDS + 10
    with Load(fault.base_url, step, workers=WORKERS, duration=duration) as load:
        time.sleep(BEFORE_SECONDS)
        frozen_at = time.monotonic()
        fault.freeze(replicas[0])
        time.sleep(FROZEN_SECONDS)
        fault.thaw(replicas[0])
        thawed_at = time.monotonic()
        time.sleep(AFTER_SECONDS)
        summary = load.stop()

    frozen = summary.between(frozen_at, thawed_at)
    rate_before = len(summary.between(summary.started, frozen_at)) / BEFORE_SECONDS
    rate_frozen = len(frozen) / FROZEN_SECONDS
    late = summary.between(frozen_at + EJECTED_WITHIN_SECONDS, float("inf"))
    failed_late = [r for r in late if not r.ok]
    share = len(summary.failures) / max(summary.sent, 1)
    slow = sorted((r.latency for r in frozen), reverse=True)[:5]
    report = "\n".join(
        [
            summary.report(f"token replica 1 of {REPLICAS} frozen for {FROZEN_SECONDS:.0f}s"),
            f"  while frozen: {len(frozen)} requests, "
            f"failures {dict(summary.failures_by_status(frozen))}, slowest {slow}",
            f"  requests per second before {rate_before:.0f}, while frozen {rate_frozen:.0f}",
            f"  failed share {share:.2%}; failures sent more than "
            f"{EJECTED_WITHIN_SECONDS:.0f}s into the freeze: {len(failed_late)}",
        ]
    )
    print("\n" + report)

    # Thawed, every replica serves its share again (round_robin over all three).
    before = [issued_by(port) for port in ports]
    with fault.running.http() as http:

        def all_serve() -> bool:
            resp = http.post(
                "/oauth/token", data={"grant_type": "client_credentials"}, headers=auth
            )
            assert resp.status_code == 200, resp.text
            return all(issued_by(p) > b for p, b in zip(ports, before, strict=True))

        took = wait_until(all_serve, timeout=15, interval=0.05, what="all three replicas serve")
    print(f"  all three replicas served again {took:.2f}s after the check began")

    assert summary.sent > 200, f"the load was too thin to count\n{report}"
    assert not summary.step_errors, report
    assert share <= MAX_FAILED_SHARE, report
    assert not failed_late, report
    assert rate_frozen >= MIN_RATE_SHARE * rate_before, report
