"""make bench-startup: seconds from ``make run`` to its banner, first start and warm.

``make run`` is what a new user runs; this times it as they would, in this
checkout, on the embedded default, in a data directory of the run's own (removed
at the end) and on free ports (so that a running ``make run`` does not matter):

- the **first start** makes the gRPC certificates, every SQLite file and schema,
  the signing key and the admin client (``oauth2ctl bootstrap``);
- each **warm start** finds all of that in the data directory.

Each start ends with Ctrl-C (SIGINT to its process group) once the banner is out,
and is waited for. Prints every start's figure, the median warm start and the
target (``WARM_TARGET_SECONDS``, under 10 s), then one JSON line; exits 1 when the
target is missed, 2 when ``make run`` did not start. BENCH_STARTUP_WARM: number of
warm starts (3). The install is not timed here (``make run`` finds ``.venv`` made).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from oauth2ctl.devrun import free_port

ROOT = Path(__file__).resolve().parents[1]
WARM_TARGET_SECONDS = 10.0
#: What devrun prints last in its banner.
BANNER_END = "Ctrl-C stops everything"
#: A start that takes longer than this is a failure to start, not a slow one.
START_TIMEOUT_SECONDS = 120.0


def environment(data_dir: Path) -> dict[str, str]:
    """This machine's environment without settings, the run's data directory and
    free ports for every listener (the issuer follows the gateway's)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("OAUTH2_") and k not in ("DATABASE_URL", "REDIS_URL")
    }
    env["OAUTH2_DATA_DIR"] = str(data_dir)
    env["OAUTH2_PORT"] = str(free_port())
    env["OAUTH2_ADMIN_PORT"] = str(free_port())
    for name in ("authorize", "token", "clients", "admin"):
        env[f"OAUTH2_{name.upper()}_GRPC_PORT"] = str(free_port())
    return env


def one_start(env: dict[str, str]) -> float:
    """Seconds to the banner; then Ctrl-C and wait for everything to stop."""
    started = time.monotonic()
    proc = subprocess.Popen(
        [shutil.which("make") or "make", "-s", "run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    output: list[str] = []
    seconds = None
    deadline = started + START_TIMEOUT_SECONDS
    for line in proc.stdout:
        output.append(line)
        if BANNER_END in line:
            seconds = time.monotonic() - started
            break
        if time.monotonic() > deadline:
            break
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    if seconds is None:
        sys.stderr.write("".join(output[-40:]))
        raise SystemExit(f"make bench-startup: make run did not start (exit {proc.returncode})")
    return seconds


def main() -> int:
    warm_starts = int(os.environ.get("BENCH_STARTUP_WARM", "3"))
    data_dir = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    try:
        env = environment(data_dir / "var")
        first = one_start(env)
        print(f"first start  {first:5.1f} s (certificates, schemas, signing key, admin client)")
        warm = []
        for index in range(warm_starts):
            warm.append(one_start(env))
            print(f"warm start {index + 1} {warm[-1]:5.1f} s")
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    median = statistics.median(warm)
    met = median < WARM_TARGET_SECONDS
    print(
        f"{'met   ' if met else 'MISSED'} warm start (median of {len(warm)}): "
        f"{median:.1f} s (target < {WARM_TARGET_SECONDS:g} s)"
    )
    load = os.getloadavg()[0]
    print(
        json.dumps(
            {
                "bench": "startup",
                "command": "make bench-startup",
                "first_seconds": round(first, 2),
                "warm_seconds": [round(value, 2) for value in warm],
                "warm_median_seconds": round(median, 2),
                "target_warm_seconds": WARM_TARGET_SECONDS,
                "load_average_after": round(load, 2),
                "nproc": os.cpu_count(),
                "ok": met,
            }
        )
    )
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
