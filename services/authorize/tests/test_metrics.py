"""Authorize service metrics: sign-ins by outcome."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from common.errors import AccessDenied, Overloaded, SlowDown, TemporarilyUnavailable
from services.authorize.metrics import counting_login


def logins(outcome: str) -> float:
    return REGISTRY.get_sample_value("oauth2_logins_total", {"outcome": outcome}) or 0.0


def test_every_outcome_is_exported_from_the_start() -> None:
    for outcome in ("success", "failure", "locked", "overloaded"):
        assert REGISTRY.get_sample_value("oauth2_logins_total", {"outcome": outcome}) is not None


def test_sign_ins_are_counted_by_outcome() -> None:
    outcomes = ("success", "failure", "locked", "overloaded")
    before = {outcome: logins(outcome) for outcome in outcomes}
    with counting_login():
        pass
    with counting_login() as attempt:
        attempt.made = False  # an expired interaction: no credentials were checked
    with pytest.raises(AccessDenied), counting_login():
        raise AccessDenied("Invalid username or password")
    with pytest.raises(SlowDown), counting_login():
        raise SlowDown("Too many failed sign-in attempts")
    with pytest.raises(SlowDown), counting_login():
        raise SlowDown("Too many failed sign-in attempts")
    with pytest.raises(TemporarilyUnavailable), counting_login():
        raise TemporarilyUnavailable()  # not an outcome of the attempt
    with pytest.raises(Overloaded), counting_login():
        raise Overloaded(retry_after=1)  # refused before any password was looked at
    after = {outcome: logins(outcome) for outcome in before}
    assert {k: after[k] - before[k] for k in before} == {
        "success": 1,
        "failure": 1,
        "locked": 2,
        "overloaded": 1,
    }
