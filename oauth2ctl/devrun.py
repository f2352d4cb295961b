"""Starts the whole system on loopback: ``make run``, and the e2e tests' harness.

Five processes (clients, token, authorize, admin, gateway), each started with
``python -m ...`` exactly as a container would run it, each service applying its
migrations as it starts (``migrate_on_start``; the database, when there is one, is
waited for first, here). Without DATABASE_URL/REDIS_URL every process
uses its own SQLite file under ``var/`` and in-process stand-ins for Redis.
The processes talk mutual TLS with throwaway certificates generated once under
``var/certs`` (``--plaintext``: without); ``--tls`` serves the gateway's public
listener over HTTPS with one more certificate of that CA.
Ports and addresses come from the processes' own settings (the environment and
``--config``/``OAUTH2_CONFIG``: ``port``, ``admin_port``, ``[token] grpc_port``,
``OAUTH2_TOKEN_GRPC_PORT``...); the ``*_target`` settings and the issuer follow
them. A port that is taken stops it before anything starts, in one line, exit 2.
Ctrl-C (or SIGTERM) stops the gateway first, then the services, each given
time to drain.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
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
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from common.settings import CONFIG_ENV, SETTINGS_CLASSES, ServiceSettings, load_settings
from common.startup import EXIT_STARTUP, StartupError, check_port, setting_hint
from gateway.settings import GatewaySettings
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


@contextlib.contextmanager
def _environment(env: Mapping[str, str]) -> Iterator[None]:
    """``os.environ`` is ``env`` inside: settings read as a process started with
    ``env`` would read them."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _service_settings(name: str) -> ServiceSettings:
    module, _, class_name = SETTINGS_CLASSES[name].partition(":")
    settings_cls: type[ServiceSettings] = getattr(importlib.import_module(module), class_name)
    return load_settings(settings_cls)


class StartupFailed(RuntimeError):
    """A process stopped at start-up with exit code 2; ``str()`` is its one line
    (empty when it already reached the terminal)."""


def connect_host(host: str) -> str:
    """Where to reach a listener bound to ``host`` from this machine."""
    return "127.0.0.1" if host in ("", "0.0.0.0", "::") else host  # noqa: S104


def _host_port(host: str, port: int) -> str:
    host = connect_host(host)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _last_line(data: bytes | str) -> str:
    text = data.decode(errors="replace") if isinstance(data, bytes) else data
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


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
    #: The address each listener binds, by the names of ``ports`` (127.0.0.1 if absent).
    hosts: Mapping[str, str] = field(default_factory=dict)
    #: The issuer when it is set; None: the gateway's public address.
    issuer: str | None = None
    #: Each service applies its migrations as it starts (``migrate_on_start``), instead
    #: of :meth:`migrate` running them first in processes of their own: one import
    #: of everything per service instead of two (what makes ``make run`` start fast).
    migrate_on_start: bool = False
    #: (process, host, port, where to set it) of every listener :meth:`check_ports` checks.
    listeners: list[tuple[str, str, int, str]] = field(default_factory=list)
    _certificates: dict[str, CertFiles] | None = field(default=None, init=False, repr=False)

    @classmethod
    def from_settings(
        cls, env: dict[str, str], *, tls: bool = True, gateway_tls: bool = False
    ) -> System:
        """The ports and addresses every process's own settings name (``env`` and the
        config file it names, as each process will read them). A bad setting exits 2
        with its one line (common.settings.load_settings)."""
        with _environment(env):
            gateway = load_settings(GatewaySettings)
            services = {name: _service_settings(name) for name in SERVICES}
        ports = {name: settings.grpc_port for name, settings in services.items()}
        hosts = {name: settings.grpc_host for name, settings in services.items()}
        ports |= {"gateway": gateway.port, "gateway_admin": gateway.admin_port}
        hosts |= {"gateway": gateway.host, "gateway_admin": gateway.admin_host}
        issuer = gateway.issuer if "issuer" in gateway.model_fields_set else None
        if "data_dir" not in gateway.model_fields_set:
            # The default (var/ here) made absolute, so that oauth2ctl started with this
            # environment (bootstrap) names the one credentials file from any directory.
            env = {**env, "OAUTH2_DATA_DIR": str(gateway.data_dir.absolute())}
        listeners = [("gateway", gateway.host, gateway.port, setting_hint("gateway", "port"))]
        if gateway.admin_port:
            hint = setting_hint("gateway", "admin_port")
            listeners.append(("gateway", gateway.admin_host, gateway.admin_port, hint))
        for name, settings in services.items():
            for port_field in ("grpc_port", "metrics_port", "grpc_health_port"):
                port = int(getattr(settings, port_field))
                if port or port_field == "grpc_port":
                    hint = setting_hint(name, port_field, per_process=True)
                    listeners.append((name, settings.grpc_host, port, hint))
        return cls(
            env=env,
            ports=ports,
            hosts=hosts,
            issuer=issuer,
            listeners=listeners,
            tls=tls,
            gateway_tls=gateway_tls,
        )

    def check_ports(self) -> None:
        """Every listener's port is free and none is given twice: else StartupError."""
        seen: dict[int, str] = {}
        for process, host, port, hint in self.listeners:
            if port == 0:
                raise StartupError(f"{process}: port 0 is not for make run ({hint})")
            if port in seen:
                raise StartupError(f"{process}: port {port} is also {seen[port]}'s ({hint})")
            seen[port] = process
            check_port(process, host, port, hint)

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

    def host(self, name: str) -> str:
        return self.hosts.get(name, "127.0.0.1")

    @property
    def base_url(self) -> str:
        scheme = "https" if self.gateway_tls else "http"
        return f"{scheme}://{_host_port(self.host('gateway'), self.ports['gateway'])}"

    @property
    def admin_url(self) -> str:
        """The gateway's admin listener (the admin API, /metrics)."""
        port = self.ports.get("gateway_admin", DEFAULT_PORTS["gateway_admin"])
        return f"http://{_host_port(self.host('gateway_admin'), port)}"

    def target(self, name: str) -> str:
        ports = self.replica_ports.get(name) or [self.ports[name]]
        return ",".join(_host_port(self.host(name), port) for port in ports)

    def common_env(self) -> dict[str, str]:
        """What every process gets, and oauth2ctl (with the CLI's certificate)."""
        env = dict(self.env)
        env["OAUTH2_ISSUER"] = self.issuer or env.get("OAUTH2_ISSUER") or self.base_url
        # The gateway listens there for its admin API, oauth2ctl calls it there.
        env["OAUTH2_ADMIN_PORT"] = self.admin_url.rpartition(":")[2]
        env["OAUTH2_ADMIN_HOST"] = self.host("gateway_admin")
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
        # The process's own names (OAUTH2_TOKEN_GRPC_PORT): they win over any other.
        if name == "gateway":
            env["OAUTH2_GATEWAY_PORT"] = str(port or self.ports["gateway"])
            env["OAUTH2_GATEWAY_ADMIN_PORT"] = env["OAUTH2_ADMIN_PORT"]
            if https is not None:
                env["OAUTH2_TLS_CERT_FILE"] = str(https.cert)
                env["OAUTH2_TLS_KEY_FILE"] = str(https.key)
        else:
            env[f"OAUTH2_{name.upper()}_GRPC_PORT"] = str(port or self.ports[name])
            if self.migrate_on_start:
                env["OAUTH2_MIGRATE_ON_START"] = "true"
            if metrics_port:
                env[f"OAUTH2_{name.upper()}_METRICS_PORT"] = str(metrics_port)
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
        startup_failures = []
        for name, proc in procs.items():
            out, _ = proc.communicate(timeout=600)
            if proc.returncode == EXIT_STARTUP:
                startup_failures.append(_last_line(out))
            elif proc.returncode != 0:
                failed.append(f"{name}: {out.decode(errors='replace').strip()}")
        if failed:
            raise RuntimeError("migrations failed:\n" + "\n".join(failed))
        if startup_failures:
            # Every service says the same of a database that is away: once is enough.
            raise StartupFailed(startup_failures[0])

    def wait_for_database(self) -> None:
        """Wait here, as each service would (``startup_timeout_seconds``), until the
        database answers: a database that is away is one line (a StartupFailed)
        before any process starts, not the same line from four services."""
        with _environment(self.process_env(SERVICES[0])):
            settings = _service_settings(SERVICES[0])
        if settings.resolved_database_url.startswith("sqlite"):
            return
        from common.db import wait_for_database  # SQLAlchemy: only when there is one

        try:
            asyncio.run(wait_for_database(settings))
        except StartupError as exc:
            raise StartupFailed(str(exc)) from None

    def start_with_migrations(self) -> None:
        """Every process, each service applying its own migrations as it starts.
        With replicas, :meth:`migrate` first instead: a replica waiting for another's
        migration lock would start late, after the gateway has found it away."""
        self.wait_for_database()
        if any(len(ports) > 1 for ports in self.replica_ports.values()):
            self.migrate()
        else:
            self.migrate_on_start = True
        self.start_all()

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

    def listening(self) -> str:
        """Where each process listens, for the banner (every one has bound by now)."""
        parts = [f"gateway {_host_port(self.host('gateway'), self.ports['gateway'])}"]
        if self.ports.get("gateway_admin"):
            admin = _host_port(self.host("gateway_admin"), self.ports["gateway_admin"])
            parts.append(f"admin listener {admin}")
        parts += [f"{name} {self.target(name)}" for name in SERVICES]
        return ", ".join(parts)

    def raise_startup_failure(self) -> None:
        """StartupFailed when a process stopped with exit code 2: its one line from
        its log, or nothing when it printed it on the terminal it shares with us."""
        for name, procs in self.processes.items():
            for proc in procs:
                if proc.poll() == EXIT_STARTUP:
                    log = self.log_dir / f"{name}.log" if self.log_dir else None
                    line = _last_line(log.read_bytes()) if log and log.exists() else ""
                    raise StartupFailed(line)

    def wait_ready(self, timeout: float = 60) -> None:
        """Poll the gateway's /ready until every dependency answers."""
        deadline = time.monotonic() + timeout
        last = ""
        https = self.https_certificate()
        context = None if https is None else ssl.create_default_context(cafile=https.ca)
        while time.monotonic() < deadline:
            self.raise_startup_failure()
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
        oauth2ctl works with no flags. Returns what it printed ("" when the
        credentials file is there already: nothing to do, no oauth2ctl to start). A
        system that was bootstrapped before but has lost the file (a new data
        directory on an old database) is left alone with a warning: only an operator
        can mend that.
        """
        from oauth2ctl.settings import CtlSettings  # what oauth2ctl reads, read here

        with _environment(self.common_env()):
            if load_settings(CtlSettings).credentials_file.exists():
                return ""
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
  listening: {listening}
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
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="TOML settings file for every process (else OAUTH2_CONFIG)",
    )
    args = parser.parse_args(argv)
    env = dict(os.environ)
    if args.config is not None:
        env[CONFIG_ENV] = str(args.config.absolute())
    env.setdefault("OAUTH2_LOG_FORMAT", "text")
    embedded = not (env.get("DATABASE_URL") or env.get("REDIS_URL"))
    if not embedded and not env.get("OAUTH2_KEY_ENCRYPTION_KEY"):
        # A development convenience only; the token and clients services (each with a
        # key file of its own) warn loudly about it.
        env["OAUTH2_ALLOW_DEVELOPMENT_KEK"] = "true"
    system = System.from_settings(env, tls=not args.plaintext, gateway_tls=args.tls)
    try:
        system.check_ports()
    except StartupError as exc:
        print(exc, file=sys.stderr)
        return EXIT_STARTUP
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
        system.start_with_migrations()
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
                listening=system.listening(),
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
    except StartupFailed as exc:
        system.stop_all()  # quietly: the line below (or the process's own) says it all
        if str(exc):
            print(exc, file=sys.stderr)
        return EXIT_STARTUP
    except RuntimeError as exc:
        print(f"make run: {exc}", file=sys.stderr)
        return 1
    finally:
        if system.processes:
            print("stopping...", file=sys.stderr)
            system.stop_all()


if __name__ == "__main__":
    raise SystemExit(main())
