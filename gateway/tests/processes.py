"""The gateway as a process of its own (``python -m gateway``), for the tests of
what only a real process shows: several uvicorn workers, their metrics, their
protocol class."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx


def gateway_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """This environment without any OAUTH2_*/PROMETHEUS* setting or Redis, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OAUTH2_", "PROMETHEUS"))}
    env.pop("REDIS_URL", None)
    env.update({"OAUTH2_DATA_DIR": str(tmp_path), "OAUTH2_LOG_LEVEL": "WARNING", **extra})
    return env


@contextlib.contextmanager
def gateway_process(env: dict[str, str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    """The gateway started with ``env``, once GET /health on ``port`` answers 200;
    stopped (SIGTERM, and waited for) afterwards."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "the gateway did not start"
            time.sleep(0.2)
        yield proc
    finally:
        proc.terminate()
        proc.wait(20)
