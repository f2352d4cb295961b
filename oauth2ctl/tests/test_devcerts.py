"""make run's throwaway certificates: one per process, private files, reused while
valid, handed to each process in its environment (oauth2ctl.devrun.System)."""

from __future__ import annotations

import stat
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

from oauth2ctl.devcerts import ensure_certificates
from oauth2ctl.devrun import PROCESSES, System


def test_each_process_gets_its_own_certificate_in_its_environment(tmp_path: Path) -> None:
    system = System(env={"OAUTH2_DATA_DIR": str(tmp_path)})
    for name in PROCESSES:
        env = system.process_env(name)
        cert = x509.load_pem_x509_certificate(Path(env["OAUTH2_GRPC_TLS_CERT_FILE"]).read_bytes())
        cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        assert cn == name
        assert env["OAUTH2_GRPC_TLS_KEY_FILE"] == str(tmp_path / "certs" / f"{name}.key")
        assert env["OAUTH2_GRPC_TLS_CA_FILE"] == str(tmp_path / "certs" / "ca.crt")
    # oauth2ctl, run with the common environment, is "ctl".
    assert system.common_env()["OAUTH2_GRPC_TLS_CERT_FILE"].endswith("/ctl.crt")


def test_the_files_are_private_and_reused_while_valid(tmp_path: Path) -> None:
    first = ensure_certificates(tmp_path / "certs", ["token", "gateway"])
    assert stat.S_IMODE((tmp_path / "certs").stat().st_mode) == 0o700
    for path in (tmp_path / "certs").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    before = first["token"].cert.read_bytes()
    again = ensure_certificates(tmp_path / "certs", ["token", "gateway"])
    assert again["token"].cert.read_bytes() == before
    # The CA's private key is never written: nothing can be issued from these files.
    assert sorted(p.name for p in (tmp_path / "certs").iterdir()) == [
        "ca.crt",
        "gateway.crt",
        "gateway.key",
        "token.crt",
        "token.key",
    ]
    # A missing file makes a new set (a new CA: the old certificates would not verify).
    first["gateway"].key.unlink()
    renewed = ensure_certificates(tmp_path / "certs", ["token", "gateway"])
    assert renewed["token"].cert.read_bytes() != before


def test_plaintext_or_certificates_of_ones_own(tmp_path: Path) -> None:
    plain = System(env={"OAUTH2_DATA_DIR": str(tmp_path)}, tls=False)
    assert not any(k.startswith("OAUTH2_GRPC_TLS_") for k in plain.process_env("token"))
    assert not (tmp_path / "certs").exists()
    own = {
        "OAUTH2_DATA_DIR": str(tmp_path),
        "OAUTH2_GRPC_TLS_CA_FILE": "/pki/ca.crt",
        "OAUTH2_GRPC_TLS_CERT_FILE": "/pki/me.crt",
        "OAUTH2_GRPC_TLS_KEY_FILE": "/pki/me.key",
    }
    env = System(env=own).process_env("token")
    assert env["OAUTH2_GRPC_TLS_CERT_FILE"] == "/pki/me.crt"
    assert not (tmp_path / "certs").exists()
