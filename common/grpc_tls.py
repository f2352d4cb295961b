"""Mutual TLS between the processes (docs/operators.md, "Service-to-service TLS").

Every process holds one certificate whose subject common name (CN) is its process name
(``gateway``, ``authorize``, ``token``, ``clients``, ``admin``, ``ctl`` for oauth2ctl),
signed by one CA that every process trusts. Servers require a client certificate from
that CA; clients check the server's certificate against the same CA and the target's
host name. The CN of the verified client certificate is the caller's identity
(:func:`caller_of`), which :mod:`common.grpc_callers` checks against each service's
allow-list and the admin service records as the source of audit events.

With none of the three file settings, channels are plaintext and there is no caller
identity (and so no allow-list): the embedded default on loopback can run that way,
a deployment should not.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from cryptography import x509
from cryptography.x509.oid import NameOID

from common.settings import CommonSettings


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """The PEM bytes of the CA, of this process's certificate chain and of its key."""

    ca: bytes
    cert: bytes
    key: bytes

    @classmethod
    def load(cls, ca_file: Path, cert_file: Path, key_file: Path) -> TlsFiles:
        return cls(ca=ca_file.read_bytes(), cert=cert_file.read_bytes(), key=key_file.read_bytes())

    @classmethod
    def from_settings(cls, settings: CommonSettings) -> TlsFiles | None:
        """None when mTLS is not configured (the three settings are all or nothing)."""
        if settings.grpc_tls_ca_file is None:
            return None
        assert settings.grpc_tls_cert_file is not None  # checked by the settings
        assert settings.grpc_tls_key_file is not None
        try:
            return cls.load(
                settings.grpc_tls_ca_file, settings.grpc_tls_cert_file, settings.grpc_tls_key_file
            )
        except OSError as exc:
            # Start-up fails fast, naming the file, rather than at the first call.
            raise SystemExit(
                f"{settings.PROCESS}: cannot read a gRPC TLS file: {exc.filename}: {exc.strerror}"
            ) from None

    def common_name(self) -> str | None:
        """The subject CN of this process's certificate (its identity to the others)."""
        try:
            cert = x509.load_pem_x509_certificate(self.cert)
        except ValueError:
            return None
        names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return str(names[0].value) if names else None

    def server_credentials(self) -> grpc.ServerCredentials:
        return grpc.ssl_server_credentials(
            [(self.key, self.cert)], root_certificates=self.ca, require_client_auth=True
        )

    def channel_credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca, private_key=self.key, certificate_chain=self.cert
        )


def target_name_override(target: str) -> list[tuple[str, Any]]:
    """Channel options naming the host the server's certificate must be valid for,
    where the target itself names none: a list of addresses ("ipv4:a:p,b:p", the
    e2e systems' replicas) gets the first address's host, which the development
    certificates carry (127.0.0.1). A dns:/// name is checked as it is."""
    if target.startswith(("ipv4:", "ipv6:")):
        first = target.split(":", 1)[1].split(",", 1)[0]
        host = first.rsplit(":", 1)[0].strip("[]")
        return [("grpc.ssl_target_name_override", host)]
    return []


def caller_of(context: grpc.aio.ServicerContext[Any, Any]) -> str | None:
    """The CN of the caller's verified client certificate, or None on a plaintext
    connection (the server only accepts certificates from its CA)."""
    auth = context.auth_context()
    names = list(auth.get("x509_common_name") or [])
    if not names:
        return None
    name = names[0]
    return name.decode("ascii", errors="replace") if isinstance(name, bytes) else str(name)
