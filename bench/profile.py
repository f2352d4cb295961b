"""Where the CPU of one request goes, per process: ``make profile``.

Starts our system as ``make bench`` does (PostgreSQL + Redis by default, a database
and Redis key prefix of its own, removed at the end), puts one wrk load on one
scenario and records the gateway and the token service with ``py-spy record
--native`` meanwhile. Prints each process's CPU-ms per request (from /proc) and
the share of its busy samples per concern (the innermost frame that belongs to a
known library or module decides), which is what docs/performance.md quotes.

Settings (environment): PROFILE_SCENARIO (client_credentials | introspection),
PROFILE_SECONDS (20), BENCH_MODE and the other BENCH_* settings of
bench/token_endpoint.py. ``--keep DIR`` keeps the raw py-spy files (collapsed
stacks, one line per stack) for a closer look.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.token_endpoint import (
    CLK_TCK,
    SCOPE,
    CouldNotRun,
    Side,
    basic,
    create_client,
    get_token,
    our_pids,
    run_wrk,
    snapshot,
    start_ours,
    write_lua,
)

SCENARIO = os.environ.get("PROFILE_SCENARIO", "client_credentials")
SECONDS = int(os.environ.get("PROFILE_SECONDS", "20"))
# PROFILE_SPY=0: only the CPU per request, without py-spy (which slows the processes).
PROFILED = ("gateway", "token") if os.environ.get("PROFILE_SPY", "1") != "0" else ()

# Innermost-first: the first rule whose marker is in a frame names the concern.
# Markers are matched against py-spy's "function (file:line)" frame text.
CONCERNS: list[tuple[str, tuple[str, ...]]] = [
    ("GC", ("gc_collect_main", "collect_generations", "gc_collect")),
    ("JWT signing/verification", ("jwt/", "cryptography/", "libcrypto", "common/jose")),
    ("telemetry", ("opentelemetry", "common/telemetry", "gateway/observability")),
    ("metrics", ("prometheus_client", "common/metrics")),
    ("rate limits + Redis", ("redis/", "common/kv", "gateway/ratelimit", "hiredis")),
    ("database", ("sqlalchemy", "asyncpg", "aiosqlite")),
    ("logging", ("logging/", "common/logs")),
    ("HTTP parsing", ("uvicorn/", "httptools", "gateway/http_timeouts")),
    ("ASGI/routing/forms", ("starlette/", "multipart", "gateway/")),
    ("gRPC + protobuf", ("grpc", "protobuf", "google/", "_pb2", "common/grpc")),
    ("domain (token service)", ("services/token",)),
    ("event loop + sockets", ("uvloop", "asyncio/", "epoll", "sendmsg", "writev", "send (")),
]
IDLE = (
    "epoll_wait",
    "epoll_pwait",
    "futex",
    "pthread_cond_wait",
    "poll (",
    "select (",
    "nanosleep",
)


def concern_of(stack: list[str]) -> str:
    for frame in reversed(stack):  # innermost last in collapsed stacks
        for name, markers in CONCERNS:
            if any(marker in frame for marker in markers):
                return name
    return "other"


def summarize(collapsed: Path) -> tuple[Counter[str], int]:
    shares: Counter[str] = Counter()
    busy = 0
    for line in collapsed.read_text(errors="replace").splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        stack = stack_text.split(";")
        if stack and any(marker in stack[-1] for marker in IDLE):
            continue
        count = int(count_text)
        busy += count
        shares[concern_of(stack)] += count
    return shares, busy


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench/profile.py")
    parser.add_argument("--keep", type=Path, default=None, help="keep py-spy output here")
    args = parser.parse_args()
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if PROFILED and not Path(py_spy).exists():
        print("py-spy is not installed (.venv/bin/uv pip install --python .venv/bin/python py-spy)")
        return 2
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="oauth2-prof-")))
        try:
            system = start_ours(workdir, stack)
            client = create_client(
                system, "--name", "bench", "--grant-type", "client_credentials", "--scope", SCOPE
            )
        except CouldNotRun as exc:
            print(f"could not run: {exc}")
            return 2
        auth = (client["client_id"], client["client_secret"])
        url = system.base_url + "/oauth/token"
        body = "grant_type=client_credentials&scope=" + SCOPE.replace(" ", "+")
        if SCENARIO == "introspection":
            rs = create_client(
                system, "--name", "rs", "--grant-type", "client_credentials", "--introspection"
            )
            body = "token=" + get_token(url, auth)
            auth = (rs["client_id"], rs["client_secret"])
            url = system.base_url + "/oauth/introspect"
        else:
            get_token(url, auth)
        pids = our_pids(system)
        side = Side("ours", url, body, basic(*auth), pids)
        script = workdir / "load.lua"
        write_lua(script, side, SCENARIO)
        run_wrk(script, url, "2s")  # warm-up
        out_dir = args.keep or workdir
        out_dir.mkdir(parents=True, exist_ok=True)
        spies = {
            name: subprocess.Popen(
                [
                    py_spy,
                    "record",
                    "--pid",
                    str(pids[name]),
                    "--native",
                    "--rate",
                    "100",
                    "--duration",
                    str(SECONDS - 4),
                    "--format",
                    "raw",
                    "--output",
                    str(out_dir / f"{name}.txt"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for name in PROFILED
        }
        before = snapshot(pids)
        time.sleep(0)  # py-spy attaches while wrk starts
        result = run_wrk(script, url, f"{SECONDS}s")
        after = snapshot(pids)
        for spy in spies.values():
            spy.wait(timeout=60)
        requests = max(result["requests"], 1.0)
        under = " (under py-spy)" if PROFILED else ""
        print(
            f"{SCENARIO}: {result['requests'] / result['duration_s']:.0f} req/s{under}, "
            f"p99 {result['p99_ms']:.1f} ms, non-2xx {result['non_2xx']:.0f}, "
            f"load average {os.getloadavg()[0]:.1f}"
        )
        for name, pid in pids.items():
            cpu_ms = 1000 * (after.processes[name] - before.processes[name]) / CLK_TCK / requests
            print(f"  {name:<10} {cpu_ms:.3f} CPU-ms/request (pid {pid})")
        for name in PROFILED:
            path = out_dir / f"{name}.txt"
            if not path.exists():
                print(f"  {name}: py-spy wrote nothing (ptrace allowed?)")
                continue
            shares, busy = summarize(path)
            print(f"\n{name}: {busy} busy samples")
            for concern, count in shares.most_common():
                print(f"  {100 * count / busy:5.1f}%  {concern}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
