"""Mutual-TLS client authentication (RFC 8705 section 2): ``tls_client_auth`` and
``self_signed_tls_client_auth``.

The gateway hands over the certificate of the client's TLS connection (DER), from
its own mutual TLS or a trusted proxy's forwarded-certificate header. What is
checked here; every failure is a :class:`CertificateRefused` naming the rule (the
registry answers the same ``invalid_client`` as for every other failure):

1. It parses as an X.509 certificate and is within its validity period (the TLS
   layer checked it when the gateway terminates TLS, but a proxy may forward
   anything).
2. ``tls_client_auth`` (section 2.1): the certificate carries the one subject
   attribute the client registered: its subject DN (``x509.Name`` equality with the
   registered RFC 4514 text), or among its subject alternative names the DNS name
   (case-insensitive), the URI (exact), the IP address (as an address) or the
   e-mail address (case-insensitive). That it chains to a trusted CA is the TLS
   layer's check (the gateway's client CA bundle), not repeated here.
3. ``self_signed_tls_client_auth`` (section 2.2): the certificate's public key
   (its SubjectPublicKeyInfo) is that of one of the client's registered keys
   (``jwks``, or ``jwks_uri`` through common.client_keys, fetched again once when
   the key is not in the cached set). The certificate's own signature proves
   nothing and is never looked at: the TLS handshake proved the client holds the
   private key.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from common.client_keys import (
    ClientKeySets,
    ClientKeySetSource,
    ClientKeysUnavailable,
    NoSuchKey,
)
from common.vocabulary import ClientAuthMethod
from services.clients.domain.model import Client
from services.clients.metrics import CLIENT_CERTIFICATE_AUTHENTICATIONS

#: The longest certificate taken (a client certificate is well under 4 KiB).
MAX_CERTIFICATE_BYTES: Final = 16 * 1024


class CertificateRefused(Exception):
    """The certificate does not authenticate the client; the message says why (for
    logs, never for the client)."""


class CertificateCheckUnavailable(CertificateRefused):
    """The client's jwks_uri did not answer a usable key set."""


class ClientCertificates:
    """Checks a client's TLS certificate against its registration (RFC 8705
    section 2); ``keys`` gives a ``self_signed_tls_client_auth`` client's JWK Set."""

    def __init__(
        self,
        keys: ClientKeySetSource | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys: ClientKeySetSource = keys if keys is not None else ClientKeySets()
        self._clock = clock

    async def verify(self, client: Client, certificate_der: bytes) -> None:
        """Returns when ``certificate_der`` authenticates ``client``;
        CertificateRefused otherwise."""
        try:
            await self._verify(client, certificate_der)
        except CertificateCheckUnavailable:
            CLIENT_CERTIFICATE_AUTHENTICATIONS.labels("unavailable").inc()
            raise
        except CertificateRefused:
            CLIENT_CERTIFICATE_AUTHENTICATIONS.labels("refused").inc()
            raise
        CLIENT_CERTIFICATE_AUTHENTICATIONS.labels("accepted").inc()

    async def _verify(self, client: Client, certificate_der: bytes) -> None:
        certificate = self._certificate(certificate_der)
        method = client.token_endpoint_auth_method
        if method == ClientAuthMethod.TLS_CLIENT_AUTH:
            _check_subject(client, certificate)
        elif method == ClientAuthMethod.SELF_SIGNED_TLS_CLIENT_AUTH:
            await self._check_public_key(client, certificate)
        else:  # the registry sends only these methods here; defence in depth
            raise CertificateRefused(f"{client.client_id!r} registered {method}")

    def _certificate(self, der: bytes) -> x509.Certificate:
        if not der:
            raise CertificateRefused("no TLS client certificate")
        if len(der) > MAX_CERTIFICATE_BYTES:
            raise CertificateRefused(f"TLS client certificate over {MAX_CERTIFICATE_BYTES} bytes")
        try:
            certificate = x509.load_der_x509_certificate(der)
            not_before = certificate.not_valid_before_utc
            not_after = certificate.not_valid_after_utc
        except ValueError:
            raise CertificateRefused("the TLS client certificate is not X.509 DER") from None
        now = datetime.fromtimestamp(self._clock(), UTC)
        if now < not_before:
            raise CertificateRefused(
                f"the TLS client certificate is not valid before {not_before.isoformat()}"
            )
        if now > not_after:
            raise CertificateRefused(
                f"the TLS client certificate expired at {not_after.isoformat()}"
            )
        return certificate

    async def _check_public_key(self, client: Client, certificate: x509.Certificate) -> None:
        """RFC 8705 section 2.2: the certificate's key is one of the client's."""
        try:
            presented = _spki(certificate.public_key())
        except (ValueError, TypeError):
            raise CertificateRefused("the TLS client certificate's key is unusable") from None
        try:
            keys = await self._keys.key_set(jwks=client.jwks, jwks_uri=client.jwks_uri)
            if presented in _registered_spkis(keys):
                return
            if client.jwks_uri:
                # The client may have rotated its keys: look once more.
                keys = await self._keys.key_set(
                    jwks=client.jwks, jwks_uri=client.jwks_uri, refetch=True
                )
                if presented in _registered_spkis(keys):
                    return
        except ClientKeysUnavailable as exc:
            raise CertificateCheckUnavailable(f"cannot read the client's keys: {exc}") from None
        except NoSuchKey as exc:
            raise CertificateRefused(str(exc)) from None
        raise CertificateRefused(
            f"the TLS client certificate's key is none of {client.client_id!r}'s registered keys"
        )


def _spki(public_key: Any) -> bytes:
    der: bytes = public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return der


def _registered_spkis(keys: tuple[dict[str, Any], ...]) -> set[bytes]:
    """The SubjectPublicKeyInfo DER of each signing key of the set; keys meant for
    encryption only, or that do not parse, are left out."""
    spkis: set[bytes] = set()
    for key in keys:
        if key.get("use", "sig") != "sig":
            continue
        try:
            spkis.add(_spki(jwt.PyJWK(key).key))
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError, AttributeError):
            continue
    return spkis


def _check_subject(client: Client, certificate: x509.Certificate) -> None:
    """RFC 8705 section 2.1.2: the one registered subject attribute is the
    certificate's."""
    if client.tls_client_auth_subject_dn:
        try:
            registered = x509.Name.from_rfc4514_string(client.tls_client_auth_subject_dn)
        except ValueError:
            raise CertificateRefused("the registered subject DN does not parse") from None
        if certificate.subject != registered:
            raise CertificateRefused(
                f"certificate subject {certificate.subject.rfc4514_string()!r} is not "
                f"{client.tls_client_auth_subject_dn!r}"
            )
        return
    if client.tls_client_auth_san_dns:
        wanted = client.tls_client_auth_san_dns.lower()
        names = _sans(certificate, x509.DNSName)
        if wanted not in {name.lower() for name in names}:
            raise CertificateRefused(f"no DNS name SAN {client.tls_client_auth_san_dns!r}")
        return
    if client.tls_client_auth_san_uri:
        if client.tls_client_auth_san_uri not in _sans(certificate, x509.UniformResourceIdentifier):
            raise CertificateRefused(f"no URI SAN {client.tls_client_auth_san_uri!r}")
        return
    if client.tls_client_auth_san_ip:
        try:
            address = ipaddress.ip_address(client.tls_client_auth_san_ip)
        except ValueError:
            raise CertificateRefused("the registered IP address does not parse") from None
        if address not in _sans(certificate, x509.IPAddress):
            raise CertificateRefused(f"no IP address SAN {client.tls_client_auth_san_ip!r}")
        return
    if client.tls_client_auth_san_email:
        wanted = client.tls_client_auth_san_email.lower()
        emails = _sans(certificate, x509.RFC822Name)
        if wanted not in {email.lower() for email in emails}:
            raise CertificateRefused(f"no e-mail SAN {client.tls_client_auth_san_email!r}")
        return
    raise CertificateRefused(f"{client.client_id!r} registered no subject attribute")


def _sans(certificate: x509.Certificate, kind: Any) -> list[Any]:
    """The certificate's subject alternative names of ``kind`` (none without the
    extension, or when it does not parse)."""
    try:
        extension = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    except ValueError:
        raise CertificateRefused("the certificate's extensions do not parse") from None
    values: list[Any] = extension.value.get_values_for_type(kind)
    return values
