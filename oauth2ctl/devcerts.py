"""Throwaway certificates for mutual TLS between the processes of ``make run``.

One CA (ECDSA P-256, valid a year) and one certificate per process, subject CN =
the process name (common.grpc_callers), SANs = that name, localhost and 127.0.0.1,
usable both as server and as client certificate; ``make run --tls`` adds one more,
``gateway-https``, for the gateway's public listener (oauth2ctl.devrun). Written
once into a directory with mode 0700, every file 0600; kept while they stay
valid, so a restart reuses them. Development only: production certificates come
from the operator's PKI (deploy/README.md).
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_NAME = "ca"
_VALIDITY = datetime.timedelta(days=365)
#: Regenerate when less than this is left.
_RENEW_BEFORE = datetime.timedelta(days=7)


@dataclass(frozen=True, slots=True)
class CertFiles:
    """Where one process's certificate, its key and the CA certificate are."""

    ca: Path
    cert: Path
    key: Path

    def env(self) -> dict[str, str]:
        return {
            "OAUTH2_GRPC_TLS_CA_FILE": str(self.ca),
            "OAUTH2_GRPC_TLS_CERT_FILE": str(self.cert),
            "OAUTH2_GRPC_TLS_KEY_FILE": str(self.key),
        }


def _write_private(path: Path, data: bytes) -> None:
    """Mode 0600 from the first byte."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.chmod(path, 0o600)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "oauth2 development"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


@dataclass(frozen=True, slots=True)
class Authority:
    """A CA that signs process certificates."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @classmethod
    def create(cls, common_name: str = "oauth2 development CA") -> Authority:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(_name(common_name))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .sign(key, hashes.SHA256())
        )
        return cls(cert, key)

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(self, common_name: str, dns_names: Iterable[str] = ()) -> tuple[bytes, bytes]:
        """(certificate PEM, key PEM) for ``common_name``, valid as server and client."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        names = dict.fromkeys([common_name, *dns_names, "localhost"])
        alt_names: list[x509.GeneralName] = [x509.DNSName(name) for name in names]
        alt_names.append(x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")))
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
            .sign(self.key, hashes.SHA256())
        )
        return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)

    def write(self, directory: Path, common_name: str) -> CertFiles:
        """Issue a certificate for ``common_name`` into ``directory``."""
        cert_pem, key_pem = self.issue(common_name)
        files = CertFiles(
            ca=directory / f"{CA_NAME}.crt",
            cert=directory / f"{common_name}.crt",
            key=directory / f"{common_name}.key",
        )
        _write_private(files.key, key_pem)
        _write_private(files.cert, cert_pem)
        return files


def _still_valid(path: Path) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return False
    return cert.not_valid_after_utc - datetime.datetime.now(datetime.UTC) > _RENEW_BEFORE


def ensure_certificates(directory: Path, names: Iterable[str]) -> dict[str, CertFiles]:
    """The CA and a certificate per name in ``directory``: reused while all are
    there and valid, otherwise all made anew (a new CA invalidates the old ones)."""
    names = list(names)
    files = {
        name: CertFiles(
            ca=directory / f"{CA_NAME}.crt",
            cert=directory / f"{name}.crt",
            key=directory / f"{name}.key",
        )
        for name in names
    }
    wanted = [directory / f"{CA_NAME}.crt"] + [
        path for entry in files.values() for path in (entry.cert, entry.key)
    ]
    if all(path.exists() for path in wanted) and all(
        _still_valid(entry.cert) for entry in files.values()
    ):
        return files
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    authority = Authority.create()
    # The CA's key is not written: nothing is ever issued after this run.
    for name in names:
        authority.write(directory, name)
    _write_private(directory / f"{CA_NAME}.crt", authority.cert_pem())
    return files


#: Every process that gets a certificate: the four services, the gateway, oauth2ctl.
ALL_NAMES = ("gateway", "authorize", "token", "clients", "admin", "ctl")


def main(argv: list[str] | None = None) -> int:
    """``python -m oauth2ctl.devcerts DIR [--owner UID:GID]``: docker compose's
    one-shot certificate maker (its volume is shared by every process)."""
    parser = argparse.ArgumentParser(prog="python -m oauth2ctl.devcerts")
    parser.add_argument("directory", type=Path)
    parser.add_argument("--owner", help="UID:GID to give the files (the processes' user)")
    args = parser.parse_args(argv)
    files = ensure_certificates(args.directory, ALL_NAMES)
    if args.owner:
        uid, _, gid = args.owner.partition(":")
        paths = [args.directory, *{p for f in files.values() for p in (f.ca, f.cert, f.key)}]
        for path in paths:
            os.chown(path, int(uid), int(gid or uid))
    print(f"certificates for {', '.join(ALL_NAMES)} in {args.directory}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
