"""The pure parts of bench/sizing.py: what it parses and how it adds replicas up.
Not in testpaths, like bench/test_token_endpoint.py:
``.venv/bin/python -m pytest -q -p no:cacheprovider bench``. No timing here."""

from __future__ import annotations

import os

import pytest

from bench.sizing import (
    argon2_cost,
    by_process,
    parse_scaling,
    percentile,
    signin_per_core,
    vm_rss_kib,
)
from bench.token_endpoint import CouldNotRun


def test_scaling_pairs_are_token_replicas_by_gateway_workers() -> None:
    assert parse_scaling("1x1, 2x1,1x2,") == [(1, 1), (2, 1), (1, 2)]


@pytest.mark.parametrize("text", ["", "2", "0x1", "1x0", "2*1", "ax1"])
def test_a_bad_scaling_setting_stops_the_run(text: str) -> None:
    with pytest.raises(CouldNotRun, match="SIZING_SCALING"):
        parse_scaling(text)


def test_replicas_are_added_up_under_their_service_in_the_process_order() -> None:
    figures = {"token#2": 0.25, "admin": 0.0, "gateway": 1.0, "token": 0.5, "token#3": 0.25}
    summed = by_process(figures)
    assert summed == {"gateway": 1.0, "token": 1.0, "admin": 0.0}
    assert list(summed) == ["gateway", "token", "admin"]


def test_vm_rss_is_read_from_a_status_text() -> None:
    status = "Name:\tpython\nVmPeak:\t  999 kB\nVmRSS:\t  123456 kB\nRssAnon:\t 1 kB\n"
    assert vm_rss_kib(status) == 123456
    assert vm_rss_kib("Name:\tzombie\nState:\tZ (zombie)\n") == 0
    with open(f"/proc/{os.getpid()}/status") as own:
        assert vm_rss_kib(own.read()) > 0


def test_nearest_rank_percentiles_in_milliseconds() -> None:
    latencies = [i / 1000 for i in range(1, 101)]  # 1..100 ms
    assert percentile(latencies, 0.5) == pytest.approx(50)
    assert percentile(latencies, 0.99) == pytest.approx(99)
    assert percentile([0.2], 0.99) == pytest.approx(200)
    assert percentile([], 0.5) == 0.0


def test_sign_ins_per_core_come_from_cpu_seconds_per_1000() -> None:
    sign_in = {
        "cpu_seconds_per_1000": {"gateway": 10.0, "authorize": 190.0},
        "cpu_seconds_per_1000_total": 200.0,
    }
    per_core = signin_per_core(sign_in, {"verifications_per_cpu_second": 6.5})
    assert per_core["per_authorize_core"] == pytest.approx(1000 / 190)
    assert per_core["per_core_all_processes"] == pytest.approx(5.0)
    assert per_core["argon2_alone_per_core"] == 6.5


def test_the_argon2_cost_is_the_defaults_unless_given() -> None:
    assert argon2_cost({}) == {"time_cost": 3, "memory_cost": 65_536, "parallelism": 4}
    given = {"OAUTH2_ARGON2_MEMORY_COST": "19456", "OAUTH2_ARGON2_TIME_COST": "2"}
    assert argon2_cost(given) == {"time_cost": 2, "memory_cost": 19_456, "parallelism": 4}
    with pytest.raises(CouldNotRun, match="OAUTH2_ARGON2_PARALLELISM"):
        argon2_cost({"OAUTH2_ARGON2_PARALLELISM": "four"})
