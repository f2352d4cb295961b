"""TLS at the gateway (gateway/tls.py): the certificate is reloaded when its files
change, in every worker; bad certificate settings stop start-up with one line;
HSTS and Secure cookies whenever the issuer is https, TLS here or at an ingress."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from pydantic import SecretStr

from gateway.settings import GatewaySettings
from gateway.tests.conftest import Factory
from gateway.tests.processes import gateway_env
from gateway.tls import CHECK_EVERY_SECONDS, ReloadingCertificate, TlsFiles, TlsFilesError
from oauth2ctl.devcerts import Authority
from oauth2ctl.devrun import free_port


def issue(authority: Authority, directory: Path, name: str = "gateway-https") -> int:
    """A new certificate of ``authority`` for localhost and 127.0.0.1 written over
    ``directory/name.crt`` and ``.key`` (each by rename, as a Secret volume
    swaps them); its serial number."""
    cert_pem, key_pem = authority.issue(name)
    for suffix, data in ((".key", key_pem), (".crt", cert_pem)):
        staged = directory / f".{name}{suffix}.new"
        staged.write_bytes(data)
        os.replace(staged, directory / f"{name}{suffix}")
    return x509.load_pem_x509_certificate(cert_pem).serial_number


def files_in(directory: Path, name: str = "gateway-https") -> TlsFiles:
    return TlsFiles(directory / f"{name}.crt", directory / f"{name}.key")


def handshake(server: ssl.SSLContext, ca: Authority, server_hostname: str) -> int:
    """A TLS handshake in memory against ``server``, verified with ``ca``; the
    serial number of the certificate the server presented."""
    client_context = ssl.create_default_context(cadata=ca.cert_pem().decode())
    client_in, client_out, server_in, server_out = (ssl.MemoryBIO() for _ in range(4))
    client = client_context.wrap_bio(client_in, client_out, server_hostname=server_hostname)
    peer = server.wrap_bio(server_in, server_out, server_side=True)
    done = {"client": False, "server": False}
    for _ in range(20):
        for name, side in (("client", client), ("server", peer)):
            if not done[name]:
                try:
                    side.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
        server_in.write(client_out.read())
        client_in.write(server_out.read())
        if all(done.values()):
            break
    assert all(done.values()), "the handshake did not finish"
    der = client.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("server_hostname", ["localhost", "127.0.0.1"])
def test_a_renewed_certificate_serves_new_handshakes(tmp_path: Path, server_hostname: str) -> None:
    # 127.0.0.1: no SNI is sent for an IP address, and the callback still runs.
    ca = Authority.create()
    first = issue(ca, tmp_path)
    clock = Clock()
    reloading = ReloadingCertificate(files_in(tmp_path), clock)
    assert handshake(reloading.context, ca, server_hostname) == first

    second = issue(ca, tmp_path)
    assert second != first
    # Looked at no more than once every CHECK_EVERY_SECONDS.
    assert handshake(reloading.context, ca, server_hostname) == first
    clock.now += CHECK_EVERY_SECONDS
    assert handshake(reloading.context, ca, server_hostname) == second
    assert handshake(reloading.context, ca, server_hostname) == second


def test_a_half_written_renewal_keeps_the_previous_certificate(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ca = Authority.create()
    first = issue(ca, tmp_path)
    clock = Clock()
    reloading = ReloadingCertificate(files_in(tmp_path), clock)
    # The new certificate is there, its key not yet.
    cert_pem, key_pem = ca.issue("gateway-https")
    (tmp_path / "gateway-https.crt").write_bytes(cert_pem)
    clock.now += CHECK_EVERY_SECONDS
    assert handshake(reloading.context, ca, "localhost") == first
    assert "TLS certificate not reloaded" in caplog.text
    assert "does not belong to the certificate" in caplog.text
    # Refused once per change, not at every check.
    caplog.clear()
    clock.now += CHECK_EVERY_SECONDS
    assert handshake(reloading.context, ca, "localhost") == first
    assert "not reloaded" not in caplog.text

    (tmp_path / "gateway-https.key").write_bytes(key_pem)
    clock.now += CHECK_EVERY_SECONDS
    new_serial = x509.load_pem_x509_certificate(cert_pem).serial_number
    assert handshake(reloading.context, ca, "localhost") == new_serial


def test_an_encrypted_key_needs_its_password(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    ca = Authority.create()
    cert_pem, key_pem = ca.issue("gateway-https")
    key = serialization.load_pem_private_key(key_pem, None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"s3cret"),
    )
    (tmp_path / "gateway-https.crt").write_bytes(cert_pem)
    (tmp_path / "gateway-https.key").write_bytes(encrypted)
    files = files_in(tmp_path)
    for wrong in (None, "wrong"):
        with pytest.raises(
            TlsFilesError, match=r"cannot decrypt the key .*: wrong or missing tls_key_password"
        ):
            TlsFiles(files.cert, files.key, wrong).load()
    context = TlsFiles(files.cert, files.key, "s3cret").load()
    assert (
        handshake(context, ca, "localhost")
        == x509.load_pem_x509_certificate(cert_pem).serial_number
    )
    settings = GatewaySettings(
        issuer="https://127.0.0.1:8443",
        tls_cert_file=files.cert,
        tls_key_file=files.key,
        tls_key_password=SecretStr("s3cret"),
    )
    assert settings.public_tls == TlsFiles(files.cert, files.key, "s3cret")
    assert settings.admin_tls is None


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with gateway-https.crt/.key and other.key (of another certificate)."""
    directory = tmp_path_factory.mktemp("tls")
    ca = Authority.create()
    issue(ca, directory)
    _, other_key = ca.issue("other")
    (directory / "other.key").write_bytes(other_key)
    (directory / "garbage.pem").write_text("not a certificate\n")
    return directory


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"TLS_CERT_FILE": "{d}/gateway-https.crt"},
            "invalid setting 'tls_key_file' [OAUTH2_TLS_KEY_FILE]: Value error,"
            " tls_cert_file and tls_key_file go together",
        ),
        (
            {"TLS_KEY_FILE": "{d}/gateway-https.key"},
            "invalid setting 'tls_key_file' [OAUTH2_TLS_KEY_FILE]: Value error,"
            " tls_cert_file and tls_key_file go together (got '{d}/gateway-https.key')",
        ),
        (
            {"TLS_CERT_FILE": "{d}/missing.crt", "TLS_KEY_FILE": "{d}/gateway-https.key"},
            "invalid setting 'tls_key_file' [OAUTH2_TLS_KEY_FILE]: Value error,"
            " cannot read {d}/missing.crt: No such file or directory"
            " (got '{d}/gateway-https.key')",
        ),
        (
            {"TLS_CERT_FILE": "{d}/gateway-https.crt", "TLS_KEY_FILE": "{d}/other.key"},
            "invalid setting 'tls_key_file' [OAUTH2_TLS_KEY_FILE]: Value error,"
            " the key {d}/other.key does not belong to the certificate {d}/gateway-https.crt"
            " (got '{d}/other.key')",
        ),
        (
            {"TLS_CERT_FILE": "{d}/garbage.pem", "TLS_KEY_FILE": "{d}/gateway-https.key"},
            "invalid setting 'tls_key_file' [OAUTH2_TLS_KEY_FILE]: Value error,"
            " {d}/garbage.pem and {d}/gateway-https.key are not a PEM certificate chain"
            " and private key (got '{d}/gateway-https.key')",
        ),
        (
            {
                "ISSUER": "http://127.0.0.1:8080",
                "TLS_CERT_FILE": "{d}/gateway-https.crt",
                "TLS_KEY_FILE": "{d}/gateway-https.key",
            },
            "invalid setting 'tls_cert_file' [OAUTH2_TLS_CERT_FILE]: Value error, the gateway"
            " serves https, so the issuer must be an https:// URL (got '{d}/gateway-https.crt')",
        ),
        (
            {"ADMIN_TLS_CERT_FILE": "{d}/gateway-https.crt"},
            "invalid setting 'admin_tls_key_file' [OAUTH2_ADMIN_TLS_KEY_FILE]: Value error,"
            " admin_tls_cert_file and admin_tls_key_file go together",
        ),
        (
            {
                "ADMIN_TLS_CERT_FILE": "{d}/gateway-https.crt",
                "ADMIN_TLS_KEY_FILE": "{d}/other.key",
            },
            "invalid setting 'admin_tls_key_file' [OAUTH2_ADMIN_TLS_KEY_FILE]: Value error,"
            " the key {d}/other.key does not belong to the certificate {d}/gateway-https.crt"
            " (got '{d}/other.key')",
        ),
    ],
    ids=[
        "cert-only",
        "key-only",
        "missing-file",
        "key-of-another-cert",
        "not-pem",
        "http-issuer",
        "admin-cert-only",
        "admin-mismatch",
    ],
)
def test_bad_tls_settings_stop_start_up(
    pair: Path, tmp_path: Path, settings: dict[str, str], message: str
) -> None:
    env = gateway_env(tmp_path, OAUTH2_ISSUER="https://127.0.0.1:8443")
    env.update({f"OAUTH2_{key}": value.format(d=pair) for key, value in settings.items()})
    result = subprocess.run(
        [sys.executable, "-m", "gateway"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["gateway: " + message.format(d=pair)]


def _https_get(url: str, context: ssl.SSLContext) -> httpx.Response:
    with httpx.Client(verify=context, timeout=5) as http:
        return http.get(url)


def _served_serial(port: int) -> int:
    """The serial of the certificate a new connection to 127.0.0.1:``port`` gets."""
    pem = ssl.get_server_certificate(("127.0.0.1", port), timeout=5)
    return x509.load_pem_x509_certificate(pem.encode()).serial_number


@pytest.fixture
def tls_gateway(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> Iterator[tuple[Authority, Path, int, int]]:
    """The gateway alone on two workers, both listeners on TLS with one pair of files:
    (CA, the files' directory, public port, admin port)."""
    ca = Authority.create()
    certs = tmp_path / "certs"
    certs.mkdir()
    issue(ca, certs)
    port, admin_port = free_port(), free_port()
    cert, key = str(certs / "gateway-https.crt"), str(certs / "gateway-https.key")
    env = gateway_env(
        tmp_path,
        OAUTH2_ISSUER=f"https://127.0.0.1:{port}",
        OAUTH2_PORT=str(port),
        OAUTH2_ADMIN_PORT=str(admin_port),
        OAUTH2_WORKERS="2",
        REDIS_URL=redis_url,
        OAUTH2_REDIS_KEY_PREFIX=redis_prefix + "tls-workers:",
        OAUTH2_TLS_CERT_FILE=cert,
        OAUTH2_TLS_KEY_FILE=key,
        OAUTH2_ADMIN_TLS_CERT_FILE=cert,
        OAUTH2_ADMIN_TLS_KEY_FILE=key,
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    context = ssl.create_default_context(cadata=ca.cert_pem().decode())
    try:
        deadline = time.monotonic() + 30
        for url in (f"https://127.0.0.1:{port}/health", f"https://127.0.0.1:{admin_port}/health"):
            while True:
                try:
                    if _https_get(url, context).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
                assert time.monotonic() < deadline, "the gateway did not start"
                time.sleep(0.2)
        yield ca, certs, port, admin_port
    finally:
        proc.terminate()
        proc.wait(20)


def test_every_worker_and_the_admin_listener_reload_the_certificate(
    tls_gateway: tuple[Authority, Path, int, int],
) -> None:
    ca, certs, port, admin_port = tls_gateway
    context = ssl.create_default_context(cadata=ca.cert_pem().decode())
    public = _https_get(f"https://127.0.0.1:{port}/health", context)
    assert public.headers["strict-transport-security"] == "max-age=31536000"
    # HSTS belongs to the public site; the admin listener is not a browser's.
    admin = _https_get(f"https://127.0.0.1:{admin_port}/health", context)
    assert admin.status_code == 200 and "strict-transport-security" not in admin.headers
    first = _served_serial(port)

    renewed = issue(ca, certs)
    time.sleep(CHECK_EVERY_SECONDS + 0.2)
    # A new connection each: either worker may take it, and each must have reloaded.
    # A worker that had no handshake in the last second reloads at its next one.
    serials = {_served_serial(port) for _ in range(30)}
    assert serials == {renewed}, (first, renewed, serials)
    assert _served_serial(admin_port) == renewed
    assert _https_get(f"https://127.0.0.1:{port}/health", context).status_code == 200


async def test_hsts_whenever_the_issuer_is_https(make_client: Factory) -> None:
    # An ingress terminates TLS: the gateway serves plain HTTP to it, the issuer is https.
    ingress = await make_client(issuer="https://auth.example.com")
    health = await ingress.get("/health")
    assert health.headers["strict-transport-security"] == "max-age=31536000"
    login = await ingress.get("/login")
    assert login.headers["strict-transport-security"] == "max-age=31536000"
    # The CSRF double-submit cookie of the bare login form is Secure too.
    attributes = {part.strip().lower() for part in login.headers["set-cookie"].split(";")[1:]}
    assert {"secure", "httponly", "samesite=lax"} <= attributes

    tuned = await make_client(
        issuer="https://auth.example.com", hsts_max_age_seconds=600, hsts_include_subdomains=True
    )
    assert (await tuned.get("/health")).headers[
        "strict-transport-security"
    ] == "max-age=600; includeSubDomains"

    admin = await make_client(issuer="https://auth.example.com", admin_listener=True)
    assert "strict-transport-security" not in (await admin.get("/health")).headers

    plain = await make_client(issuer="http://127.0.0.1:8080")
    health = await plain.get("/health")
    assert health.status_code == 200 and "strict-transport-security" not in health.headers
    login = await plain.get("/login")
    assert "secure" not in login.headers["set-cookie"].lower()
