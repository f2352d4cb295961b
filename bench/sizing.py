"""make sizing: the measured cost of each flow per process, for docs/sizing.md.

A sizing guide (Keycloak's "Concepts for sizing CPU and memory
resources") needs what one request of each kind costs each process, measured with
the processes' own CPU accounting (/proc/<pid>/stat utime+stime, children
included) so that the figures hold on a machine with more cores than this one.
This script starts our five processes on PostgreSQL + Redis exactly as
``make bench`` does (bench/token_endpoint.py: a database and a Redis key prefix of
the run's own, removed at the end; rate limits on but far above the load) and
measures, one after the other:

- ``client_credentials`` (``POST /oauth/token``) and ``introspection`` of one of
  our JWTs: wrk, 2 threads, 32 connections, the body checked by its Lua hook;
- ``sign_in``: one full browser sign-in (bench/signin_driver.py: authorize, the
  login form with a real user's password, consent, the redirect with the code,
  the code exchange), ``SIZING_SIGNIN_CONCURRENCY`` browsers at once;
- ``refresh``: ``grant_type=refresh_token`` with rotation,
  ``SIZING_REFRESH_CHAINS`` chains each sending the token its previous answer
  returned (started from the refresh tokens the sign-ins were given);
- memory: each process's VmRSS idle after start and after that load;
- Argon2id alone (argon2-cffi at the configured cost, then at each of OWASP's
  minimums with one lane; one thread, in this process before anything is
  started): what bounds sign-ins per core;
- scaling: client_credentials with 1 and 2 token replicas and 1 and 2 gateway
  workers (``SIZING_SCALING``: ``TOKENSxWORKERS`` pairs), each on a system of its
  own started on the same database.

It prints tables and one last line of JSON with every figure (``--out FILE``
writes that JSON to a file too; nothing else is written). Exit status: 0, 1 when
an answer was wrong (the figures are then suspect), 2 when it could not run.

Settings (environment): SIZING_DURATION (10s per measurement), SIZING_WARMUP (2s,
discarded, before each wrk measurement and the sign-ins), SIZING_SIGNIN_CONCURRENCY
(4), SIZING_REFRESH_CHAINS (16), SIZING_SCALING (``1x1,2x1,1x2,2x2``),
SIZING_ARGON2_SECONDS (3); OAUTH2_ARGON2_TIME_COST, OAUTH2_ARGON2_MEMORY_COST and
OAUTH2_ARGON2_PARALLELISM (default: the authorize service's defaults) to measure
another Argon2id cost; and bench/token_endpoint.py's BENCH_DATABASE_URL and
BENCH_REDIS_URL. Run from the repository root: ``.venv/bin/python -m bench.sizing``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

from argon2 import PasswordHasher, Type

from bench import token_endpoint as bench
from bench.signin_driver import (
    REDIRECT_URI,
    SIGNIN_SCOPE,
    DriverResult,
    SignInClient,
    run_refresh_chains,
    run_sign_ins,
)
from bench.token_endpoint import (
    CLK_TCK,
    NPROC,
    CouldNotRun,
    Side,
    basic,
    check_introspection,
    create_client,
    get_token,
    measure_round,
    our_env,
    run_cleanly,
    run_wrk,
    snapshot,
    start_ours,
    write_lua,
)
from oauth2ctl.devrun import System
from services.authorize.settings import (
    OWASP_ARGON2ID_MINIMUMS,
    AuthorizeSettings,
    argon2_meets_owasp,
)

DURATION = os.environ.get("SIZING_DURATION", "10s")
WARMUP = os.environ.get("SIZING_WARMUP", "2s")
SIGNIN_CONCURRENCY = int(os.environ.get("SIZING_SIGNIN_CONCURRENCY", "4"))
REFRESH_CHAINS = int(os.environ.get("SIZING_REFRESH_CHAINS", "16"))
SCALING = os.environ.get("SIZING_SCALING", "1x1,2x1,1x2,2x2")
ARGON2_SECONDS = float(os.environ.get("SIZING_ARGON2_SECONDS", "3"))

PROCESS_ORDER = ("gateway", "token", "clients", "authorize", "admin")
FLOWS = ("client_credentials", "introspection", "refresh", "sign_in")
#: The unit of work each flow counts (the CPU figures are per 1000 of them).
UNITS = {
    "client_credentials": "request",
    "introspection": "request",
    "refresh": "request",
    "sign_in": "sign-in",
}
SCOPE = bench.SCOPE
PASSWORD_LENGTH = 24
REPO = Path(__file__).resolve().parents[1]


# --- pure parts (bench/test_sizing.py) ----------------------------------------------


def parse_scaling(text: str) -> list[tuple[int, int]]:
    """``"1x1,2x1"`` -> [(token replicas, gateway workers), ...]."""
    pairs = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        match = re.fullmatch(r"(\d+)x(\d+)", item)
        if match is None or "0" in (match.group(1), match.group(2)):
            raise CouldNotRun(f"SIZING_SCALING: {item!r} is not TOKENSxWORKERS (e.g. 2x1)")
        pairs.append((int(match.group(1)), int(match.group(2))))
    if not pairs:
        raise CouldNotRun("SIZING_SCALING names no configuration")
    return pairs


def by_process(values: dict[str, float]) -> dict[str, float]:
    """Replicas' figures added up under their service's name (``token#2`` is the
    second token replica), in the order gateway, token, clients, authorize, admin."""
    summed: dict[str, float] = {}
    for key, value in values.items():
        name = key.partition("#")[0]
        summed[name] = summed.get(name, 0.0) + value
    return {name: summed[name] for name in PROCESS_ORDER if name in summed} | {
        name: value for name, value in summed.items() if name not in PROCESS_ORDER
    }


def vm_rss_kib(status_text: str) -> int:
    """VmRSS of a /proc/<pid>/status text, in KiB (0 when absent: a zombie)."""
    match = re.search(r"^VmRSS:\s+(\d+)\s+kB", status_text, re.MULTILINE)
    return int(match.group(1)) if match else 0


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (share in 0..1) of seconds, in milliseconds."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


# --- processes ------------------------------------------------------------------------


def all_pids(system: System) -> dict[str, int]:
    """Every process of the system: ``token``, ``token#2``... (a gateway with
    several workers is one process here: its workers are its children, which
    bench.token_endpoint.process_ticks counts)."""
    pids = {}
    for name in PROCESS_ORDER:
        for index, proc in enumerate(system.processes.get(name, [])):
            pids[name if index == 0 else f"{name}#{index + 1}"] = proc.pid
    return pids


def memory_mib(pids: dict[str, int]) -> dict[str, float]:
    """VmRSS of each process and its descendants (gateway workers), in MiB, summed
    per service. Shared pages count in each process that maps them: the sum is
    what a container limit per process has to allow, not the machine's use."""
    children = bench._children_by_parent()
    kib: dict[str, float] = {}
    for key, pid in pids.items():
        stack, total = [pid], 0
        while stack:
            current = stack.pop()
            try:
                total += vm_rss_kib(Path(f"/proc/{current}/status").read_text())
            except OSError:
                pass
            stack.extend(children.get(current, []))
        kib[key] = total
    return {name: value / 1024 for name, value in by_process(kib).items()}


def per_process_memory(pids: dict[str, int]) -> dict[str, float]:
    """VmRSS of one process of each service (the first replica), in MiB: what one
    more replica adds."""
    return memory_mib({name: pid for name, pid in pids.items() if "#" not in name})


def ctl(system: System, *args: str) -> dict[str, Any]:
    executable = Path(sys.executable).with_name("oauth2ctl")
    out = subprocess.run(
        [str(executable), *args, "--json"],
        env=system.common_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if out.returncode != 0:
        raise CouldNotRun(f"oauth2ctl {' '.join(args[:2])} failed: {out.stderr.strip()}")
    return json.loads(out.stdout)  # type: ignore[no-any-return]


# --- measurements ----------------------------------------------------------------------


def datastore_ticks(database: str) -> dict[str, dict[int, int]]:
    """utime+stime of the PostgreSQL backends connected to the run's own database
    (their process title names it) and of the Redis server, by pid. Redis is one
    server for everybody on the machine: its figure is an upper bound of ours."""
    ticks: dict[str, dict[int, int]] = {"postgresql": {}, "redis_upper_bound": {}}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            title = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, UnicodeDecodeError):
            continue
        if title.startswith("postgres:") and f" {database} " in title:
            kind = "postgresql"
        elif title.startswith("redis-server"):
            kind = "redis_upper_bound"
        else:
            continue
        fields = bench._stat_fields(int(entry))
        if fields is not None:
            ticks[kind][int(entry)] = int(fields[11]) + int(fields[12])
    return ticks


def datastore_seconds(
    before: dict[str, dict[int, int]], after: dict[str, dict[int, int]]
) -> dict[str, float]:
    """CPU-seconds between two :func:`datastore_ticks`: a backend that appeared in
    between counts whole, one that ended in between is lost (pools keep theirs)."""
    return {
        kind: sum(t - before[kind].get(pid, 0) for pid, t in after[kind].items()) / CLK_TCK
        for kind in after
    }


def measure_wrk(
    pids: dict[str, int],
    url: str,
    body: str,
    auth: str,
    scenario: str,
    workdir: Path,
    database: str,
) -> dict[str, Any]:
    side = Side("ours", url, body, auth, pids)
    script = workdir / f"sizing-{scenario}.lua"
    write_lua(script, side, scenario)
    if WARMUP not in ("", "0", "0s"):
        run_wrk(script, url, WARMUP)
    stores_before = datastore_ticks(database)
    result = measure_round(side, script, DURATION)
    result["datastore_cpu_seconds"] = datastore_seconds(stores_before, datastore_ticks(database))
    return finish(result, result["requests"], result["requests"], pids)


def measure_driver(
    pids: dict[str, int], drive: Callable[[], DriverResult], database: str
) -> dict[str, Any]:
    """Like bench.token_endpoint.measure_round, for a driver running in this
    process: its own CPU is this process's (RUSAGE_SELF), not a child's."""
    stores_before = datastore_ticks(database)
    before = snapshot(pids)
    own_before = resource.getrusage(resource.RUSAGE_SELF)
    driven = drive()
    own_after = resource.getrusage(resource.RUSAGE_SELF)
    after = snapshot(pids)
    stores = datastore_seconds(stores_before, datastore_ticks(database))
    wall = after.at - before.at
    cpu = {name: (after.processes[name] - before.processes[name]) / CLK_TCK for name in pids}
    driver_cpu = (own_after.ru_utime + own_after.ru_stime) - (
        own_before.ru_utime + own_before.ru_stime
    )
    host_busy = (after.host_busy - before.host_busy) / CLK_TCK
    result: dict[str, Any] = {
        "duration_s": wall,
        "units": driven.units,
        "requests": driven.http_requests,
        "rps": driven.units / wall,
        "p50_ms": percentile(driven.latencies, 0.50),
        "p99_ms": percentile(driven.latencies, 0.99),
        "failures": driven.failures,
        "first_failure": driven.first_failure,
        "cpu_seconds": cpu,
        "datastore_cpu_seconds": stores,
        "server_cores": sum(cpu.values()) / wall,
        "driver_cores": driver_cpu / wall,
        "host_cpu_pct": 100
        * (after.host_busy - before.host_busy)
        / max(after.host_total - before.host_total, 1),
        "others_cores": max(host_busy - sum(cpu.values()) - driver_cpu, 0.0) / wall,
    }
    return finish(result, driven.units, driven.http_requests, pids)


def finish(
    result: dict[str, Any], units: float, http_requests: float, pids: dict[str, int]
) -> dict[str, Any]:
    """CPU-seconds per 1000 units, per service (replicas summed) and in total."""
    cpu = by_process(result["cpu_seconds"])
    per_1000 = {name: 1000 * seconds / max(units, 1) for name, seconds in cpu.items()}
    result["units"] = units
    result["http_requests"] = http_requests
    result["cpu_seconds_per_1000"] = per_1000
    result["cpu_seconds_per_1000_total"] = sum(per_1000.values())
    # Not in the total: the total is what our processes' replicas must provide.
    result["datastore_cpu_seconds_per_1000"] = {
        kind: 1000 * seconds / max(units, 1)
        for kind, seconds in result["datastore_cpu_seconds"].items()
    }
    result["load_average_1m"] = os.getloadavg()[0]
    result["processes"] = len(pids)
    return result


def argon2_alone(
    time_cost: int, memory_cost: int, parallelism: int, seconds: float = ARGON2_SECONDS
) -> dict[str, Any]:
    """Argon2id verifications one after the other on one thread of this process, at
    the configured cost: what one sign-in's password check costs, apart from
    everything around it. argon2-cffi computes the lanes of one hash on threads
    of its own, so wall time may be below CPU time when parallelism > 1."""
    hasher = PasswordHasher(
        time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism, type=Type.ID
    )
    password = secrets.token_urlsafe(PASSWORD_LENGTH)
    password_hash = hasher.hash(password)
    hasher.verify(password_hash, password)  # warm: the first allocation of the memory
    count = 0
    wall_started, cpu_started = time.perf_counter(), time.process_time()
    while time.perf_counter() - wall_started < seconds or count < 3:
        hasher.verify(password_hash, password)
        count += 1
    wall = time.perf_counter() - wall_started
    cpu = time.process_time() - cpu_started
    return {
        "time_cost": time_cost,
        "memory_cost_kib": memory_cost,
        "parallelism": parallelism,
        "verifications": count,
        "wall_ms_per_verification": 1000 * wall / count,
        "cpu_ms_per_verification": 1000 * cpu / count,
        "verifications_per_cpu_second": count / cpu if cpu else 0.0,
        "owasp_minimum_met": argon2_meets_owasp(memory_cost, time_cost),
    }


# --- the run ------------------------------------------------------------------------------


def argon2_cost(environ: Mapping[str, str]) -> dict[str, int]:
    """The Argon2id cost to measure: the authorize service's defaults, or the
    ``OAUTH2_ARGON2_TIME_COST`` / ``_MEMORY_COST`` / ``_PARALLELISM`` given (our_env
    passes no OAUTH2_ variable through, so these are handed on explicitly)."""
    fields = AuthorizeSettings.model_fields
    cost = {}
    for name in ("time_cost", "memory_cost", "parallelism"):
        given = environ.get(f"OAUTH2_ARGON2_{name.upper()}")
        try:
            cost[name] = int(given) if given else int(fields[f"argon2_{name}"].default)
        except ValueError as exc:
            raise CouldNotRun(f"OAUTH2_ARGON2_{name.upper()}: not a number: {given}") from exc
    return cost


def sizing_env(workdir: Path, stack: ExitStack) -> dict[str, str]:
    """bench.token_endpoint.our_env, with every rate limit that the sign-ins meet
    raised too: one address and a few users are the whole load here."""
    env = our_env(workdir, stack)
    env |= {
        f"OAUTH2_RATE_LIMIT_{name}": "100000/s burst 100000"
        for name in (
            "LOGIN_PER_ADDRESS",
            "LOGIN_PER_USER",
            "PAGES_PER_ADDRESS",
            "PUBLIC_PER_ADDRESS",
            "CLIENT_PER_ADDRESS",
        )
    }
    return env


def seconds(duration: str) -> float:
    return bench._seconds(duration)


def run(stack: ExitStack) -> dict[str, Any]:
    scaling = parse_scaling(SCALING)
    cost = argon2_cost(os.environ)
    argon2 = argon2_alone(cost["time_cost"], cost["memory_cost"], cost["parallelism"])
    print_argon2(argon2)
    # What an operator can choose instead: OWASP's equivalent minimums, one lane each.
    owasp = [
        argon2_alone(passes, memory, 1, ARGON2_SECONDS / 3)
        for memory, passes in OWASP_ARGON2ID_MINIMUMS
    ]
    for alternative in owasp:
        print_argon2(alternative)

    workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="oauth2-sizing-")))
    env = sizing_env(workdir, stack) | {
        f"OAUTH2_ARGON2_{name.upper()}": str(value) for name, value in cost.items()
    }
    database = env["DATABASE_URL"].rpartition("/")[2]
    started = time.monotonic()
    system = start_ours(workdir, stack, env=env)
    print(f"# started in {time.monotonic() - started:.0f}s", flush=True)
    pids = all_pids(system)
    time.sleep(2)  # let start-up work (key loading, first connections) settle
    memory_idle = per_process_memory(pids)

    client = create_client(
        system, "--name", "sizing", "--grant-type", "client_credentials", "--scope", SCOPE
    )
    resource_server = create_client(
        system, "--name", "resource-server", "--grant-type", "client_credentials", "--introspection"
    )
    web = create_client(
        system,
        "--name",
        "sizing-web",
        "--grant-type",
        "authorization_code",
        "--grant-type",
        "refresh_token",
        "--redirect-uri",
        REDIRECT_URI,
        "--scope",
        SIGNIN_SCOPE,
        "--auth-method",
        "client_secret_basic",
    )
    signin_client = SignInClient(web["client_id"], web["client_secret"])
    users = []
    for index in range(SIGNIN_CONCURRENCY):
        username, password = f"sizing-{index}", secrets.token_urlsafe(PASSWORD_LENGTH)
        # One argument with "=": a generated password may start with "-".
        ctl(system, "user", "create", "--username", username, f"--password={password}")
        users.append((username, password))

    client_auth = (client["client_id"], client["client_secret"])
    rs_auth = (resource_server["client_id"], resource_server["client_secret"])
    token_url = system.base_url + "/oauth/token"
    intro_url = system.base_url + "/oauth/introspect"
    get_token(token_url, client_auth)
    flows: dict[str, Any] = {}

    flows["client_credentials"] = measure_wrk(
        pids,
        token_url,
        f"grant_type=client_credentials&scope={quote_plus(SCOPE)}",
        basic(*client_auth),
        "client_credentials",
        workdir,
        database,
    )
    print_flow("client_credentials", flows["client_credentials"])

    access_token = get_token(token_url, client_auth)
    check_introspection(intro_url, access_token, rs_auth)
    flows["introspection"] = measure_wrk(
        pids,
        intro_url,
        f"token={access_token}",
        basic(*rs_auth),
        "introspection",
        workdir,
        database,
    )
    print_flow("introspection", flows["introspection"])

    if WARMUP not in ("", "0", "0s"):
        warm = run_sign_ins(
            system.base_url, signin_client, users, seconds(WARMUP), SIGNIN_CONCURRENCY
        )
        if warm.units == 0:
            raise CouldNotRun(f"no sign-in succeeded: {warm.first_failure}")
    signed_in: list[DriverResult] = []

    def sign_ins() -> DriverResult:
        signed_in.append(
            run_sign_ins(
                system.base_url, signin_client, users, seconds(DURATION), SIGNIN_CONCURRENCY
            )
        )
        return signed_in[-1]

    flows["sign_in"] = measure_driver(pids, sign_ins, database)
    print_flow("sign_in", flows["sign_in"])

    refresh_tokens = signed_in[-1].refresh_tokens[-REFRESH_CHAINS:]
    if not refresh_tokens:
        raise CouldNotRun("the sign-ins gave no refresh token to start a chain from")
    flows["refresh"] = measure_driver(
        pids,
        lambda: run_refresh_chains(token_url, signin_client, refresh_tokens, seconds(DURATION)),
        database,
    )
    flows["refresh"]["chains"] = len(refresh_tokens)
    print_flow("refresh", flows["refresh"])

    memory_loaded = per_process_memory(pids)
    print_memory(memory_idle, memory_loaded)

    scaled: list[dict[str, Any]] = []
    for tokens, workers in scaling:
        if (tokens, workers) == (1, 1):
            measured = flows["client_credentials"]
            memory = memory_loaded
        else:
            system.stop_all()
            scaled_env = env | {"OAUTH2_WORKERS": str(workers)}
            system = start_ours(workdir, stack, env=scaled_env, replicas={"token": tokens})
            scaled_pids = all_pids(system)
            get_token(system.base_url + "/oauth/token", client_auth)
            measured = measure_wrk(
                scaled_pids,
                system.base_url + "/oauth/token",
                f"grant_type=client_credentials&scope={quote_plus(SCOPE)}",
                basic(*client_auth),
                "client_credentials",
                workdir,
                database,
            )
            memory = memory_mib(scaled_pids)
        entry = {"token_replicas": tokens, "gateway_workers": workers, "memory_mib": memory}
        entry |= {k: measured[k] for k in SCALING_KEYS}
        scaled.append(entry)
        print_scaling(entry)
    system.stop_all()
    return {
        "argon2_alone": argon2,
        "argon2_owasp_minimums": owasp,
        "flows": flows,
        "memory_mib": {"idle": memory_idle, "after_load": memory_loaded},
        "scaling": scaled,
        "signin_per_core": signin_per_core(flows["sign_in"], argon2),
    }


SCALING_KEYS = (
    "rps",
    "p50_ms",
    "p99_ms",
    "failures",
    "cpu_seconds_per_1000",
    "cpu_seconds_per_1000_total",
    "datastore_cpu_seconds_per_1000",
    "server_cores",
    "host_cpu_pct",
    "others_cores",
    "load_average_1m",
)


def signin_per_core(sign_in: dict[str, Any], argon2: dict[str, Any]) -> dict[str, float]:
    """Sign-ins per second that one core of each kind sustains: authorize's
    (Argon2id is there), every process's together, and Argon2id alone."""
    per_1000 = sign_in["cpu_seconds_per_1000"]
    authorize = per_1000.get("authorize", 0.0)
    total = sign_in["cpu_seconds_per_1000_total"]
    return {
        "per_authorize_core": 1000 / authorize if authorize else 0.0,
        "per_core_all_processes": 1000 / total if total else 0.0,
        "argon2_alone_per_core": argon2["verifications_per_cpu_second"],
    }


# --- report -------------------------------------------------------------------------------


def print_argon2(a: dict[str, Any]) -> None:
    print(
        f"argon2id alone (argon2-cffi, one thread, m={a['memory_cost_kib']} KiB"
        f" t={a['time_cost']} p={a['parallelism']}; OWASP minimum"
        f" {'met' if a['owasp_minimum_met'] else 'NOT met'}): {a['verifications']}"
        f" verifications, {a['cpu_ms_per_verification']:.1f} CPU-ms and"
        f" {a['wall_ms_per_verification']:.1f} ms wall each ="
        f" {a['verifications_per_cpu_second']:.1f} per CPU-second",
        flush=True,
    )


def print_flow(flow: str, r: dict[str, Any]) -> None:
    per_process = "  ".join(f"{name} {v:.3f}" for name, v in r["cpu_seconds_per_1000"].items())
    failures = r.get("failures", 0)
    print(
        f"{flow:18} {r['rps']:8.1f} {UNITS[flow]}s/s  p50 {r['p50_ms']:7.2f} ms"
        f"  p99 {r['p99_ms']:7.2f} ms  failures {failures:.0f}  server"
        f" {r['server_cores']:.2f} cores, host CPU {r['host_cpu_pct']:.0f}%, others"
        f" {r['others_cores']:.2f} cores, load {r['load_average_1m']:.2f}\n"
        f"{'':18} CPU-ms per {UNITS[flow]}: {per_process}"
        f"  total {r['cpu_seconds_per_1000_total']:.3f};  PostgreSQL"
        f" {r['datastore_cpu_seconds_per_1000']['postgresql']:.3f}  Redis (whole server)"
        f" {r['datastore_cpu_seconds_per_1000']['redis_upper_bound']:.3f}",
        flush=True,
    )
    if r.get("first_failure"):
        print(f"{'':18} first failure: {r['first_failure']}", flush=True)


def print_memory(idle: dict[str, float], loaded: dict[str, float]) -> None:
    print(
        "memory (VmRSS MiB, one process of each): "
        + "  ".join(f"{name} {idle[name]:.0f} -> {loaded.get(name, 0.0):.0f}" for name in idle),
        flush=True,
    )


def print_scaling(e: dict[str, Any]) -> None:
    print(
        f"scaling token x{e['token_replicas']} gateway workers x{e['gateway_workers']}:"
        f" {e['rps']:7.0f} req/s  p99 {e['p99_ms']:6.2f} ms  CPU-ms/request"
        f" {e['cpu_seconds_per_1000_total']:.3f} ("
        + ", ".join(f"{n} {v:.3f}" for n, v in e["cpu_seconds_per_1000"].items())
        + f")  server {e['server_cores']:.2f} cores, others {e['others_cores']:.2f},"
        f" load {e['load_average_1m']:.2f}  failures {e['failures']:.0f}",
        flush=True,
    )


def print_summary(results: dict[str, Any]) -> None:
    flows = results["flows"]
    names = [n for n in PROCESS_ORDER if any(n in flows[f]["cpu_seconds_per_1000"] for f in FLOWS)]
    print("\nCPU-ms per unit of work, per process (/proc utime+stime):")
    print(
        f"  {'flow':30}"
        + "".join(f"{n:>11}" for n in names)
        + f"{'total':>11}{'postgresql':>11}{'redis*':>11}{'rate/s':>10}"
    )
    for flow in FLOWS:
        r = flows[flow]
        print(
            f"  {flow + ' (per ' + UNITS[flow] + ')':30}"
            + "".join(f"{r['cpu_seconds_per_1000'].get(n, 0.0):11.3f}" for n in names)
            + f"{r['cpu_seconds_per_1000_total']:11.3f}"
            + f"{r['datastore_cpu_seconds_per_1000']['postgresql']:11.3f}"
            + f"{r['datastore_cpu_seconds_per_1000']['redis_upper_bound']:11.3f}"
            + f"{r['rps']:10.1f}"
        )
    print("  (* the whole Redis server, shared with whatever else runs: an upper bound)")
    memory = results["memory_mib"]
    print("\nMemory, VmRSS MiB (one process of each):")
    print(f"  {'':30}" + "".join(f"{n:>11}" for n in names))
    for moment in ("idle", "after_load"):
        print(f"  {moment:30}" + "".join(f"{memory[moment].get(n, 0.0):11.0f}" for n in names))
    print("\nArgon2id alone, one thread (argon2-cffi), verifications per CPU-second:")
    for a in [results["argon2_alone"], *results["argon2_owasp_minimums"]]:
        print(
            f"  m={a['memory_cost_kib'] // 1024:>3} MiB t={a['time_cost']} p={a['parallelism']}:"
            f" {a['cpu_ms_per_verification']:6.1f} CPU-ms, {a['wall_ms_per_verification']:6.1f} ms"
            f" wall, {a['verifications_per_cpu_second']:6.1f} per CPU-second"
        )
    per_core = results["signin_per_core"]
    print(
        "\nSign-ins per second per core: "
        f"{per_core['per_authorize_core']:.1f} per authorize core, "
        f"{per_core['per_core_all_processes']:.1f} per core of all processes together, "
        f"{per_core['argon2_alone_per_core']:.1f} Argon2id verifications per core alone"
    )
    print("\nScaling, client_credentials:")
    for e in results["scaling"]:
        print(
            f"  token x{e['token_replicas']}, gateway workers x{e['gateway_workers']}:"
            f" {e['rps']:7.0f} req/s, {e['cpu_seconds_per_1000_total']:.3f} CPU-ms/request,"
            f" p99 {e['p99_ms']:.1f} ms, load {e['load_average_1m']:.2f}"
        )


def git_commit() -> str:
    git = shutil.which("git")
    if git is None:
        return "unknown"
    try:
        out = subprocess.run(
            [git, "-C", str(REPO), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sizing", description=__doc__)
    parser.add_argument("--out", type=Path, help="also write the JSON of every figure here")
    args = parser.parse_args(argv)
    command = " ".join(
        [
            f"{k}={os.environ[k]}"
            for k in sorted(os.environ)
            if (k.startswith("SIZING_") and k != "SIZING_ARGS") or k.startswith("OAUTH2_ARGON2_")
        ]
        + ["make sizing"]
        + ([f"SIZING_ARGS=--out={args.out}"] if args.out else [])
    )
    if shutil.which("wrk") is None:
        print("make sizing needs wrk (apt-get install wrk)")
        return 2
    if bench.MODE != "postgres":
        print("make sizing measures the production path only: unset BENCH_MODE")
        return 2
    commit = git_commit()
    load = os.getloadavg()
    print(
        f"# {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {command} at {commit}:"
        f" PostgreSQL + Redis, {NPROC} cores, load average {load[0]:.2f} {load[1]:.2f}"
        f" {load[2]:.2f} before start; {DURATION} per measurement",
        flush=True,
    )

    results = run_cleanly("make sizing", run)
    if isinstance(results, int):
        return results
    print_summary(results)
    failures = sum(results["flows"][f]["failures"] for f in FLOWS) + sum(
        e["failures"] for e in results["scaling"]
    )
    report = {
        "bench": "sizing",
        "command": command,
        "commit": commit,
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "nproc": NPROC,
        "load_average_before": load[0],
        "duration": DURATION,
        "signin_concurrency": SIGNIN_CONCURRENCY,
        "wrk": {"threads": bench.THREADS, "connections": bench.CONNECTIONS},
        "shared_machine": True,
        "results": results,
        "failures": failures,
        "ok": failures == 0,
    }
    line = json.dumps(report, separators=(",", ":"))
    if args.out is not None:
        args.out.write_text(line + "\n")
    print(line)
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
