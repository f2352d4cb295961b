"""What the gateway hands the token service for sender-constrained tokens: the DPoP
proof with the request's method and its issuer-based URL (RFC 9449 section 4), and the
client's TLS certificate forwarded by a trusted proxy (RFC 8705, RFC 9440)."""

from __future__ import annotations

import base64
import datetime
from urllib.parse import quote

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gateway.tests.conftest import Factory, FakeTokenService
from gateway.tests.helpers import FORM, basic

BODY = "grant_type=client_credentials"


def certificate() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "client.example")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)


async def test_the_dpop_header_goes_with_the_method_and_the_issuers_url(
    make_client: Factory, fake_token: FakeTokenService
) -> None:
    # The Host a client sends never makes the htu: the issuer does.
    client = await make_client("http://evil.example")
    response = await client.post(
        "/oauth/token", content=BODY, headers={**FORM, **basic("c", "s"), "DPoP": " proof.x.y "}
    )
    assert response.status_code == 200, response.text
    dpop = fake_token.requests[-1][1].dpop
    assert (dpop.proof, dpop.htm, dpop.htu) == (
        "proof.x.y",
        "POST",
        "https://auth.example.com/oauth/token",
    )


async def test_no_dpop_header_is_no_proof(
    client: httpx.AsyncClient, fake_token: FakeTokenService
) -> None:
    await client.post("/oauth/token", content=BODY, headers={**FORM, **basic("c", "s")})
    assert fake_token.requests[-1][1].dpop.proof == ""


@pytest.mark.parametrize(
    "headers",
    [
        [("DPoP", "a.b.c"), ("DPoP", "d.e.f")],
        [("DPoP", "   ")],
        [("DPoP", "a" * 9000)],
    ],
    ids=["two", "empty", "too-long"],
)
async def test_unusable_dpop_headers_are_invalid_dpop_proof(
    client: httpx.AsyncClient, fake_token: FakeTokenService, headers: list[tuple[str, str]]
) -> None:
    sent = [*FORM.items(), *basic("c", "s").items(), *headers]
    response = await client.post("/oauth/token", content=BODY, headers=sent)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_dpop_proof"
    assert not [r for r in fake_token.requests if r[0] == "Exchange"]


async def test_a_trusted_proxys_forwarded_certificate_is_the_clients(
    make_client: Factory, fake_token: FakeTokenService
) -> None:
    der = certificate()
    pem = x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM).decode()
    client = await make_client(trusted_proxies="127.0.0.1/32", tls_client_cert_header="Client-Cert")
    for value in (f":{base64.b64encode(der).decode()}:", quote(pem)):
        response = await client.post(
            "/oauth/token",
            content=BODY + "&client_id=mtls-app",
            headers={**FORM, "Client-Cert": value},
        )
        assert response.status_code == 200, response.text
        credentials = fake_token.requests[-1][1].credentials
        assert credentials.client_certificate == der
        assert (credentials.client_id, credentials.auth_method) == ("mtls-app", "none")


async def test_a_certificate_header_from_anyone_else_is_ignored(
    make_client: Factory, fake_token: FakeTokenService
) -> None:
    der = certificate()
    header = {"Client-Cert": f":{base64.b64encode(der).decode()}:"}
    for settings in (
        {"tls_client_cert_header": "Client-Cert"},  # the peer is no proxy of ours
        {"trusted_proxies": "127.0.0.1/32"},  # no header configured
    ):
        client = await make_client(**settings)
        response = await client.post(
            "/oauth/token", content=BODY, headers={**FORM, **basic("c", "s"), **header}
        )
        assert response.status_code == 200
        assert fake_token.requests[-1][1].credentials.client_certificate == b""


async def test_a_malformed_forwarded_certificate_is_invalid_request(
    make_client: Factory, fake_token: FakeTokenService
) -> None:
    client = await make_client(trusted_proxies="127.0.0.1/32", tls_client_cert_header="Client-Cert")
    for value in (":bm90IGEgY2VydA==:", ":***:", "-----BEGIN CERTIFICATE-----\nxx", "x" * 17000):
        response = await client.post(
            "/oauth/token", content=BODY, headers={**FORM, **basic("c", "s"), "Client-Cert": value}
        )
        assert response.status_code == 400, value
        assert response.json()["error"] == "invalid_request"
