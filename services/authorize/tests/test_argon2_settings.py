"""Argon2id cost settings against OWASP's Password Storage Cheat Sheet minimums:
the defaults meet them; a cheaper cost is still accepted (the tests run on the
cheapest one) but start-up says so, once, naming the settings."""

from __future__ import annotations

import logging

import pytest

from services.authorize.app import warn_about_unsafe_settings
from services.authorize.settings import (
    OWASP_ARGON2ID_MINIMUMS,
    AuthorizeSettings,
    argon2_meets_owasp,
)
from services.authorize.tests.conftest import CHEAP_ARGON2

MIB = 1024


def test_the_defaults_meet_owasp() -> None:
    settings = AuthorizeSettings()
    assert argon2_meets_owasp(settings.argon2_memory_cost, settings.argon2_time_cost)
    assert (settings.argon2_memory_cost, settings.argon2_time_cost) == (64 * MIB, 3)


def test_the_table_is_owasps() -> None:
    assert OWASP_ARGON2ID_MINIMUMS == (
        (46 * MIB, 1),
        (19 * MIB, 2),
        (12 * MIB, 3),
        (9 * MIB, 4),
        (7 * MIB, 5),
    )


@pytest.mark.parametrize(("memory", "passes"), OWASP_ARGON2ID_MINIMUMS)
def test_each_minimum_meets_and_one_less_of_either_does_not(memory: int, passes: int) -> None:
    assert argon2_meets_owasp(memory, passes)
    assert argon2_meets_owasp(memory + 1, passes + 1)
    assert not argon2_meets_owasp(memory - 1, passes)
    assert passes == 1 or not argon2_meets_owasp(memory, passes - 1)


def test_more_passes_do_not_make_up_for_less_than_7_mib() -> None:
    assert not argon2_meets_owasp(7 * MIB - 1, 100)


def _argon2_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.levelno == logging.WARNING and "argon2_memory_cost" in r.getMessage()
    ]


def test_below_the_minimum_is_accepted_with_one_warning_naming_the_settings(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = AuthorizeSettings(**CHEAP_ARGON2)  # accepted: no ValidationError
    with caplog.at_level(logging.WARNING, logger="services.authorize.app"):
        warn_about_unsafe_settings(settings)
    (record,) = _argon2_warnings(caplog)
    assert "argon2_time_cost=1" in record.getMessage()
    assert "OWASP" in record.getMessage()


def test_enough_memory_with_too_few_passes_warns(caplog: pytest.LogCaptureFixture) -> None:
    settings = AuthorizeSettings(argon2_memory_cost=19 * MIB, argon2_time_cost=1)
    with caplog.at_level(logging.WARNING, logger="services.authorize.app"):
        warn_about_unsafe_settings(settings)
    assert len(_argon2_warnings(caplog)) == 1


@pytest.mark.parametrize(
    ("memory", "passes"), [(64 * MIB, 3), (19 * MIB, 2), (46 * MIB, 1), (7 * MIB, 5)]
)
def test_no_warning_at_or_above_a_minimum(
    caplog: pytest.LogCaptureFixture, memory: int, passes: int
) -> None:
    settings = AuthorizeSettings(argon2_memory_cost=memory, argon2_time_cost=passes)
    with caplog.at_level(logging.WARNING, logger="services.authorize.app"):
        warn_about_unsafe_settings(settings)
    assert _argon2_warnings(caplog) == []
