"""schemathesis against /openapi.json of a running gateway: no 5xx, and every
response matches the documented status codes, content types and schemas.

It runs against a system of its own (embedded default): fuzzing rotates keys and
deletes what it finds, which must not disturb the other flows.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.admin_support import admin_token
from tests.e2e.conftest import RunningSystem, base_env, start_system

#: Minutes of the suite's time: make test-slow (and CI) runs it, make test does not.
pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SCHEMATHESIS = str(Path(sys.executable).with_name("st"))
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
    ]
)


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSystem]:
    data_dir = tmp_path_factory.mktemp("fuzz")
    # A fuzzer is a flood from one address; the limits would answer most of it with 429.
    env = {**base_env(data_dir), "OAUTH2_RATE_LIMITS_ENABLED": "false"}
    running = start_system(env, data_dir, "embedded")
    yield running
    running.system.stop_all()


@pytest.mark.parametrize("listener", ["public", "admin"])
def test_schemathesis_finds_no_server_errors_and_no_schema_violations(
    fuzz_target: RunningSystem, listener: str
) -> None:
    """Each listener's document against that listener (the admin API is on the admin one)."""
    token = admin_token(fuzz_target)
    base_url = fuzz_target.base_url if listener == "public" else fuzz_target.admin_url
    result = subprocess.run(
        [
            SCHEMATHESIS,
            "run",
            f"{base_url}/openapi.json",
            "--checks",
            CHECKS,
            "--header",
            f"Authorization: Bearer {token}",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-time",
            "60",
            # Reproducible in CI; set SCHEMATHESIS_SEED to explore other inputs.
            "--seed",
            os.environ.get("SCHEMATHESIS_SEED", "20261130"),
            "--max-redirects",
            "0",
            "--request-timeout",
            "10",
            # One worker: CPython 3.11.7's ast.parse is not thread-safe (gh-106905), and
            # hypothesis parses lambdas while schemathesis generates cases.
            "--workers",
            "1",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    tail = (result.stdout + result.stderr)[-6000:]
    assert result.returncode == 0, tail
    assert "passed" in result.stdout.lower() or "no issues found" in result.stdout.lower(), tail
    assert not fuzz_target.system.exited(), "a process died during fuzzing"
