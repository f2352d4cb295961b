"""Start-up through the real entry points: ports and addresses from the settings
(``make run`` included), and every expected failure as one line and exit code 2:
a port that is taken, a database or Redis that does not answer.

Every process here is real (``python -m gateway``, ``python -m services.token``,
``python -m oauth2ctl.devrun``); "unreachable" is a closed port on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.settings import ENV_PREFIX
from conftest import start_redis
from oauth2ctl.devrun import DEFAULT_PORTS, StartupFailed, System, free_port

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "s3cret-Pa55word"


def clean_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """This machine's environment without any setting, a data directory of the
    test's own, plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().startswith(ENV_PREFIX)
        and not k.endswith(("DATABASE_URL", "REDIS_URL"))
        and k != "OTEL_EXPORTER_OTLP_ENDPOINT"
    }
    env["PYTHONPATH"] = str(ROOT)
    env["OAUTH2_DATA_DIR"] = str(data_dir)
    return {**env, **extra}


def run_module(
    args: list[str], env: dict[str, str], cwd: Path, timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _is_routine_log(line: str) -> bool:
    """A log record below ERROR (what a service logs while it starts, as JSON)."""
    try:
        record = json.loads(line)
    except ValueError:
        return False
    return isinstance(record, dict) and record.get("level") in ("DEBUG", "INFO", "WARNING")


def one_line_exit_2(result: subprocess.CompletedProcess[str]) -> str:
    """The single line a process printed on stderr before exiting 2 (besides the
    routine log records of what it did before)."""
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output, output
    assert PASSWORD not in output
    lines = [line for line in result.stderr.strip().splitlines() if not _is_routine_log(line)]
    assert len(lines) == 1, output
    return lines[0]


@contextlib.contextmanager
def occupied(port: int | None = None) -> Iterator[int]:
    """A port something else listens on for the duration."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", port if port is not None else free_port()))
    sock.listen()
    try:
        yield int(sock.getsockname()[1])
    finally:
        sock.close()


# -- a port that is taken ---------------------------------------------------------


TAKEN_PORT_CASES = [
    pytest.param(
        ["gateway"],
        "OAUTH2_PORT",
        "gateway: port {port} is in use (set OAUTH2_PORT or [gateway] port)",
        id="gateway-public",
    ),
    pytest.param(
        ["gateway"],
        "OAUTH2_ADMIN_PORT",
        "gateway: port {port} is in use (set OAUTH2_ADMIN_PORT or [gateway] admin_port)",
        id="gateway-admin",
    ),
    pytest.param(
        ["services.token"],
        "OAUTH2_TOKEN_GRPC_PORT",
        "token: port {port} is in use (set OAUTH2_TOKEN_GRPC_PORT or [token] grpc_port)",
        id="token-grpc",
    ),
    pytest.param(
        ["services.clients"],
        "OAUTH2_METRICS_PORT",
        "clients: port {port} is in use"
        " (set OAUTH2_CLIENTS_METRICS_PORT or [clients] metrics_port)",
        id="clients-metrics",
    ),
]


@pytest.mark.parametrize(("command", "variable", "message"), TAKEN_PORT_CASES)
def test_taken_port_is_one_line(
    tmp_path: Path, command: list[str], variable: str, message: str
) -> None:
    # Every other port is free, so only the taken one can be what the line names.
    others = {
        "OAUTH2_PORT": str(free_port()),
        "OAUTH2_ADMIN_PORT": str(free_port()),
        "OAUTH2_GRPC_PORT": str(free_port()),
        "OAUTH2_MIGRATE_ON_START": "true",
    }
    with occupied() as port:
        env = clean_env(tmp_path / "var", **{**others, variable: str(port)})
        line = one_line_exit_2(run_module(command, env, tmp_path))
    assert line == message.format(port=port)


# -- a database or Redis that does not answer --------------------------------------


def closed_port_url(scheme: str) -> tuple[str, int]:
    port = free_port()  # nothing listens there
    return f"{scheme}://oauth2:{PASSWORD}@127.0.0.1:{port}/oauth2", port


@pytest.mark.parametrize(
    ("args", "extra"),
    [
        pytest.param(["migrate"], {}, id="migrate"),
        pytest.param(["serve"], {}, id="serve"),
        pytest.param(["serve"], {"OAUTH2_MIGRATE_ON_START": "true"}, id="serve-migrate-on-start"),
    ],
)
def test_unreachable_postgresql_is_one_line_after_the_timeout(
    tmp_path: Path, args: list[str], extra: dict[str, str]
) -> None:
    url, port = closed_port_url("postgresql")
    env = clean_env(
        tmp_path / "var",
        DATABASE_URL=url,
        OAUTH2_STARTUP_TIMEOUT_SECONDS="1.5",
        OAUTH2_GRPC_PORT=str(free_port()),
        **extra,
    )
    started = time.monotonic()
    line = one_line_exit_2(run_module(["services.clients", *args], env, tmp_path))
    took = time.monotonic() - started
    assert line == (
        f"clients: PostgreSQL at 127.0.0.1:{port} did not answer within 1.5s"
        " (connection refused; set DATABASE_URL or database_url)"
    )
    assert took >= 1.5, "it gave up before startup_timeout_seconds"


def test_postgresql_that_refuses_for_good_is_one_line_at_once(
    tmp_path: Path, pg_server_url: str
) -> None:
    """A database that answers but refuses us (here: the database does not exist)
    is not waited for: the line says why at once."""
    base = pg_server_url.rsplit("/", 1)[0]
    env = clean_env(
        tmp_path / "var",
        DATABASE_URL=f"{base}/no_such_database_here",
        OAUTH2_STARTUP_TIMEOUT_SECONDS="60",
    )
    started = time.monotonic()
    line = one_line_exit_2(run_module(["services.token", "migrate"], env, tmp_path))
    assert time.monotonic() - started < 30, "a refusal for good was retried"
    assert line.startswith("token: PostgreSQL at ")
    assert line.endswith('refused the connection: database "no_such_database_here" does not exist')


def test_unreachable_redis_at_the_gateway_is_one_line(tmp_path: Path) -> None:
    url, port = closed_port_url("redis")
    env = clean_env(
        tmp_path / "var",
        REDIS_URL=url.rsplit("/", 1)[0] + "/0",
        OAUTH2_STARTUP_TIMEOUT_SECONDS="1",
        OAUTH2_PORT=str(free_port()),
        OAUTH2_ADMIN_PORT=str(free_port()),
    )
    line = one_line_exit_2(run_module(["gateway"], env, tmp_path))
    assert line.startswith(f"gateway: Redis at 127.0.0.1:{port} did not answer within 1s (")
    assert line.endswith("; set REDIS_URL or redis_url)")


def test_gateway_waits_for_redis_that_comes_late(tmp_path: Path) -> None:
    """The wait is a wait: a Redis that starts after the gateway is found, and the
    gateway serves."""
    redis_port, public = free_port(), free_port()
    env = clean_env(
        tmp_path / "var",
        REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
        OAUTH2_STARTUP_TIMEOUT_SECONDS="60",
        OAUTH2_PORT=str(public),
        OAUTH2_ADMIN_PORT=str(free_port()),
    )
    gateway = subprocess.Popen(
        [sys.executable, "-m", "gateway"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    redis_server = None
    try:
        time.sleep(3)
        assert gateway.poll() is None, "the gateway did not wait for Redis"
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", public), timeout=1).close()
        _, redis_server = start_redis(tmp_path, redis_port)
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{public}/health", timeout=2) as resp:
                    assert resp.status == 200
                    break
            except OSError:
                assert gateway.poll() is None and time.monotonic() < deadline, _stop(gateway)
                time.sleep(0.3)
    finally:
        output = _stop(gateway)
        if redis_server is not None:
            redis_server.terminate()
            redis_server.wait(10)
    assert "Traceback" not in output


def test_bad_certificate_path_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "pki"
    env = clean_env(
        tmp_path / "var",
        OAUTH2_GRPC_TLS_CA_FILE=str(missing / "ca.crt"),
        OAUTH2_GRPC_TLS_CERT_FILE=str(missing / "token.crt"),
        OAUTH2_GRPC_TLS_KEY_FILE=str(missing / "token.key"),
    )
    line = one_line_exit_2(run_module(["services.token"], env, tmp_path))
    assert line == (
        f"token: cannot read grpc_tls_ca_file [OAUTH2_GRPC_TLS_CA_FILE] {missing / 'ca.crt'}:"
        " No such file or directory"
    )


def service_ports(*names: str) -> dict[str, str]:
    """A free gRPC port for each service, by its own environment name."""
    return {f"OAUTH2_{name.upper()}_GRPC_PORT": str(free_port()) for name in names}


# -- make run ------------------------------------------------------------------


def _hold_default_ports(stack: contextlib.ExitStack) -> None:
    """Take every default port that is free, so the run below cannot use them."""
    for port in DEFAULT_PORTS.values():
        with contextlib.suppress(OSError):
            stack.enter_context(occupied(port))


def _stop(proc: subprocess.Popen[str]) -> str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    return out + err


def _wait_for_banner(proc: subprocess.Popen[str], timeout: float = 150) -> str:
    """devrun's stdout up to the banner's last line."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                break
            continue
        seen.append(line)
        if "Ctrl-C stops everything" in line:
            return "".join(seen)
    raise AssertionError("make run did not print its banner:\n" + "".join(seen) + _stop(proc))


@pytest.mark.slow  # long waits: make test-slow and CI run it
def test_make_run_on_chosen_ports_while_the_defaults_are_taken(tmp_path: Path) -> None:
    ports = {name: free_port() for name in ("gateway", "admin_listener", "token", "clients")}
    env_ports = {
        "authorize": free_port(),  # OAUTH2_AUTHORIZE_GRPC_PORT
        "admin": free_port(),  # OAUTH2_ADMIN_GRPC_PORT
    }
    config = tmp_path / "oauth2.toml"
    config.write_text(
        f"port = {ports['gateway']}\n"
        f"[gateway]\nadmin_port = {ports['admin_listener']}\n"
        f"[token]\ngrpc_port = {ports['token']}\n"
        f"[clients]\ngrpc_port = {ports['clients']}\n"
    )
    env = clean_env(
        tmp_path / "var",
        OAUTH2_AUTHORIZE_GRPC_PORT=str(env_ports["authorize"]),
        OAUTH2_ADMIN_GRPC_PORT=str(env_ports["admin"]),
    )
    issuer = f"http://127.0.0.1:{ports['gateway']}"
    with contextlib.ExitStack() as stack:
        _hold_default_ports(stack)
        proc = subprocess.Popen(
            [sys.executable, "-m", "oauth2ctl.devrun", "--plaintext", "--config", str(config)],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            banner = _wait_for_banner(proc)
            assert f"issuer:    {issuer}\n" in banner
            with urllib.request.urlopen(issuer + "/.well-known/openid-configuration") as resp:  # noqa: S310
                assert json.load(resp)["issuer"] == issuer
            admin = f"http://127.0.0.1:{ports['admin_listener']}"
            with urllib.request.urlopen(admin + "/metrics") as resp:  # noqa: S310
                assert resp.status == 200
            for port in [ports["token"], ports["clients"], *env_ports.values()]:
                with socket.create_connection(("127.0.0.1", port), timeout=5):
                    pass
                assert f"127.0.0.1:{port}" in banner
        finally:
            output = _stop(proc)
    assert "Traceback" not in output


def test_make_run_with_a_taken_port_is_one_line(tmp_path: Path) -> None:
    with occupied() as taken:
        env = clean_env(
            tmp_path / "var",
            OAUTH2_PORT=str(free_port()),
            OAUTH2_ADMIN_PORT=str(free_port()),
            **{
                f"OAUTH2_{name.upper()}_GRPC_PORT": str(free_port())
                for name in ("authorize", "clients", "admin")
            },
            OAUTH2_TOKEN_GRPC_PORT=str(taken),
        )
        line = one_line_exit_2(run_module(["oauth2ctl.devrun", "--plaintext"], env, tmp_path))
    assert (
        line == f"token: port {taken} is in use (set OAUTH2_TOKEN_GRPC_PORT or [token] grpc_port)"
    )
    assert not (tmp_path / "var").exists(), "nothing may start before the check"


@pytest.mark.slow  # long waits: make test-slow and CI run it
def test_make_run_reports_a_process_that_stops_at_start_up_in_its_line(tmp_path: Path) -> None:
    """A port taken after make run's own check (here: one it was told nothing of)
    stops that process; what make run reports is the process's line."""
    ports = {name: free_port() for name in ("clients", "token", "authorize", "admin", "gateway")}
    ports["gateway_admin"] = free_port()
    env = clean_env(tmp_path / "var")
    system = System(env=env, ports=ports, log_dir=tmp_path / "logs", tls=False)
    with occupied(ports["token"]):
        system.migrate()
        system.start_all()
        try:
            with pytest.raises(StartupFailed) as failed:
                system.wait_ready(timeout=60)
        finally:
            system.stop_all()
    assert str(failed.value) == (
        f"token: port {ports['token']} is in use (set OAUTH2_TOKEN_GRPC_PORT or [token] grpc_port)"
    )


def test_make_run_with_an_unreachable_database_is_one_line(tmp_path: Path) -> None:
    url, port = closed_port_url("postgresql")
    env = clean_env(
        tmp_path / "var",
        DATABASE_URL=url,
        OAUTH2_STARTUP_TIMEOUT_SECONDS="1",
        OAUTH2_PORT=str(free_port()),
        OAUTH2_ADMIN_PORT=str(free_port()),
        **{
            f"OAUTH2_{name.upper()}_GRPC_PORT": str(free_port())
            for name in ("authorize", "token", "clients", "admin")
        },
    )
    line = one_line_exit_2(run_module(["oauth2ctl.devrun", "--plaintext"], env, tmp_path))
    # Four services migrate at once and find the same database away: said once.
    assert line.endswith(
        f": PostgreSQL at 127.0.0.1:{port} did not answer within 1s"
        " (connection refused; set DATABASE_URL or database_url)"
    )
