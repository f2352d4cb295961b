"""``make run RUN_ARGS=--tls``: the gateway's public certificate comes from the same
throwaway CA as the gRPC ones, the issuer is https, oauth2ctl (and only it) trusts
the CA, and the banner says where the CA is (oauth2ctl.devrun)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from cryptography import x509

from oauth2ctl.devrun import PROCESSES, System, https_banner


def test_the_gateway_gets_a_certificate_of_the_same_ca(tmp_path: Path) -> None:
    system = System(env={"OAUTH2_DATA_DIR": str(tmp_path)}, gateway_tls=True)
    assert system.base_url == "https://127.0.0.1:8080"
    gateway = system.process_env("gateway")
    assert gateway["OAUTH2_ISSUER"] == "https://127.0.0.1:8080"
    cert_file = Path(gateway["OAUTH2_TLS_CERT_FILE"])
    assert cert_file == tmp_path / "certs" / "gateway-https.crt"
    assert gateway["OAUTH2_TLS_KEY_FILE"] == str(tmp_path / "certs" / "gateway-https.key")
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    ca = x509.load_pem_x509_certificate((tmp_path / "certs" / "ca.crt").read_bytes())
    cert.verify_directly_issued_by(ca)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert ipaddress.IPv4Address("127.0.0.1") in names.get_values_for_type(x509.IPAddress)
    # The gRPC certificates are of that CA too (one set, one CA).
    grpc = x509.load_pem_x509_certificate(Path(gateway["OAUTH2_GRPC_TLS_CERT_FILE"]).read_bytes())
    grpc.verify_directly_issued_by(ca)
    # Only the gateway serves it.
    for name in PROCESSES[:-1]:
        assert "OAUTH2_TLS_CERT_FILE" not in system.process_env(name)


def test_only_oauth2ctl_trusts_the_throwaway_ca(tmp_path: Path) -> None:
    system = System(
        env={"OAUTH2_DATA_DIR": str(tmp_path), "SSL_CERT_FILE": "/etc/ssl/system.pem"},
        gateway_tls=True,
    )
    ca = str(tmp_path / "certs" / "ca.crt")
    assert system.common_env()["SSL_CERT_FILE"] == ca
    for name in PROCESSES:
        assert system.process_env(name)["SSL_CERT_FILE"] == "/etc/ssl/system.pem"
    bare = System(env={"OAUTH2_DATA_DIR": str(tmp_path)}, gateway_tls=True)
    assert bare.common_env()["SSL_CERT_FILE"] == ca
    assert "SSL_CERT_FILE" not in bare.process_env("gateway")


def test_plaintext_grpc_with_https_keeps_one_ca(tmp_path: Path) -> None:
    # --plaintext --tls: no gRPC certificates in the environment, but the set stays
    # whole, so that a later mutual-TLS run does not find certificates of another CA.
    system = System(env={"OAUTH2_DATA_DIR": str(tmp_path)}, tls=False, gateway_tls=True)
    gateway = system.process_env("gateway")
    assert "OAUTH2_GRPC_TLS_CERT_FILE" not in gateway
    assert gateway["OAUTH2_TLS_CERT_FILE"].endswith("gateway-https.crt")
    ca = x509.load_pem_x509_certificate((tmp_path / "certs" / "ca.crt").read_bytes())
    token = x509.load_pem_x509_certificate((tmp_path / "certs" / "token.crt").read_bytes())
    token.verify_directly_issued_by(ca)


def test_without_tls_nothing_changes(tmp_path: Path) -> None:
    system = System(env={"OAUTH2_DATA_DIR": str(tmp_path)})
    assert system.base_url == "http://127.0.0.1:8080"
    assert system.https_certificate() is None
    assert "OAUTH2_TLS_CERT_FILE" not in system.process_env("gateway")
    assert "SSL_CERT_FILE" not in system.common_env()
    assert https_banner(system) == ""
    assert not (tmp_path / "certs" / "gateway-https.crt").exists()


def test_the_banner_says_where_the_ca_is(tmp_path: Path) -> None:
    system = System(env={"OAUTH2_DATA_DIR": str(tmp_path)}, gateway_tls=True)
    ca = tmp_path / "certs" / "ca.crt"
    assert https_banner(system).splitlines() == [
        f"  TLS CA:    {ca} (throwaway; oauth2ctl trusts it)",
        f"    curl --cacert {ca} https://127.0.0.1:8080/.well-known/openid-configuration",
        "    oauth2ctl in another shell needs the issuer and the CA:",
        f"    export OAUTH2_ISSUER=https://127.0.0.1:8080 SSL_CERT_FILE={ca}",
    ]
