"""Delivering logout tokens (OpenID Connect Back-Channel Logout 1.0 section 2.5) to a
real HTTP endpoint on loopback: POSTed as a form, retried on 5xx and silence, not on
a refusal, never blocking the caller, counted and audited."""

from __future__ import annotations

import socket
import time

from prometheus_client import REGISTRY

from services.token.domain.backchannel_logout import LogoutDelivery
from services.token.logout_sender import DELIVERED, FAILED, HttpLogoutSender
from services.token.tests.fakes import RecordingAuditReporter
from tests.logout_receiver import LogoutReceiver


def count(outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "oauth2_backchannel_logout_deliveries_total", {"outcome": outcome}
    )
    return value or 0.0


def delivery(uri: str, token: str = "header.claims.signature") -> LogoutDelivery:  # noqa: S107
    return LogoutDelivery(client_id="rp", uri=uri, logout_token=token)


async def test_a_logout_token_is_posted_as_a_form() -> None:
    audit = RecordingAuditReporter()
    sender = HttpLogoutSender(audit=audit)
    before = count("delivered")
    with LogoutReceiver() as receiver:
        started = time.monotonic()
        sender.send([delivery(receiver.uri("/bcl?tenant=1"), "a.b.c")])
        assert time.monotonic() - started < 0.5  # returns at once
        await sender.drain()
        [received] = receiver.received
    await sender.close()
    assert received.path == "/bcl?tenant=1"
    assert received.content_type == "application/x-www-form-urlencoded"
    assert received.logout_token == "a.b.c"
    assert count("delivered") == before + 1
    assert [event["action"] for event in audit.events] == [DELIVERED]


async def test_a_failing_client_is_tried_again_until_it_answers() -> None:
    sender = HttpLogoutSender(attempts=4, retry_base_seconds=0.05)
    retried = count("retried")
    with LogoutReceiver(statuses=[503, 500]) as receiver:
        sender.send([delivery(receiver.uri())])
        await sender.drain()
        statuses = [item.status for item in receiver.received]
    await sender.close()
    assert statuses == [503, 500, 200]
    assert count("retried") == retried + 2


async def test_a_refusal_is_not_repeated_and_is_audited() -> None:
    audit = RecordingAuditReporter()
    sender = HttpLogoutSender(attempts=4, retry_base_seconds=0.05, audit=audit)
    failed = count("failed")
    with LogoutReceiver(statuses=[400]) as receiver:
        sender.send([delivery(receiver.uri())])
        await sender.drain()
        statuses = [item.status for item in receiver.received]
    await sender.close()
    assert statuses == [400]
    assert count("failed") == failed + 1
    [event] = audit.events
    assert event["action"] == FAILED and event["outcome"] == "failure"
    assert event["details"]["reason"] == "HTTP 400"


async def test_an_unreachable_client_fails_after_every_attempt() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    audit = RecordingAuditReporter()
    sender = HttpLogoutSender(attempts=3, retry_base_seconds=0.01, timeout_seconds=1, audit=audit)
    retried = count("retried")
    sender.send([delivery(f"http://127.0.0.1:{port}/bcl")])
    await sender.drain()
    await sender.close()
    assert count("retried") == retried + 2
    [event] = audit.events
    assert event["action"] == FAILED and event["details"]["reason"] == "no answer"


async def test_beyond_the_pending_bound_deliveries_are_dropped() -> None:
    sender = HttpLogoutSender(max_pending=2, retry_base_seconds=0.01)
    dropped = count("dropped")
    with LogoutReceiver() as receiver:
        sender.send([delivery(receiver.uri(), f"t.{n}.x") for n in range(5)])
        await sender.drain()
        received = len(receiver.received)
    await sender.close()
    assert received == 2
    assert count("dropped") == dropped + 3
