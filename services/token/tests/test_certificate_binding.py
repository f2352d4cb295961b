"""Certificate-bound access tokens (RFC 8705 section 3) in the token service: the
token endpoint binds to the TLS client certificate the request came with
(``cnf.x5t#S256``), introspection shows it, and a resource takes the token only with
that certificate."""

from __future__ import annotations

import base64
import dataclasses
import datetime
import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet

from common.errors import InvalidRequest, InvalidToken
from services.token.domain.grants.base import TokenRequest
from services.token.tests.conftest import Wired


def certificate(name: str) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)


def x5t(der: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


async def test_a_bound_clients_tokens_carry_its_certificate(wired: Wired) -> None:
    creds = await wired.clients.register(
        "svc-mtls", tls_client_certificate_bound_access_tokens=True
    )
    mine, other = certificate("mine"), certificate("other")
    with_cert = dataclasses.replace(creds, client_certificate=mine)
    response = await wired.domain.token_endpoint.exchange(
        TokenRequest(grant_type="client_credentials", credentials=with_cert)
    )
    assert response.token_type == "Bearer"  # RFC 8705: still a bearer-type token
    keys = KeySet.import_key_set({"keys": wired.domain.keys.jwks()})  # type: ignore[typeddict-item]
    claims = jose_jwt.decode(response.access_token, keys, algorithms=["ES256"]).claims
    assert claims["cnf"] == {"x5t#S256": x5t(mine)}

    introspected = await wired.domain.introspection.introspect(response.access_token, "", creds)
    assert introspected.cnf_x5t_s256 == x5t(mine)

    check = wired.domain.introspection
    await check.verify_bearer(response.access_token, client_certificate=mine)
    for presented in (other, b""):
        with pytest.raises(InvalidToken, match="certificate"):
            await check.verify_bearer(response.access_token, client_certificate=presented)

    with pytest.raises(InvalidRequest, match="TLS client certificate"):
        await wired.domain.token_endpoint.exchange(
            TokenRequest(grant_type="client_credentials", credentials=creds)
        )


async def test_other_clients_tokens_stay_unbound(wired: Wired) -> None:
    creds = await wired.clients.register("svc-plain")
    with_cert = dataclasses.replace(creds, client_certificate=certificate("incidental"))
    response = await wired.domain.token_endpoint.exchange(
        TokenRequest(grant_type="client_credentials", credentials=with_cert)
    )
    introspected = await wired.domain.introspection.introspect(response.access_token, "", creds)
    assert introspected.cnf_x5t_s256 == ""
