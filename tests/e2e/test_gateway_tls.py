"""The gateway on HTTPS, as ``make run RUN_ARGS=--tls`` starts it (oauth2ctl.devrun
``gateway_tls``): a person signs in over TLS (authorization code + PKCE), with
Secure cookies and HSTS; oauth2ctl trusts the throwaway CA; the certificate is
renewed on disk and new connections get it without a restart."""

from __future__ import annotations

import os
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from oauth2ctl.devcerts import Authority
from oauth2ctl.devrun import PROCESSES, System, free_port
from tests.e2e.browser import Arrival, Browser, pkce_pair
from tests.e2e.conftest import OAUTH2CTL, RunningSystem, base_env, basic, postgres_env
from tests.e2e.test_sign_in import PASSWORD, REDIRECT, SCOPE, authorize_url, new_client, unique

pytestmark = pytest.mark.e2e


def start_tls_system(
    request: pytest.FixtureRequest, name: str, extra_env: dict[str, str] | None = None
) -> RunningSystem:
    """The five processes on a new PostgreSQL database and Redis (key prefix ``name``),
    the gateway's public listener on TLS, bootstrapped; ``extra_env`` on top."""
    data_dir = request.getfixturevalue("tmp_path_factory").mktemp(f"e2e-{name}")
    env = base_env(data_dir)
    database_url = request.getfixturevalue("new_database")()
    postgres_env(
        env,
        database_url,
        request.getfixturevalue("redis_url"),
        request.getfixturevalue("redis_prefix") + f"{name}:",
    )
    env.update(extra_env or {})
    ports = {process: free_port() for process in PROCESSES}
    ports["gateway_admin"] = free_port()
    system = System(env=env, ports=ports, log_dir=data_dir / "logs", gateway_tls=True)
    system.start_with_migrations()
    try:
        system.wait_ready(timeout=60)
        # oauth2ctl gets its admin token at the https issuer: it trusts the CA.
        system.bootstrap()
    except RuntimeError:
        system.stop_all()
        logs = "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
            for p in (data_dir / "logs").glob("*.log")
        )
        raise RuntimeError(f"system did not start\n{logs}") from None
    return RunningSystem(
        system=system, mode="postgres", data_dir=data_dir, database_url=database_url
    )


@pytest.fixture(scope="module")
def tls_system(request: pytest.FixtureRequest) -> Iterator[RunningSystem]:
    """The five processes on PostgreSQL and Redis, the gateway's public listener on TLS."""
    running = start_tls_system(request, "tls")
    yield running
    running.system.stop_all()


def trust(system: RunningSystem) -> ssl.SSLContext:
    https = system.system.https_certificate()
    assert https is not None
    return ssl.create_default_context(cafile=https.ca)


def cookie_attributes(header: str) -> set[str]:
    return {part.strip().lower() for part in header.split(";")[1:]}


def test_sign_in_over_https(tls_system: RunningSystem) -> None:
    system = tls_system
    assert system.base_url.startswith("https://127.0.0.1:")
    context = trust(system)
    client = new_client(system, "client_secret_basic")
    username = unique("alice")
    user = system.create_user(username, PASSWORD)
    verifier, challenge = pkce_pair()

    with Browser(system.base_url) as browser:
        browser.http.close()
        browser.http = httpx.Client(
            base_url=system.base_url, follow_redirects=False, timeout=15, verify=context
        )
        first = browser.http.get(authorize_url(client["client_id"], challenge, state="tls-state"))
        assert first.status_code in (302, 303), first.text
        assert first.headers["strict-transport-security"] == "max-age=31536000"
        set_cookies = first.headers.get_list("set-cookie")
        assert set_cookies, "the authorization request set no session cookie"
        for header in set_cookies:
            assert {"secure", "httponly", "samesite=lax"} <= cookie_attributes(header), header
        login = browser.go(first.headers["location"])
        assert isinstance(login, httpx.Response) and login.status_code == 200
        assert login.url.scheme == "https" and 'name="password"' in login.text
        assert login.headers["strict-transport-security"] == "max-age=31536000"

        consent = browser.submit(login, {"username": username, "password": PASSWORD})
        assert isinstance(consent, httpx.Response) and consent.status_code == 200
        assert "consent" in str(consent.url)
        assert consent.headers["strict-transport-security"] == "max-age=31536000"
        arrival = browser.submit(consent, button="decision=approve")
        assert isinstance(arrival, Arrival)
        assert arrival.url.startswith(REDIRECT + "?")
        assert arrival.params["state"] == "tls-state"
        assert arrival.params["iss"] == system.base_url

        resp = browser.http.post(
            "/oauth/token",
            data={
                "grant_type": "authorization_code",
                "code": arrival.params["code"],
                "redirect_uri": REDIRECT,
                "code_verifier": verifier,
            },
            headers={"Authorization": basic(client["client_id"], client["client_secret"])},
        )
        assert resp.status_code == 200, resp.text
        assert resp.headers["strict-transport-security"] == "max-age=31536000"
        tokens = resp.json()
        assert tokens["scope"] == SCOPE and tokens["token_type"] == "Bearer"
        info = browser.http.get(
            "/oauth/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
        )
        assert info.status_code == 200 and info.json()["sub"] == user["user_id"]
        metadata = browser.http.get("/.well-known/openid-configuration").json()
        assert metadata["issuer"] == system.base_url
        assert metadata["token_endpoint"] == system.base_url + "/oauth/token"


def test_plain_http_and_unknown_cas_are_refused(tls_system: RunningSystem) -> None:
    port = tls_system.base_url.rpartition(":")[2]
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
    # The system's trust store does not know the throwaway CA.
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(tls_system.base_url + "/health", timeout=5)


def test_oauth2ctl_gets_its_token_at_the_https_issuer(tls_system: RunningSystem) -> None:
    result = tls_system.ctl(
        "client",
        "create",
        "--name",
        unique("machine"),
        "--grant-type",
        "client_credentials",
        "--scope",
        "api:read",
        "--get-token",
        "--json",
    )
    assert '"access_token"' in result.stdout
    # Its trust in the throwaway CA comes from SSL_CERT_FILE, which the processes
    # do not get (their outbound HTTPS keeps the trust they had).
    system = tls_system.system
    https = system.https_certificate()
    assert https is not None and system.common_env()["SSL_CERT_FILE"] == str(https.ca)
    assert system.process_env("gateway").get("SSL_CERT_FILE") == system.env.get("SSL_CERT_FILE")
    env = {k: v for k, v in system.common_env().items() if k != "SSL_CERT_FILE"}
    refused = subprocess.run(
        [
            OAUTH2CTL,
            "client",
            "create",
            "--name",
            unique("machine"),
            "--grant-type",
            "client_credentials",
            "--get-token",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert refused.returncode != 0 and "access_token" not in refused.stdout
    assert "Traceback" not in refused.stderr


def _served_serial(base_url: str) -> int:
    port = int(base_url.rpartition(":")[2])
    pem = ssl.get_server_certificate(("127.0.0.1", port), timeout=5)
    return x509.load_pem_x509_certificate(pem.encode()).serial_number


def _replace(path: Path, data: bytes) -> None:
    staged = path.with_name(f".{path.name}.new")
    staged.write_bytes(data)
    os.replace(staged, path)


def test_a_renewed_certificate_is_served_without_a_restart(tls_system: RunningSystem) -> None:
    https = tls_system.system.https_certificate()
    assert https is not None
    gateway = tls_system.system.processes["gateway"][0]
    original = (https.cert.read_bytes(), https.key.read_bytes())
    before = _served_serial(tls_system.base_url)
    assert before == x509.load_pem_x509_certificate(original[0]).serial_number

    renewal = Authority.create("renewal CA")
    cert_pem, key_pem = renewal.issue("gateway-https")
    renewed = x509.load_pem_x509_certificate(cert_pem).serial_number
    try:
        _replace(https.key, key_pem)
        _replace(https.cert, cert_pem)
        deadline = time.monotonic() + 10
        while (served := _served_serial(tls_system.base_url)) != renewed:
            assert time.monotonic() < deadline, f"still serving {served}, not {renewed}"
            time.sleep(0.3)
        context = ssl.create_default_context(cadata=renewal.cert_pem().decode())
        with httpx.Client(verify=context, timeout=5) as http:
            assert http.get(tls_system.base_url + "/health").status_code == 200
    finally:
        # Back to the first certificate, which the other tests' CA signed: reloaded too.
        _replace(https.key, original[1])
        _replace(https.cert, original[0])
    deadline = time.monotonic() + 10
    while _served_serial(tls_system.base_url) != before:
        assert time.monotonic() < deadline, "the original certificate was not reloaded"
        time.sleep(0.3)
    assert tls_system.system.processes["gateway"][0] is gateway and gateway.poll() is None
