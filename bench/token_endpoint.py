"""make bench: the token and introspection endpoints under load, on loopback.

Starts the five processes (embedded default, or PostgreSQL/Redis when DATABASE_URL
and REDIS_URL are set), creates a client with oauth2ctl, and drives
``POST /oauth/token`` (client_credentials) and ``POST /oauth/introspect`` with wrk
for a bounded time. Prints throughput and latency percentiles and fails when a
target below is missed. Targets are for a 2-core machine shared with other work;
they are deliberately modest: they catch a regression of an order of magnitude
(an Argon2 run or a database write slipping onto the token path), not noise.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

from oauth2ctl.devrun import PROCESSES, System, free_port

WRK = shutil.which("wrk") or "wrk"
DURATION = os.environ.get("BENCH_DURATION", "10s")
CONNECTIONS = os.environ.get("BENCH_CONNECTIONS", "16")
TARGETS = {"min_requests_per_second": 300.0, "max_p99_ms": 150.0}

LUA = """
wrk.method = "POST"
wrk.body = "{body}"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic {auth}"
"""


def wrk(url: str, body: str, auth: str, workdir: Path) -> dict[str, float]:
    script = workdir / "request.lua"
    script.write_text(LUA.format(body=body, auth=auth))
    out = subprocess.run(
        [WRK, "-t2", f"-c{CONNECTIONS}", f"-d{DURATION}", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    assert p99 is not None, out
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "requests_per_second": rps,
        "p99_ms": float(p99.group(1)) * scale,
        "non_2xx": float(non_2xx.group(1)) if non_2xx else 0.0,
        "socket_errors": 1.0 if errors else 0.0,
    }


def main() -> int:
    if WRK == "wrk":
        print("make bench needs wrk: apt-get install wrk", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="oauth2-bench-") as tmp:
        workdir = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith("OAUTH2_")}
        env |= {"OAUTH2_DATA_DIR": str(workdir), "OAUTH2_LOG_LEVEL": "WARNING"}
        # One client from one address is the whole load: the limits stay on (their
        # cost is measured) but far above what wrk can send.
        env |= {
            f"OAUTH2_RATE_LIMIT_{name}": "100000/s burst 100000"
            for name in ("TOKEN_PER_CLIENT", "INTROSPECT_PER_CLIENT", "OAUTH_PER_ADDRESS")
        }
        if env.get("DATABASE_URL") and not env.get("OAUTH2_KEY_ENCRYPTION_KEY"):
            env["OAUTH2_ALLOW_DEVELOPMENT_KEK"] = "true"
        system = System(env=env, ports={name: free_port() for name in PROCESSES})
        system.migrate()
        system.start_all()
        try:
            system.wait_ready()
            system.bootstrap()  # oauth2ctl works through the admin API
            ctl = Path(sys.executable).with_name("oauth2ctl")
            created = subprocess.run(
                [
                    str(ctl),
                    "client",
                    "create",
                    "--name",
                    "bench",
                    "--grant-type",
                    "client_credentials",
                    "--scope",
                    "api",
                    "--json",
                ],
                env=system.common_env(),
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            client = json.loads(created)
            auth = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode())
            token_url = system.base_url + "/oauth/token"
            results = {
                "token": wrk(token_url, "grant_type=client_credentials", auth.decode(), workdir)
            }
            token = httpx.post(
                token_url,
                data={"grant_type": "client_credentials"},
                auth=(client["client_id"], client["client_secret"]),
            ).json()
            results["introspect"] = wrk(
                system.base_url + "/oauth/introspect",
                f"token={token['access_token']}",
                auth.decode(),
                workdir,
            )
        finally:
            system.stop_all()
    failed = False
    for name, result in results.items():
        print(
            f"{name:10} {result['requests_per_second']:8.0f} req/s   p99 {result['p99_ms']:6.1f} ms"
            f"   non-2xx {result['non_2xx']:.0f}"
        )
        if (
            result["requests_per_second"] < TARGETS["min_requests_per_second"]
            or result["p99_ms"] > TARGETS["max_p99_ms"]
            or result["non_2xx"]
            or result["socket_errors"]
        ):
            failed = True
    print(
        f"targets: >= {TARGETS['min_requests_per_second']:.0f} req/s, "
        f"p99 <= {TARGETS['max_p99_ms']:.0f} ms, no errors: {'MISSED' if failed else 'met'}"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
