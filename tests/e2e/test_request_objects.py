"""Signed authorization requests (RFC 9101, JAR) through the gateway, on PostgreSQL +
Redis and on the embedded default: a client registered with its public keys (``jwks``,
or a ``jwks_uri`` served here) signs its request with joserfc, the browser brings
only ``client_id`` and ``request`` (or a PAR ``request_uri``), and the code buys
tokens whose ID token carries the object's nonce. ``alg=none``, a wrong key and a
tampered claim are refused; a client that must sign cannot send a plain request."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from tests.e2e.browser import Arrival, Browser, page_text, pkce_pair
from tests.e2e.conftest import RunningSystem, basic
from tests.e2e.test_sign_in import (
    PASSWORD,
    REDIRECT,
    SCOPE,
    exchange,
    unique,
    verify_id_token,
)

pytestmark = pytest.mark.e2e

TYP = "oauth-authz-req+jwt"


class KeyServer:
    """A client's jwks_uri on this machine (plain HTTP: the shared systems set
    jwks_uri_allow_http)."""

    def __init__(self) -> None:
        self.documents: dict[str, bytes] = {}
        self.fetches: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.fetches.append(self.path)
                body = server.documents.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body or b"{}")

            def log_message(self, *_: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def publish(self, path: str, *keys: RSAKey | ECKey) -> str:
        self.documents[path] = json.dumps(
            {"keys": [key.as_dict(private=False) for key in keys]}
        ).encode()
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def key_server() -> Iterator[KeyServer]:
    server = KeyServer()
    yield server
    server.close()


def signing_key(kind: str = "EC") -> RSAKey | ECKey:
    key = ECKey.generate_key("P-256") if kind == "EC" else RSAKey.generate_key(2048)
    key.ensure_kid()
    return key


def jar_client(
    system: RunningSystem, tmp_path: Path, *extra: str, key: RSAKey | ECKey | None = None
) -> dict[str, Any]:
    args = [
        "--name",
        unique("Signed App"),
        "--grant-type",
        "authorization_code",
        "--redirect-uri",
        REDIRECT,
        "--scope",
        SCOPE,
        "--auth-method",
        "client_secret_basic",
        *extra,
    ]
    if key is not None:
        jwks = tmp_path / f"jwks-{unique('k')}.json"
        jwks.write_text(json.dumps({"keys": [key.as_dict(private=False)]}))
        args += ["--jwks-file", str(jwks)]
    return system.create_client(*args)


def request_object(
    system: RunningSystem,
    client: dict[str, Any],
    key: RSAKey | ECKey,
    alg: str = "ES256",
    **claims: Any,
) -> tuple[str, str]:
    """(the signed request, its PKCE verifier)."""
    verifier, challenge = pkce_pair()
    now = int(time.time())
    payload = {
        "iss": client["client_id"],
        "aud": system.base_url,
        "client_id": client["client_id"],
        "iat": now,
        "exp": now + 300,
        "response_type": "code",
        "redirect_uri": REDIRECT,
        "scope": SCOPE,
        "state": "jar-state",
        "nonce": "jar-nonce",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **claims,
    }
    header = {"alg": alg, "typ": TYP, "kid": key.kid}
    return jwt.encode(header, payload, key, algorithms=[alg]), verifier


def authorize_with(client: dict[str, Any], **params: str) -> str:
    return "/oauth/authorize?" + urlencode({"client_id": client["client_id"], **params})


def sign_in_to_code(browser: Browser, url: str, username: str) -> Arrival:
    login = browser.go(url)
    assert isinstance(login, httpx.Response) and login.status_code == 200, page_text(login)
    consent = browser.submit(login, {"username": username, "password": PASSWORD})
    assert isinstance(consent, httpx.Response) and consent.status_code == 200
    arrival = browser.submit(consent, button="decision=approve")
    assert isinstance(arrival, Arrival), arrival
    return arrival


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_discovery_offers_request_objects(system: RunningSystem) -> None:
    with system.http() as http:
        metadata = http.get("/.well-known/openid-configuration").json()
    assert metadata["request_parameter_supported"] is True
    assert metadata["request_object_signing_alg_values_supported"] == [
        "RS256",
        "PS256",
        "ES256",
        "EdDSA",
    ]


def test_a_signed_request_signs_in(system: RunningSystem, tmp_path: Path) -> None:
    key = signing_key()
    client = jar_client(system, tmp_path, key=key)
    username = unique("olive")
    user = system.create_user(username, PASSWORD)
    signed, verifier = request_object(system, client, key)
    with Browser(system.base_url) as browser:
        # A query parameter beside the object is ignored (RFC 9101 section 6.3).
        arrival = sign_in_to_code(
            browser, authorize_with(client, request=signed, state="from-the-query"), username
        )
    assert arrival.params["state"] == "jar-state"
    resp = exchange(system, client, arrival.params["code"], verifier)
    assert resp.status_code == 200, resp.text
    tokens = resp.json()
    verify_id_token(
        system,
        tokens["id_token"],
        client["client_id"],
        user["user_id"],
        tokens["access_token"],
        "jar-nonce",
    )


def test_bad_request_objects_are_refused(system: RunningSystem, tmp_path: Path) -> None:
    key = signing_key()
    client = jar_client(system, tmp_path, key=key)
    signed, _ = request_object(system, client, key)
    header, payload, signature = signed.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    other_key = signing_key()
    other_key.ensure_kid()
    wrong_key, _ = request_object(system, client, other_key)
    # The same kid as the registered key, signed by another one.
    impostor = ECKey.import_key(other_key.as_dict(private=True) | {"kid": key.kid})
    forged, _ = request_object(system, client, impostor)
    cases = {
        "alg=none": f"{b64({'alg': 'none', 'typ': TYP})}.{payload}.",
        "tampered": f"{header}.{b64(claims | {'redirect_uri': 'https://evil.example/'})}.{signature}",
        "unknown key": wrong_key,
        "forged with the kid": forged,
    }
    messages = {
        "alg=none": "alg 'none' is not allowed",
        "tampered": "signature does not verify",
        "unknown key": "Cannot verify the request object",
        "forged with the kid": "signature does not verify",
    }
    with Browser(system.base_url) as browser:
        for name, token in cases.items():
            page = browser.go(authorize_with(client, request=token))
            assert isinstance(page, httpx.Response), (name, page)
            assert page.status_code == 400, (name, page.status_code)
            assert messages[name] in page_text(page), (name, page_text(page))


def test_a_signed_request_pushed_with_keys_from_a_jwks_uri(
    system: RunningSystem, tmp_path: Path, key_server: KeyServer
) -> None:
    key = signing_key("RSA")
    jwks_uri = key_server.publish(f"/{unique('app')}/jwks.json", key)
    client = jar_client(
        system,
        tmp_path,
        "--jwks-uri",
        jwks_uri,
        "--request-object-signing-alg",
        "PS256",
        "--require-signed-request-object",
    )
    username = unique("pia")
    system.create_user(username, PASSWORD)
    signed, verifier = request_object(system, client, key, alg="PS256")
    auth = {"Authorization": basic(client["client_id"], client["client_secret"])}
    with system.http() as http:
        pushed = http.post("/oauth/par", data={"request": signed}, headers=auth)
        assert pushed.status_code == 201, pushed.text
        # Unsigned from a client that must sign: refused at the push.
        plain = http.post(
            "/oauth/par",
            data={"response_type": "code", "redirect_uri": REDIRECT, "scope": "openid"},
            headers=auth,
        )
        assert (plain.status_code, plain.json()["error"]) == (400, "invalid_request")
        # RS256 from a client registered for PS256 only.
        rs256, _ = request_object(system, client, key, alg="RS256")
        wrong_alg = http.post("/oauth/par", data={"request": rs256}, headers=auth)
        assert (wrong_alg.status_code, wrong_alg.json()["error"]) == (
            400,
            "invalid_request_object",
        )
    with Browser(system.base_url) as browser:
        arrival = sign_in_to_code(
            browser, authorize_with(client, request_uri=pushed.json()["request_uri"]), username
        )
        assert arrival.params["state"] == "jar-state"
        # Unsigned at the authorization endpoint: the error at the redirect URI.
        _, challenge = pkce_pair()
        refused = browser.go(
            authorize_with(
                client,
                response_type="code",
                redirect_uri=REDIRECT,
                scope="openid",
                state="plain",
                code_challenge=challenge,
                code_challenge_method="S256",
            )
        )
    assert isinstance(refused, Arrival), refused
    assert refused.params["error"] == "invalid_request"
    assert refused.params["state"] == "plain"
    assert exchange(system, client, arrival.params["code"], verifier).status_code == 200
    assert any(path.endswith("/jwks.json") for path in key_server.fetches)
