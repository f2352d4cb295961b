"""The TLS client certificate of a request (RFC 8705 section 2), in DER.

From the gateway's own mutual TLS (``tls_client_ca_file``: the handshake verified
the chain; gateway/http_timeouts.py hands the leaf over as the ASGI TLS extension),
or, behind a proxy that terminates TLS, from the header it forwards the certificate
in (``tls_client_cert_header``), believed only when the request's TCP peer is one of
``trusted_proxies``: anyone else could write it. The header is RFC 9440's
``Client-Cert`` (a structured-field byte sequence, ``:base64 of the DER:``) or a
URL-escaped PEM (nginx's ``$ssl_client_escaped_cert``).

Which client the certificate authenticates, and what a token bound to it may do,
is the clients and token services' business; this module only reads it.
"""

from __future__ import annotations

import base64
import binascii
import ssl
from typing import Final
from urllib.parse import unquote

from cryptography import x509
from starlette.requests import Request

from common.errors import InvalidRequest
from gateway.client_address import peer_is_trusted
from gateway.state import settings_of

#: The longest forwarded certificate read (a certificate with a long chain of SANs
#: fits; the gateway's header limits come first anyway).
MAX_HEADER_LENGTH: Final = 16 * 1024


def presented_certificate(request: Request) -> bytes:
    """The DER of the request's client certificate; b"" when it has none."""
    tls = request.scope.get("extensions", {}).get("tls") or {}
    chain = tls.get("client_cert_chain") or ()
    if chain:
        return ssl.PEM_cert_to_DER_cert(chain[0])
    settings = settings_of(request)
    header = settings.tls_client_cert_header
    if not header or not peer_is_trusted(request.scope):
        return b""
    value = request.headers.get(header, "").strip()
    if not value:
        return b""
    return forwarded_certificate(value)


def forwarded_certificate(value: str) -> bytes:
    """The DER of a forwarded certificate header's value; invalid_request when it is
    not one (the proxy is ours, so this is a misconfiguration, said clearly)."""
    if len(value) > MAX_HEADER_LENGTH:
        raise InvalidRequest("The forwarded client certificate is too long")
    try:
        if value.startswith(":") and value.endswith(":") and len(value) > 2:
            der = base64.b64decode(value[1:-1], validate=True)
        else:
            der = ssl.PEM_cert_to_DER_cert(unquote(value).strip())
        x509.load_der_x509_certificate(der)
    except (ValueError, binascii.Error):
        raise InvalidRequest(
            "The forwarded client certificate is not an X.509 certificate"
        ) from None
    return der
