"""DPoP (RFC 9449) through the gateway, on PostgreSQL + Redis and on the embedded
default: every proof made by joserfc with a P-256 key of the test's own.

A proof at the token endpoint binds the access token to its key (``token_type``
``DPoP``, ``cnf.jkt`` the RFC 7638 thumbprint, checked with joserfc against the
JWKS), for client_credentials and the authorization code flow; broken proofs are
400 ``invalid_dpop_proof``. Introspection names the binding; userinfo takes a bound
token only with the DPoP scheme and a proof of its key and ``ath``. A public
client's refresh token is bound too. ``dpop_jkt`` at the authorization endpoint and
a proof sent with a pushed request bind the code (section 10); a client registered
with ``dpop_bound_access_tokens`` needs a proof. A system that requires server
nonces answers ``use_dpop_nonce`` with a ``DPoP-Nonce`` (section 8); discovery
names the algs (section 5.1)."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from tests.e2e.browser import Arrival, Browser, pkce_pair
from tests.e2e.conftest import RunningSystem, base_env, basic, start_system
from tests.e2e.test_par import authorize_with
from tests.e2e.test_sign_in import (
    PASSWORD,
    REDIRECT,
    SCOPE,
    authorize_url,
    new_client,
    sign_in,
    unique,
)

pytestmark = pytest.mark.e2e

TOKEN = "/oauth/token"
USERINFO = "/oauth/userinfo"
PAR = "/oauth/par"


# --- proofs ---------------------------------------------------------------------------


def new_key() -> ECKey:
    return ECKey.generate_key("P-256")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def ath(access_token: str) -> str:
    """Section 4.2: base64url(SHA-256(the access token)), no padding."""
    return b64(hashlib.sha256(access_token.encode()).digest())


def proof_claims(
    system: RunningSystem, path: str, htm: str = "POST", **claims: Any
) -> dict[str, Any]:
    payload = {
        "jti": str(uuid.uuid4()),
        "htm": htm,
        "htu": system.base_url + path,
        "iat": int(time.time()),
        **claims,
    }
    return {name: value for name, value in payload.items() if value is not None}


def proof(
    system: RunningSystem,
    key: ECKey,
    path: str = TOKEN,
    htm: str = "POST",
    *,
    header: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    """A DPoP proof signed by ``key`` for ``htm`` ``path`` on the gateway; ``header``
    members replace the usual ones, ``claims`` are added (None drops one)."""
    head = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)}
    head |= header or {}
    return jwt.encode(head, proof_claims(system, path, htm, **claims), key, algorithms=["ES256"])


def unsigned_proof(system: RunningSystem, key: ECKey) -> str:
    """alg=none, built by hand: no JOSE library makes one."""
    head = {"typ": "dpop+jwt", "alg": "none", "jwk": key.as_dict(private=False)}
    payload = proof_claims(system, TOKEN)
    return f"{b64(json.dumps(head).encode())}.{b64(json.dumps(payload).encode())}."


# --- requests -------------------------------------------------------------------------


def post_token(
    system: RunningSystem,
    client: dict[str, Any],
    form: dict[str, str],
    dpop: str | list[str] | None = None,
) -> httpx.Response:
    """POST /oauth/token with the client's authentication (Basic for confidential
    clients, client_id in the form for public ones) and the DPoP header(s)."""
    headers: list[tuple[str, str]] = []
    if client["token_endpoint_auth_method"] == "client_secret_basic":
        headers.append(("Authorization", basic(client["client_id"], client["client_secret"])))
    else:
        form = {**form, "client_id": client["client_id"]}
    for value in [dpop] if isinstance(dpop, str) else dpop or []:
        headers.append(("DPoP", value))
    with system.http() as http:
        return http.post(TOKEN, data=form, headers=headers)


def client_credentials(
    system: RunningSystem, client: dict[str, Any], dpop: str | list[str] | None = None
) -> httpx.Response:
    return post_token(system, client, {"grant_type": "client_credentials"}, dpop)


def exchange(
    system: RunningSystem, client: dict[str, Any], code: str, verifier: str, dpop: str | None
) -> httpx.Response:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
    }
    return post_token(system, client, form, dpop)


def refresh(
    system: RunningSystem, client: dict[str, Any], refresh_token: str, dpop: str | None
) -> httpx.Response:
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    return post_token(system, client, form, dpop)


def userinfo(
    system: RunningSystem, scheme: str, token: str, dpop: str | None = None
) -> httpx.Response:
    headers = {"Authorization": f"{scheme} {token}"}
    if dpop is not None:
        headers["DPoP"] = dpop
    with system.http() as http:
        return http.get(USERINFO, headers=headers)


def refused(resp: httpx.Response, status: int = 400, error: str = "invalid_dpop_proof") -> bool:
    """The answer is ``status`` with the JSON ``error`` (RFC 6749 section 5.2)."""
    if resp.status_code != status or "json" not in resp.headers.get("content-type", ""):
        return False
    return bool(resp.json().get("error") == error)


def access_claims(system: RunningSystem, access_token: str) -> dict[str, Any]:
    """The access token verified with joserfc against the JWKS (RFC 9068)."""
    with system.http() as http:
        keys = KeySet.import_key_set(http.get("/oauth/jwks").json())
    token = jwt.decode(access_token, keys, algorithms=["ES256", "RS256"])
    assert token.header["typ"] == "at+jwt"
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": system.base_url},
        exp={"essential": True},
        iat={"essential": True},
    ).validate(token.claims)
    return dict(token.claims)


def bound_to(system: RunningSystem, resp: httpx.Response, key: ECKey) -> dict[str, Any]:
    """The token response of a bound token: DPoP, cnf.jkt the key's thumbprint."""
    assert resp.status_code == 200, resp.text
    tokens: dict[str, Any] = resp.json()
    assert tokens["token_type"] == "DPoP", tokens
    assert access_claims(system, tokens["access_token"])["cnf"] == {"jkt": key.thumbprint()}
    return tokens


# --- clients and people ---------------------------------------------------------------


@pytest.fixture(scope="module")
def machine(system: RunningSystem) -> dict[str, Any]:
    """A confidential client_credentials client (client_secret_basic)."""
    return system.create_client(
        "--name", unique("DPoP Machine"), "--grant-type", "client_credentials"
    )


@pytest.fixture(scope="module")
def app(system: RunningSystem) -> dict[str, Any]:
    """A public client (PKCE, no secret) with refresh tokens."""
    return new_client(system, "none")


@pytest.fixture(scope="module")
def person(system: RunningSystem) -> dict[str, Any]:
    username = unique("dora")
    user = system.create_user(username, PASSWORD, f"{username}@example.com")
    return {**user, "username": username}


def authorize(browser: Browser, url: str, username: str) -> Arrival:
    """From the authorization request to the redirect URI: signing in and approving
    the first time, straight through once the browser has a session and consent."""
    page = browser.go(url)
    if isinstance(page, Arrival):
        return page
    assert page.status_code == 200, page.text
    if 'name="password"' in page.text:
        page = browser.submit(page, {"username": username, "password": PASSWORD})
        if isinstance(page, Arrival):
            return page
    assert page.status_code == 200 and "consent" in str(page.url), page.text
    arrival = browser.submit(page, button="decision=approve")
    assert isinstance(arrival, Arrival), arrival
    return arrival


def new_code(
    browser: Browser, client: dict[str, Any], username: str, **params: str
) -> tuple[str, str]:
    """A fresh authorization code and its PKCE verifier."""
    verifier, challenge = pkce_pair()
    arrival = authorize(browser, authorize_url(client["client_id"], challenge, **params), username)
    assert "code" in arrival.params, arrival.params
    return arrival.params["code"], verifier


def push(
    system: RunningSystem, client: dict[str, Any], dpop: str | None = None, **params: str
) -> httpx.Response:
    """POST /oauth/par for a public client, with a DPoP header when given."""
    form = {
        "response_type": "code",
        "client_id": client["client_id"],
        "redirect_uri": REDIRECT,
        "scope": SCOPE,
        **params,
    }
    with system.http() as http:
        return http.post(PAR, data=form, headers={"DPoP": dpop} if dpop is not None else {})


def pushed_code(
    system: RunningSystem,
    browser: Browser,
    client: dict[str, Any],
    username: str,
    dpop: str | None = None,
) -> tuple[str, str]:
    """A code of a pushed request (with ``dpop`` sent along the push)."""
    verifier, challenge = pkce_pair()
    resp = push(system, client, dpop, code_challenge=challenge, code_challenge_method="S256")
    assert resp.status_code == 201, resp.text
    url = authorize_with(client["client_id"], resp.json()["request_uri"])
    arrival = authorize(browser, url, username)
    assert "code" in arrival.params, arrival.params
    return arrival.params["code"], verifier


def dpop_challenge(resp: httpx.Response, error: str) -> None:
    """Section 7.1: 401 with a DPoP challenge naming ``error``, the same error in the body."""
    assert resp.status_code == 401, (resp.status_code, resp.text)
    challenge = resp.headers.get("www-authenticate", "")
    assert challenge.startswith("DPoP "), challenge
    assert f'error="{error}"' in challenge, challenge
    assert resp.json()["error"] == error, resp.text


# --- the tests ------------------------------------------------------------------------


def test_discovery_names_the_proof_algs(system: RunningSystem) -> None:
    with system.http() as http:
        metadata = http.get("/.well-known/openid-configuration").json()
    assert "ES256" in metadata["dpop_signing_alg_values_supported"]


def test_client_credentials_token_bound_to_the_proofs_key(
    system: RunningSystem, machine: dict[str, Any]
) -> None:
    key = new_key()
    bound = bound_to(system, client_credentials(system, machine, proof(system, key)), key)
    # Without a proof: a bearer token, no binding.
    plain = client_credentials(system, machine)
    assert plain.status_code == 200, plain.text
    assert plain.json()["token_type"] == "Bearer"
    assert "cnf" not in access_claims(system, plain.json()["access_token"])
    # Introspection by the client that got them (section 6.2).
    with system.http() as http:
        auth = {"Authorization": basic(machine["client_id"], machine["client_secret"])}
        seen = http.post("/oauth/introspect", data={"token": bound["access_token"]}, headers=auth)
        assert seen.status_code == 200, seen.text
        body = seen.json()
        assert body["active"] is True, body
        assert body["token_type"] == "DPoP", body
        assert body["cnf"] == {"jkt": key.thumbprint()}, body
        seen = http.post(
            "/oauth/introspect", data={"token": plain.json()["access_token"]}, headers=auth
        )
        assert seen.status_code == 200, seen.text
        assert seen.json()["active"] is True and seen.json()["token_type"] == "Bearer"
        assert "cnf" not in seen.json()


def test_broken_proofs_are_refused(system: RunningSystem, machine: dict[str, Any]) -> None:
    key, other = new_key(), new_key()
    now = int(time.time())
    cases: dict[str, str | list[str]] = {
        "wrong htu": proof(system, key, "/oauth/other"),
        "wrong htm": proof(system, key, htm="GET"),
        "stale iat": proof(system, key, iat=now - 3600),
        "iat in the future": proof(system, key, iat=now + 3600),
        "no jti": proof(system, key, jti=None),
        "alg=none": unsigned_proof(system, key),
        "another key's jwk": proof(system, key, header={"jwk": other.as_dict(private=False)}),
        "typ JWT": proof(system, key, header={"typ": "JWT"}),
        "private jwk": proof(system, key, header={"jwk": key.as_dict(private=True)}),
        "two DPoP headers": [proof(system, key), proof(system, key)],
        "not a JWT": "not-a-jwt",
    }
    for name, dpop in cases.items():
        resp = client_credentials(system, machine, dpop)
        assert refused(resp), (name, resp.status_code, resp.text)
    # Each proof once (section 11.1): the same proof again is refused.
    once = proof(system, key)
    bound_to(system, client_credentials(system, machine, once), key)
    again = client_credentials(system, machine, once)
    assert refused(again), (again.status_code, again.text)
    # None of the refusals spoilt the key: a new proof of it is good.
    bound_to(system, client_credentials(system, machine, proof(system, key)), key)


def test_a_client_that_requires_dpop(system: RunningSystem) -> None:
    client = system.create_client(
        "--name",
        unique("DPoP Only"),
        "--grant-type",
        "client_credentials",
        "--dpop-bound-access-tokens",
    )
    resp = client_credentials(system, client)
    assert refused(resp), (resp.status_code, resp.text)
    key = new_key()
    bound_to(system, client_credentials(system, client, proof(system, key)), key)


def test_code_flow_token_at_userinfo(
    system: RunningSystem, app: dict[str, Any], person: dict[str, Any]
) -> None:
    key, other = new_key(), new_key()
    with Browser(system.base_url) as browser:
        code, verifier = new_code(browser, app, person["username"])
        tokens = bound_to(system, exchange(system, app, code, verifier, proof(system, key)), key)
        assert tokens["id_token"] and tokens["refresh_token"]
        code, verifier = new_code(browser, app, person["username"])
        plain = exchange(system, app, code, verifier, None)
    assert plain.status_code == 200, plain.text
    assert plain.json()["token_type"] == "Bearer"
    bearer_token = plain.json()["access_token"]
    token = tokens["access_token"]
    assert access_claims(system, token)["sub"] == person["user_id"]

    # A resource server's introspection shows the binding.
    rs = system.resource_server()
    with system.http() as http:
        seen = http.post(
            "/oauth/introspect",
            data={"token": token},
            headers={"Authorization": basic(rs["client_id"], rs["client_secret"])},
        ).json()
    assert seen["active"] is True and seen["token_type"] == "DPoP", seen
    assert seen["cnf"] == {"jkt": key.thumbprint()}, seen

    # The DPoP scheme with a proof of the key for this request and token.
    good = proof(system, key, USERINFO, "GET", ath=ath(token))
    info = userinfo(system, "DPoP", token, good)
    assert info.status_code == 200, info.text
    assert info.json()["sub"] == person["user_id"]
    assert info.json()["email"] == person["username"] + "@example.com"
    # The same proof again is a replay.
    dpop_challenge(userinfo(system, "DPoP", token, good), "invalid_dpop_proof")
    # A bound token is no bearer token (section 7.2).
    dpop_challenge(userinfo(system, "Bearer", token), "invalid_token")
    dpop_challenge(
        userinfo(system, "Bearer", token, proof(system, key, USERINFO, "GET", ath=ath(token))),
        "invalid_token",
    )
    # A proof of the wrong token, of another key, or none.
    for name, dpop in {
        "wrong ath": proof(system, key, USERINFO, "GET", ath=ath(bearer_token)),
        "no ath": proof(system, key, USERINFO, "GET"),
        "another key": proof(system, other, USERINFO, "GET", ath=ath(token)),
        "the token endpoint's": proof(system, key, ath=ath(token)),
        "no proof": None,
    }.items():
        resp = userinfo(system, "DPoP", token, dpop)
        try:
            dpop_challenge(resp, "invalid_dpop_proof")
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from None
    # An unbound token is no DPoP token.
    dpop_challenge(
        userinfo(
            system,
            "DPoP",
            bearer_token,
            proof(system, key, USERINFO, "GET", ath=ath(bearer_token)),
        ),
        "invalid_token",
    )
    # The bearer token still works as one.
    assert userinfo(system, "Bearer", bearer_token).status_code == 200


def test_refresh_token_bound_to_the_key(
    system: RunningSystem, app: dict[str, Any], person: dict[str, Any]
) -> None:
    key, other = new_key(), new_key()
    with Browser(system.base_url) as browser:
        code, verifier = new_code(browser, app, person["username"])
        tokens = bound_to(system, exchange(system, app, code, verifier, proof(system, key)), key)
    refresh_token = tokens["refresh_token"]
    for name, dpop in {"no proof": None, "another key": proof(system, other)}.items():
        resp = refresh(system, app, refresh_token, dpop)
        assert refused(resp), (name, resp.status_code, resp.text)
    # The refusals neither used up nor revoked it.
    refreshed = bound_to(system, refresh(system, app, refresh_token, proof(system, key)), key)
    assert refreshed["refresh_token"] != refresh_token
    # The rotated one is bound to the same key.
    resp = refresh(system, app, refreshed["refresh_token"], proof(system, other))
    assert refused(resp), (resp.status_code, resp.text)
    bound_to(system, refresh(system, app, refreshed["refresh_token"], proof(system, key)), key)


def test_dpop_jkt_binds_the_code(
    system: RunningSystem, app: dict[str, Any], person: dict[str, Any]
) -> None:
    key, other = new_key(), new_key()
    jkt = key.thumbprint()
    with Browser(system.base_url) as browser:
        code, verifier = new_code(browser, app, person["username"], dpop_jkt=jkt)
        resp = exchange(system, app, code, verifier, proof(system, other))
        assert refused(resp), ("another key", resp.status_code, resp.text)
        code, verifier = new_code(browser, app, person["username"], dpop_jkt=jkt)
        resp = exchange(system, app, code, verifier, None)
        assert refused(resp), ("no proof", resp.status_code, resp.text)
        code, verifier = new_code(browser, app, person["username"], dpop_jkt=jkt)
        bound_to(system, exchange(system, app, code, verifier, proof(system, key)), key)
        # What is no thumbprint is refused at once, not at the token endpoint.
        arrival = authorize(
            browser,
            authorize_url(app["client_id"], pkce_pair()[1], dpop_jkt="not-a-thumbprint"),
            person["username"],
        )
        assert arrival.params.get("error") == "invalid_request", arrival.params


def test_a_proof_with_a_pushed_request_binds_the_code(
    system: RunningSystem, app: dict[str, Any], person: dict[str, Any]
) -> None:
    key, other = new_key(), new_key()
    with Browser(system.base_url) as browser:
        code, verifier = pushed_code(
            system, browser, app, person["username"], proof(system, key, PAR)
        )
        resp = exchange(system, app, code, verifier, proof(system, other))
        assert refused(resp), ("another key", resp.status_code, resp.text)
        code, verifier = pushed_code(
            system, browser, app, person["username"], proof(system, key, PAR)
        )
        resp = exchange(system, app, code, verifier, None)
        assert refused(resp), ("no proof", resp.status_code, resp.text)
        code, verifier = pushed_code(
            system, browser, app, person["username"], proof(system, key, PAR)
        )
        bound_to(system, exchange(system, app, code, verifier, proof(system, key)), key)
    _, challenge = pkce_pair()
    pkce = {"code_challenge": challenge, "code_challenge_method": "S256"}
    # A dpop_jkt beside a proof names the proof's key, or the push is refused.
    resp = push(system, app, proof(system, key, PAR), dpop_jkt=other.thumbprint(), **pkce)
    assert refused(resp), (resp.status_code, resp.text)
    resp = push(system, app, proof(system, key, PAR), dpop_jkt=key.thumbprint(), **pkce)
    assert resp.status_code == 201, resp.text
    # A proof for the token endpoint is none for the push.
    resp = push(system, app, proof(system, key, TOKEN), **pkce)
    assert refused(resp), (resp.status_code, resp.text)


# --- server nonces --------------------------------------------------------------------


@pytest.fixture(scope="module")
def nonce_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSystem]:
    """The embedded default with every DPoP proof needing a server nonce."""
    data_dir = tmp_path_factory.mktemp("e2e-dpop-nonce")
    env = base_env(data_dir)
    env["OAUTH2_DPOP_NONCE_REQUIRED"] = "true"
    running = start_system(env, data_dir, "embedded")
    yield running
    running.system.stop_all()


def nonce_of(resp: httpx.Response, status: int = 400) -> str:
    """The server nonce of a use_dpop_nonce answer (section 8)."""
    assert resp.status_code == status, (resp.status_code, resp.text)
    assert resp.json()["error"] == "use_dpop_nonce", resp.text
    nonce: str = resp.headers.get("dpop-nonce", "")
    assert nonce, dict(resp.headers)
    return nonce


def test_token_endpoint_asks_for_a_nonce(nonce_system: RunningSystem) -> None:
    client = nonce_system.create_client(
        "--name", unique("Nonce Machine"), "--grant-type", "client_credentials"
    )
    key = new_key()
    nonce = nonce_of(client_credentials(nonce_system, client, proof(nonce_system, key)))
    resp = client_credentials(nonce_system, client, proof(nonce_system, key, nonce=nonce))
    bound_to(nonce_system, resp, key)
    made_up = proof(nonce_system, key, nonce=b64(uuid.uuid4().bytes))
    nonce_of(client_credentials(nonce_system, client, made_up))


def test_userinfo_asks_for_a_nonce(nonce_system: RunningSystem) -> None:
    client = new_client(nonce_system, "none")
    username = unique("nora")
    user = nonce_system.create_user(username, PASSWORD)
    key = new_key()
    with Browser(nonce_system.base_url) as browser:
        verifier, challenge = pkce_pair()
        arrival = sign_in(browser, authorize_url(client["client_id"], challenge), username)
        code = arrival.params["code"]
        # Section 8: the client tries again with the nonce, and the same code.
        nonce = nonce_of(exchange(nonce_system, client, code, verifier, proof(nonce_system, key)))
        resp = exchange(nonce_system, client, code, verifier, proof(nonce_system, key, nonce=nonce))
    token = bound_to(nonce_system, resp, key)["access_token"]
    without = userinfo(
        nonce_system, "DPoP", token, proof(nonce_system, key, USERINFO, "GET", ath=ath(token))
    )
    dpop_challenge(without, "use_dpop_nonce")
    nonce = without.headers.get("dpop-nonce", "")
    assert nonce, dict(without.headers)
    info = userinfo(
        nonce_system,
        "DPoP",
        token,
        proof(nonce_system, key, USERINFO, "GET", ath=ath(token), nonce=nonce),
    )
    assert info.status_code == 200, info.text
    assert info.json()["sub"] == user["user_id"]
