"""Mutual TLS (RFC 8705) through uvicorn: the gateway's public listener on TLS asks
clients for a certificate issued by a test CA (``tls_client_ca_file``), on
PostgreSQL + Redis.

A ``tls_client_auth`` client (registered with the DNS name its certificate carries)
authenticates at the token endpoint with nothing but its client_id and its
certificate; its access tokens are bound to that certificate (``cnf.x5t#S256``,
checked with joserfc against the JWKS) and introspection says so. The same token at
userinfo is accepted over a connection with that certificate and refused over one
with another certificate or none. A connection with another certificate of the same
CA, or without one, does not authenticate the client."""

from __future__ import annotations

import base64
import hashlib
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from joserfc import jwt
from joserfc.jwk import KeySet

from oauth2ctl.devcerts import Authority
from tests.e2e.browser import Arrival, Browser, pkce_pair
from tests.e2e.conftest import RunningSystem
from tests.e2e.test_gateway_tls import start_tls_system
from tests.e2e.test_sign_in import PASSWORD, REDIRECT, authorize_url, unique

pytestmark = pytest.mark.e2e


class ClientCert:
    def __init__(self, directory: Path, authority: Authority, name: str) -> None:
        cert_pem, key_pem = authority.issue(name)
        self.cert = directory / f"{name}.crt"
        self.key = directory / f"{name}.key"
        self.cert.write_bytes(cert_pem)
        self.key.write_bytes(key_pem)
        der = x509.load_pem_x509_certificate(cert_pem).public_bytes(Encoding.DER)
        self.x5t_s256 = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    directory = tmp_path_factory.mktemp("client-pki")
    authority = Authority.create("oauth2 test client CA")
    ca = directory / "client-ca.crt"
    ca.write_bytes(authority.cert_pem())
    return {
        "ca": ca,
        "a": ClientCert(directory, authority, "client-a.example"),
        "b": ClientCert(directory, authority, "client-b.example"),
    }


@pytest.fixture(scope="module")
def mtls_system(request: pytest.FixtureRequest, pki: dict[str, Any]) -> Iterator[RunningSystem]:
    running = start_tls_system(request, "mtls", {"OAUTH2_TLS_CLIENT_CA_FILE": str(pki["ca"])})
    yield running
    running.system.stop_all()


def connection(system: RunningSystem, cert: ClientCert | None) -> httpx.Client:
    https = system.system.https_certificate()
    assert https is not None
    context = ssl.create_default_context(cafile=https.ca)
    if cert is not None:
        context.load_cert_chain(cert.cert, cert.key)
    return httpx.Client(base_url=system.base_url, verify=context, timeout=15)


def claims(client: httpx.Client, token: str) -> dict[str, Any]:
    keys = KeySet.import_key_set(client.get("/oauth/jwks").json())
    return dict(jwt.decode(token, keys, algorithms=["ES256", "RS256"]).claims)


def tls_client(system: RunningSystem, *grant_args: str) -> dict[str, Any]:
    return system.create_client(
        "--name",
        unique("mTLS App"),
        "--auth-method",
        "tls_client_auth",
        "--tls-san-dns",
        "client-a.example",
        *grant_args,
    )


def test_tls_client_auth_and_a_certificate_bound_token(
    mtls_system: RunningSystem, pki: dict[str, Any]
) -> None:
    client = tls_client(mtls_system, "--grant-type", "client_credentials", "--scope", "api:read")
    client_id = client["client_id"]
    assert not client.get("client_secret")
    form = {"grant_type": "client_credentials", "client_id": client_id}

    with connection(mtls_system, pki["a"]) as http:
        metadata = http.get("/.well-known/openid-configuration").json()
        assert metadata["tls_client_certificate_bound_access_tokens"] is True
        aliases = metadata["mtls_endpoint_aliases"]
        assert aliases["token_endpoint"] == mtls_system.base_url + "/oauth/token"
        assert "tls_client_auth" in metadata["token_endpoint_auth_methods_supported"]

        issued = http.post("/oauth/token", data=form)
        assert issued.status_code == 200, issued.text
        body = issued.json()
        assert body["token_type"] == "Bearer"
        token = body["access_token"]
        assert claims(http, token)["cnf"] == {"x5t#S256": pki["a"].x5t_s256.decode()}

        introspected = http.post("/oauth/introspect", data={"token": token, "client_id": client_id})
        assert introspected.status_code == 200, introspected.text
        assert introspected.json()["cnf"] == {"x5t#S256": pki["a"].x5t_s256.decode()}

    for cert in (pki["b"], None):
        with connection(mtls_system, cert) as http:
            refused = http.post("/oauth/token", data=form)
            assert refused.status_code == 401, refused.text
            assert refused.json()["error"] == "invalid_client"


def test_a_bound_token_only_over_a_connection_with_its_certificate(
    mtls_system: RunningSystem, pki: dict[str, Any]
) -> None:
    system = mtls_system
    client = tls_client(
        system,
        "--grant-type",
        "authorization_code",
        "--redirect-uri",
        REDIRECT,
        "--scope",
        "openid profile",
    )
    username = unique("mtls-user")
    user = system.create_user(username, PASSWORD)
    verifier, challenge = pkce_pair()
    with Browser(system.base_url) as browser:
        browser.http.close()
        browser.http = connection(system, None)
        first = browser.http.get(
            authorize_url(client["client_id"], challenge, scope="openid profile")
        )
        login = browser.go(first.headers["location"])
        assert isinstance(login, httpx.Response), login
        consent = browser.submit(login, {"username": username, "password": PASSWORD})
        assert isinstance(consent, httpx.Response)
        arrival = browser.submit(consent, button="decision=approve")
        assert isinstance(arrival, Arrival), arrival
    with connection(system, pki["a"]) as http:
        issued = http.post(
            "/oauth/token",
            data={
                "grant_type": "authorization_code",
                "client_id": client["client_id"],
                "code": arrival.params["code"],
                "redirect_uri": REDIRECT,
                "code_verifier": verifier,
            },
        )
        assert issued.status_code == 200, issued.text
        token = issued.json()["access_token"]
        bearer = {"Authorization": f"Bearer {token}"}
        info = http.get("/oauth/userinfo", headers=bearer)
        assert info.status_code == 200, info.text
        assert info.json()["sub"] == user["user_id"]
    for cert in (pki["b"], None):
        with connection(system, cert) as http:
            refused = http.get("/oauth/userinfo", headers=bearer)
            assert refused.status_code == 401, refused.text
            assert 'error="invalid_token"' in refused.headers["www-authenticate"]
