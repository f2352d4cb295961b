"""Idle gRPC channels over several keepalive intervals.

With a one-second keepalive every client pings its idle connections every
second; the servers must accept that (common.grpc_server.server_keepalive_options)
or they answer GOAWAY ``too_many_pings``, the channels reconnect and /ready
flaps. The system idles for several intervals while /ready is polled every
100 ms: no GOAWAY in any process's log (gRPC's keepalive trace shows the pings
were sent, so the quiet is not for want of pings), /ready 200 every time, and
the first request after the idle time, over channels idle all along (token to
clients), succeeds.
"""

from __future__ import annotations

import re
import time

import httpx
import pytest

from tests.e2e.conftest import basic
from tests.faults.conftest import StartFaultSystem

pytestmark = [pytest.mark.e2e, pytest.mark.faults, pytest.mark.slow]

KEEPALIVE_SECONDS = 1
IDLE_SECONDS = 8 * KEEPALIVE_SECONDS
POLL_SECONDS = 0.1

#: What gRPC core logs when a peer sends GOAWAY (too_many_pings above all).
GOAWAY = re.compile(r"goaway|too_many_pings|ENHANCE_YOUR_CALM", re.IGNORECASE)
#: What its keepalive trace logs when a ping on an idle connection was answered
#: ("Keepalive ping cancelled" lines are timers reset by traffic, not pings).
PING_SENT = re.compile(r"Finish keepalive ping")


def test_idle_channels_get_no_goaway_and_ready_never_flaps(
    fault_system: StartFaultSystem,
) -> None:
    fault = fault_system(
        env={
            "OAUTH2_GRPC_KEEPALIVE_SECONDS": str(KEEPALIVE_SECONDS),
            "GRPC_VERBOSITY": "debug",
            "GRPC_TRACE": "http_keepalive",
        }
    )
    client = fault.running.create_client(
        "--name", "idle", "--grant-type", "client_credentials", "--scope", "api"
    )
    auth = {"Authorization": basic(client["client_id"], client["client_secret"])}
    form = {"grant_type": "client_credentials"}
    with fault.running.http() as http:
        assert http.post("/oauth/token", data=form, headers=auth).status_code == 200
        logged_before = {name: len(text) for name, text in fault.logs().items()}
        answers: list[int | str] = []
        idle_until = time.monotonic() + IDLE_SECONDS
        while time.monotonic() < idle_until:
            try:
                answers.append(http.get("/ready").status_code)
            except httpx.HTTPError as exc:
                answers.append(type(exc).__name__)
            time.sleep(POLL_SECONDS)
        after_idle = http.post("/oauth/token", data=form, headers=auth)
    logs = {name: text[logged_before.get(name, 0) :] for name, text in fault.logs().items()}
    goaways = {
        name: [line[:300] for line in text.splitlines() if GOAWAY.search(line)][:3]
        for name, text in logs.items()
    }
    goaways = {name: lines for name, lines in goaways.items() if lines}
    pings = {name: len(PING_SENT.findall(text)) for name, text in logs.items()}
    flaps = [a for a in answers if a != 200]
    report = (
        f"idle {IDLE_SECONDS}s with keepalive {KEEPALIVE_SECONDS}s: /ready polled "
        f"{len(answers)} times, not 200: {flaps}; GOAWAY lines {goaways}; "
        f"keepalive pings traced by process {pings}"
    )
    print("\n" + report)

    assert sum(pings.values()) >= IDLE_SECONDS // KEEPALIVE_SECONDS, (
        f"no keepalive pings seen: the check below would prove nothing\n{report}"
    )
    assert not goaways, report
    assert not flaps, report
    assert after_idle.status_code == 200, after_idle.text
