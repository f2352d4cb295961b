"""Starts the whole system on loopback: ``make run``, and the e2e tests' harness.

Five processes (clients, token, authorize, admin, gateway), each started with
``python -m ...`` exactly as a container would run it, after each service's
migrations have been applied. Without DATABASE_URL/REDIS_URL every process
uses its own SQLite file under ``var/`` and in-process stand-ins for Redis.
The processes talk mutual TLS with throwaway certificates generated once under
``var/certs`` (``--plaintext``: without); ``--tls`` serves the gateway's public
listener over HTTPS with one more certificate of that CA.
Ctrl-C (or SIGTERM) stops the gateway first, then the services, each given
time to drain.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from oauth2ctl.devcerts import CertFiles, ensure_certificates

SERVICES = ("clients", "token", "authorize", "admin")
#: Start order: what others call comes first; stop order is the reverse.
PROCESSES = (*SERVICES, "gateway")

#: The certificate name (CN) of oauth2ctl: its settings' PROCESS.
CTL_CERT_NAME = "ctl"
#: The certificate of the gateway's public listener with ``--tls`` (SANs localhost
#: and 127.0.0.1, like every certificate of oauth2ctl.devcerts).
HTTPS_CERT_NAME = "gateway-https"

DEFAULT_PORTS = {
    "authorize": 50051,
    "token": 50052,
    "clients": 50053,
    "admin": 50054,
    "gateway": 8080,
    # The gateway's admin listener (admin API, /metrics): OAUTH2_ADMIN_PORT.
    "gateway_admin": 8081,
}


def _ephemeral_range_start() -> int:
    """Where the kernel starts picking ports for outgoing connections."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now, chosen below the
    ephemeral range: a port the kernel hands out (bind to 0) can be taken by an
    outgoing connection before the process that was given it binds it."""
    high = _ephemeral_range_start()
    for _ in range(200):
        port = random.randrange(10_000, high) if high > 10_100 else 0
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise RuntimeError("no free TCP port on 127.0.0.1")


def module_for(name: str) -> str:
    return "gateway" if name == "gateway" else f"services.{name}"


@dataclass
class System:
    """The five processes of one deployment on this machine."""

    env: dict[str, str]
    ports: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    python: str = sys.executable
    log_dir: Path | None = None
    processes: dict[str, list[subprocess.Popen[bytes]]] = field(default_factory=dict)
    #: Extra replicas of a service: name -> list of grpc ports (first is ports[name]).
    replica_ports: dict[str, list[int]] = field(default_factory=dict)
    #: Give every service process a Prometheus port of its own (tests scrape them).
    metrics: bool = False
    #: The metrics port of each running service process, by its pid.
    metrics_ports: dict[int, int] = field(default_factory=dict)
    #: Mutual TLS between the processes, with throwaway certificates under
    #: <data dir>/certs (oauth2ctl.devcerts), unless the environment names its own
    #: (OAUTH2_GRPC_TLS_*). False: plaintext gRPC.
    tls: bool = True
    #: HTTPS on the gateway's public listener (``--tls``), with a certificate of the
    #: same CA; the issuer becomes https://127.0.0.1:<port> and oauth2ctl trusts the CA.
    gateway_tls: bool = False
    _certificates: dict[str, CertFiles] | None = field(default=None, init=False, repr=False)

    @property
    def data_dir(self) -> Path:
        return Path(self.env.get("OAUTH2_DATA_DIR") or "var")

    def certificates(self) -> dict[str, CertFiles] | None:
        """Each process's certificate files (and the CLI's, ``ctl``), made once;
        None with tls off or when the environment brings certificates of its own."""
        if not self.tls or self.env.get("OAUTH2_GRPC_TLS_CA_FILE"):
            return None
        return self._all_certificates()

    def https_certificate(self) -> CertFiles | None:
        """The gateway's public certificate (and the CA that signed it) with
        gateway_tls, else None."""
        return self._all_certificates()[HTTPS_CERT_NAME] if self.gateway_tls else None

    def _all_certificates(self) -> dict[str, CertFiles]:
        # Always the whole set: making fewer would replace the CA of the others.
        if self._certificates is None:
            names = [*PROCESSES, CTL_CERT_NAME] + ([HTTPS_CERT_NAME] if self.gateway_tls else [])
            self._certificates = ensure_certificates(self.data_dir / "certs", names)
        return self._certificates

    @property
    def base_url(self) -> str:
        scheme = "https" if self.gateway_tls else "http"
        return f"{scheme}://127.0.0.1:{self.ports['gateway']}"

    @property
    def admin_url(self) -> str:
        """The gateway's admin listener (the admin API, /metrics)."""
        port = self.ports.get("gateway_admin", DEFAULT_PORTS["gateway_admin"])
        return f"http://127.0.0.1:{port}"

    def target(self, name: str) -> str:
        ports = self.replica_ports.get(name) or [self.ports[name]]
        return ",".join(f"127.0.0.1:{port}" for port in ports)

    def common_env(self) -> dict[str, str]:
        """What every process gets, and oauth2ctl (with the CLI's certificate)."""
        env = dict(self.env)
        env.setdefault("OAUTH2_ISSUER", self.base_url)
        # The gateway listens there for its admin API, oauth2ctl calls it there.
        env["OAUTH2_ADMIN_PORT"] = self.admin_url.rpartition(":")[2]
        for name in SERVICES:
            env[f"OAUTH2_{name.upper()}_TARGET"] = self.target(name)
        certificates = self.certificates()
        if certificates is not None:
            env.update(certificates[CTL_CERT_NAME].env())
        https = self.https_certificate()
        if https is not None:
            # oauth2ctl gets its tokens at the issuer; httpx trusts SSL_CERT_FILE.
            env["SSL_CERT_FILE"] = str(https.ca)
        return env

    def process_env(
        self, name: str, port: int | None = None, metrics_port: int = 0
    ) -> dict[str, str]:
        env = self.common_env()
        certificates = self.certificates()
        if certificates is not None:
            env.update(certificates[name].env())
        https = self.https_certificate()
        if https is not None:
            # SSL_CERT_FILE was for oauth2ctl: the processes keep the trust they had.
            env.pop("SSL_CERT_FILE")
            if "SSL_CERT_FILE" in self.env:
                env["SSL_CERT_FILE"] = self.env["SSL_CERT_FILE"]
        if name == "gateway":
            env["OAUTH2_PORT"] = str(port or self.ports["gateway"])
            if https is not None:
                env["OAUTH2_TLS_CERT_FILE"] = str(https.cert)
                env["OAUTH2_TLS_KEY_FILE"] = str(https.key)
        else:
            env["OAUTH2_GRPC_PORT"] = str(port or self.ports[name])
            if metrics_port:
                env["OAUTH2_METRICS_PORT"] = str(metrics_port)
        return env

    def migrate(self) -> None:
        """Apply every service's migrations (in parallel: each owns its schema)."""
        procs = {
            name: subprocess.Popen(
                [self.python, "-m", module_for(name), "migrate"],
                env=self.process_env(name),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            for name in SERVICES
        }
        failed = []
        for name, proc in procs.items():
            out, _ = proc.communicate(timeout=120)
            if proc.returncode != 0:
                failed.append(f"{name}: {out.decode(errors='replace').strip()}")
        if failed:
            raise RuntimeError("migrations failed:\n" + "\n".join(failed))

    def _log(self, name: str) -> IO[bytes] | None:
        if self.log_dir is None:
            return None
        self.log_dir.mkdir(parents=True, exist_ok=True)
        return open(self.log_dir / f"{name}.log", "ab")

    def start(self, name: str, port: int | None = None) -> subprocess.Popen[bytes]:
        log = self._log(name)
        metrics_port = free_port() if self.metrics and name != "gateway" else 0
        proc = subprocess.Popen(
            [self.python, "-m", module_for(name)],
            env=self.process_env(name, port, metrics_port),
            stdout=log,
            stderr=log,
            # Own session: a terminal's Ctrl-C reaches only us; we stop them in order.
            start_new_session=True,
        )
        self.processes.setdefault(name, []).append(proc)
        if metrics_port:
            self.metrics_ports[proc.pid] = metrics_port
        return proc

    def start_all(self) -> None:
        for name in PROCESSES:
            ports = self.replica_ports.get(name) or [self.ports[name]]
            for port in ports:
                self.start(name, port)

    def stop(self, name: str, timeout: float = 15) -> None:
        self.stop_processes(self.processes.pop(name, []), timeout)

    def stop_replica(self, name: str, index: int, timeout: float = 15) -> None:
        """Stop one replica of a service (SIGTERM: it drains like a pod would)."""
        self.stop_processes([self.processes[name].pop(index)], timeout)

    def stop_processes(self, procs: list[subprocess.Popen[bytes]], timeout: float = 15) -> None:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def stop_all(self) -> None:
        """The gateway first (no new requests), then every service at once."""
        self.stop("gateway")
        self.stop_processes([proc for name in SERVICES for proc in self.processes.pop(name, [])])

    def exited(self) -> list[str]:
        return [
            f"{name} (exit {proc.returncode})"
            for name, procs in self.processes.items()
            for proc in procs
            if proc.poll() is not None
        ]

    def wait_ready(self, timeout: float = 60) -> None:
        """Poll the gateway's /ready until every dependency answers."""
        deadline = time.monotonic() + timeout
        last = ""
        https = self.https_certificate()
        context = None if https is None else ssl.create_default_context(cafile=https.ca)
        while time.monotonic() < deadline:
            dead = self.exited()
            if dead:
                raise RuntimeError(f"processes exited during start-up: {', '.join(dead)}")
            try:
                with urllib.request.urlopen(  # noqa: S310
                    self.base_url + "/ready", timeout=2, context=context
                ) as resp:
                    if resp.status == 200:
                        return
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code}"
            except OSError as exc:
                last = str(exc)
            time.sleep(0.2)
        raise RuntimeError(f"the system was not ready after {timeout:.0f}s: {last}")

    def bootstrap(self, timeout: float = 60) -> str:
        """``oauth2ctl bootstrap --if-needed``: on first start, create the admin
        client and write the credentials file in the data directory, so that
        oauth2ctl works with no flags. Returns what it printed. A system that was
        bootstrapped before but has lost the file (a new data directory on an old
        database) is left alone with a warning: only an operator can mend that.
        """
        result = subprocess.run(
            [self.python, "-m", "oauth2ctl.cli", "bootstrap", "--if-needed"],
            env=self.common_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode == 0:
            return result.stdout
        if "conflict" in result.stderr:
            print(
                "warning: the system is bootstrapped but this data directory has no "
                f"oauth2ctl credentials file ({result.stderr.strip()})",
                file=sys.stderr,
            )
            return ""
        raise RuntimeError(f"oauth2ctl bootstrap failed: {result.stderr.strip()}")


BANNER = """
  OAuth 2.1 server running ({mode})
  issuer:    {issuer}
  discovery: {issuer}/.well-known/openid-configuration
  admin API: {admin_url}/admin/api (oauth2ctl uses it; see `oauth2ctl --help`)
  metrics:   {admin_url}/metrics
{https}{bootstrapped}
  Create a client and get a token (one command):
    .venv/bin/oauth2ctl client create --name demo --grant-type client_credentials \\
        --scope "api:read" --get-token

  Sign a person in with a browser (authorization code + PKCE):
    .venv/bin/oauth2ctl user create --username alice --password-stdin
    .venv/bin/oauth2ctl client create --name web --grant-type authorization_code \\
        --grant-type refresh_token --redirect-uri http://127.0.0.1:9000/callback \\
        --scope "openid profile email offline_access"
    then open (with the client_id printed above):
    {issuer}/oauth/authorize?response_type=code&client_id=CLIENT_ID\
&redirect_uri=http%3A%2F%2F127.0.0.1%3A9000%2Fcallback&scope=openid%20profile&state=demo\
&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256
    and exchange the code with code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk
    (RFC 7636 appendix B's example pair).

  Ctrl-C stops everything.
"""


def https_banner(system: System) -> str:
    """Where the CA of ``--tls`` is, for curl and browsers."""
    https = system.https_certificate()
    if https is None:
        return ""
    return (
        f"  TLS CA:    {https.ca} (throwaway; oauth2ctl trusts it)\n"
        f"    curl --cacert {https.ca} {system.base_url}/.well-known/openid-configuration\n"
        "    oauth2ctl in another shell needs the issuer and the CA:\n"
        f"    export OAUTH2_ISSUER={system.base_url} SSL_CERT_FILE={https.ca}\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m oauth2ctl.devrun")
    parser.add_argument(
        "--plaintext",
        action="store_true",
        help="plaintext gRPC between the processes instead of mutual TLS",
    )
    parser.add_argument(
        "--tls",
        action="store_true",
        help="HTTPS on the gateway's public listener, with a throwaway certificate",
    )
    args = parser.parse_args(argv)
    env = dict(os.environ)
    env.setdefault("OAUTH2_LOG_FORMAT", "text")
    system = System(env=env, tls=not args.plaintext, gateway_tls=args.tls)
    embedded = not (env.get("DATABASE_URL") or env.get("REDIS_URL"))
    if not embedded and not env.get("OAUTH2_KEY_ENCRYPTION_KEY"):
        # A development convenience only; the token service warns loudly about it.
        env["OAUTH2_ALLOW_DEVELOPMENT_KEK"] = "true"
    mode = (
        "embedded default: SQLite files in var/, in-process stand-ins"
        if embedded
        else ("PostgreSQL and Redis from DATABASE_URL / REDIS_URL")
    )
    mode += ", gRPC on mutual TLS" if system.tls else ", gRPC in plaintext"
    if system.gateway_tls:
        mode += ", HTTPS at the gateway"
    stop = False

    def request_stop(_signum: int, _frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        system.migrate()
        system.start_all()
        system.wait_ready()
        bootstrapped = system.bootstrap()
        if "client_secret" in bootstrapped:
            bootstrapped = (
                "\n  First start: created the admin client (oauth2ctl bootstrap)\n"
                + "".join(f"    {line}\n" for line in bootstrapped.strip().splitlines())
            )
        else:
            bootstrapped = ""
        print(
            BANNER.format(
                mode=mode,
                issuer=system.common_env()["OAUTH2_ISSUER"],
                admin_url=system.admin_url,
                https=https_banner(system),
                bootstrapped=bootstrapped,
            ),
            flush=True,
        )
        while not stop:
            dead = system.exited()
            if dead:
                print(f"stopping: {', '.join(dead)} exited", file=sys.stderr)
                return 1
            time.sleep(0.5)
        return 0
    except RuntimeError as exc:
        print(f"make run: {exc}", file=sys.stderr)
        return 1
    finally:
        print("stopping...", file=sys.stderr)
        system.stop_all()


if __name__ == "__main__":
    raise SystemExit(main())
