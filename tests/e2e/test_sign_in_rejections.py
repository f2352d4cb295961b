"""Each of these is rejected with the RFC error, and no tokens are issued."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from common.secrets import sha256_hex
from tests.e2e.browser import Arrival, Browser, page_text, pkce_pair
from tests.e2e.conftest import CODE_TTL_SECONDS, RunningSystem
from tests.e2e.snapshot import table_rows
from tests.e2e.test_sign_in import (
    PASSWORD,
    REDIRECT,
    authorize_url,
    exchange,
    introspect,
    new_client,
    sign_in,
    token_request,
    unique,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def person(system: RunningSystem) -> str:
    username = unique("carol")
    system.create_user(username, PASSWORD, f"{username}@example.com")
    return username


def code_for(
    system: RunningSystem,
    client: dict[str, Any],
    username: str,
    challenge: str | None,
    **params: str,
) -> str:
    with Browser(system.base_url) as browser:
        arrival = sign_in(
            browser, authorize_url(client["client_id"], challenge, **params), username
        )
    assert "code" in arrival.params, arrival.params
    return arrival.params["code"]


def assert_error(resp: httpx.Response, error: str, status: int = 400) -> None:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["error"] == error, body
    assert set(body) <= {"error", "error_description"}
    assert "access_token" not in resp.text
    assert resp.headers["cache-control"] == "no-store"


def test_wrong_code_verifier(system: RunningSystem, person: str) -> None:
    client = new_client(system, "none")
    _, challenge = pkce_pair()
    code = code_for(system, client, person, challenge)
    other_verifier, _ = pkce_pair()
    assert_error(exchange(system, client, code, other_verifier), "invalid_grant")


def test_code_verifier_without_challenge(system: RunningSystem, person: str) -> None:
    client = system.create_client(
        "--name",
        unique("no-pkce"),
        "--grant-type",
        "authorization_code",
        "--redirect-uri",
        REDIRECT,
        "--scope",
        "openid",
        "--no-require-pkce",
    )
    code = code_for(system, client, person, None, scope="openid")
    verifier, _ = pkce_pair()
    assert_error(exchange(system, client, code, verifier), "invalid_grant")


def redirected_error(system: RunningSystem, person: str, url: str) -> dict[str, str]:
    with Browser(system.base_url) as browser:
        # Sign in first so that the request is judged, not the session.
        arrival = browser.go(url)
    assert isinstance(arrival, Arrival), "expected a redirect to the client"
    assert arrival.url.startswith(REDIRECT + "?")
    assert "code" not in arrival.params
    return arrival.params


def test_public_client_without_code_challenge(system: RunningSystem, person: str) -> None:
    client = new_client(system, "none")
    params = redirected_error(system, person, authorize_url(client["client_id"], None, state="s"))
    assert params["error"] == "invalid_request"
    assert params["state"] == "s" and params["iss"] == system.base_url


def test_plain_code_challenge_method(system: RunningSystem, person: str) -> None:
    client = new_client(system, "none")
    verifier, _ = pkce_pair()
    url = authorize_url(client["client_id"], verifier, code_challenge_method="plain")
    assert redirected_error(system, person, url)["error"] == "invalid_request"


def test_response_type_token(system: RunningSystem, person: str) -> None:
    client = new_client(system, "none")
    url = authorize_url(client["client_id"], pkce_pair()[1], response_type="token")
    assert redirected_error(system, person, url)["error"] == "unsupported_response_type"


def test_code_used_twice_revokes_what_it_issued(system: RunningSystem, person: str) -> None:
    client = new_client(system, "client_secret_basic")
    verifier, challenge = pkce_pair()
    code = code_for(system, client, person, challenge)
    first = exchange(system, client, code, verifier)
    assert first.status_code == 200, first.text
    tokens = first.json()
    assert introspect(system, tokens["access_token"])["active"] is True
    assert_error(exchange(system, client, code, verifier), "invalid_grant")
    assert introspect(system, tokens["access_token"]) == {"active": False}
    resp = token_request(
        system, client, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    )
    assert_error(resp, "invalid_grant")


def test_code_used_by_another_client(system: RunningSystem, person: str) -> None:
    client = new_client(system, "client_secret_basic")
    thief = new_client(system, "client_secret_basic")
    verifier, challenge = pkce_pair()
    code = code_for(system, client, person, challenge)
    assert_error(exchange(system, thief, code, verifier), "invalid_grant")


def test_different_redirect_uri_at_token_endpoint(system: RunningSystem, person: str) -> None:
    client = new_client(system, "client_secret_basic")
    verifier, challenge = pkce_pair()
    code = code_for(system, client, person, challenge)
    assert_error(exchange(system, client, code, verifier, REDIRECT + "/other"), "invalid_grant")


@pytest.mark.slow  # long waits: make test-slow and CI run it
def test_expired_code(system: RunningSystem, person: str) -> None:
    client = new_client(system, "client_secret_basic")
    verifier, challenge = pkce_pair()
    code = code_for(system, client, person, challenge)
    time.sleep(CODE_TTL_SECONDS + 1)
    assert_error(exchange(system, client, code, verifier), "invalid_grant")


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://evil.example/callback",
        REDIRECT + "/",
        REDIRECT + "?x=1",
        "https://RP.example/callback",
        "https://rp.example/Callback",
    ],
)
def test_unregistered_redirect_uri_is_a_page_not_a_redirect(
    system: RunningSystem, redirect_uri: str
) -> None:
    client = new_client(system, "none")
    url = authorize_url(client["client_id"], pkce_pair()[1], redirect_uri=redirect_uri)
    with system.http() as http:
        resp = http.get(url)
    assert resp.status_code == 400
    assert "location" not in resp.headers
    assert resp.headers["content-type"].startswith("text/html")
    assert "redirect" in page_text(resp).lower()


def test_unknown_client_is_a_page(system: RunningSystem) -> None:
    with system.http() as http:
        resp = http.get(
            "/oauth/authorize?"
            + urlencode({"response_type": "code", "client_id": "nope", "redirect_uri": REDIRECT})
        )
    assert resp.status_code == 400 and "location" not in resp.headers


def test_password_grant_is_unsupported(system: RunningSystem, person: str) -> None:
    client = new_client(system, "client_secret_basic")
    resp = token_request(
        system, client, {"grant_type": "password", "username": person, "password": PASSWORD}
    )
    assert_error(resp, "unsupported_grant_type")


def test_rotated_refresh_token_replayed_kills_the_family(
    system: RunningSystem, person: str
) -> None:
    client = new_client(system, "client_secret_basic")
    verifier, challenge = pkce_pair()
    tokens = exchange(system, client, code_for(system, client, person, challenge), verifier).json()
    resp = token_request(
        system, client, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    )
    assert resp.status_code == 200, resp.text
    newer = resp.json()
    replay = token_request(
        system, client, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    )
    assert_error(replay, "invalid_grant")
    # The newer refresh token and access token died with the family.
    resp = token_request(
        system, client, {"grant_type": "refresh_token", "refresh_token": newer["refresh_token"]}
    )
    assert_error(resp, "invalid_grant")
    assert introspect(system, newer["access_token"]) == {"active": False}


@pytest.mark.parametrize("step", ["login", "consent"])
@pytest.mark.parametrize("csrf", ["missing", "forged"])
def test_csrf_on_login_and_consent(
    system: RunningSystem, person: str, step: str, csrf: str
) -> None:
    client = new_client(system, "none")
    with Browser(system.base_url) as browser:
        page = browser.go(authorize_url(client["client_id"], pkce_pair()[1]))
        assert isinstance(page, httpx.Response)
        if step == "consent":
            page = browser.submit(page, {"username": person, "password": PASSWORD})
            assert isinstance(page, httpx.Response) and "consent" in str(page.url)
        fields = {"username": person, "password": PASSWORD} if step == "login" else {}
        if csrf == "forged":
            fields["csrf_token"] = "forged-" + "x" * 40
            result = browser.submit(
                page, fields, button=None if step == "login" else "decision=approve"
            )
        else:
            result = browser.submit(
                page,
                fields,
                drop=("csrf_token",),
                button=None if step == "login" else "decision=approve",
            )
        assert isinstance(result, httpx.Response), "a forged form must not redirect"
        assert result.status_code == 403
        # Nothing happened: still not signed in / no code issued.
        again = browser.go(authorize_url(client["client_id"], pkce_pair()[1], prompt="none"))
        assert isinstance(again, Arrival)
        assert again.params["error"] == (
            "login_required" if step == "login" else "consent_required"
        )


def test_five_wrong_passwords_then_slowed_down(system: RunningSystem, person: str) -> None:
    client = new_client(system, "none")
    with Browser(system.base_url) as browser:
        for _ in range(5):
            page = browser.go(authorize_url(client["client_id"], pkce_pair()[1]))
            assert isinstance(page, httpx.Response)
            result = browser.submit(page, {"username": person, "password": "wrong-password"})
            assert isinstance(result, httpx.Response) and result.status_code == 401
            assert "Invalid username or password" in page_text(result)
        page = browser.go(authorize_url(client["client_id"], pkce_pair()[1]))
        assert isinstance(page, httpx.Response)
        result = browser.submit(page, {"username": person, "password": PASSWORD})
        assert isinstance(result, httpx.Response)
        assert result.status_code == 429
        assert int(result.headers["retry-after"]) > 0
        assert "Too many failed sign-in attempts" in page_text(result)


def test_secrets_are_stored_only_as_hashes(system: RunningSystem, person: str) -> None:
    client = new_client(system, "client_secret_basic")
    verifier, challenge = pkce_pair()
    code = code_for(system, client, person, challenge)
    tokens = exchange(system, client, code, verifier).json()
    users = table_rows(system.database_url, system.data_dir, "authorize", "users")
    for row in users:
        assert row["password_hash"].startswith("$argon2id$")
        assert PASSWORD not in str(row)
    codes = table_rows(system.database_url, system.data_dir, "authorize", "authorization_codes")
    assert any(row["code_id"] == sha256_hex(code) for row in codes)
    assert code not in str(codes)
    refresh = table_rows(system.database_url, system.data_dir, "token", "refresh_tokens")
    assert any(row["token_hash"] == sha256_hex(tokens["refresh_token"]) for row in refresh)
    assert tokens["refresh_token"] not in str(refresh)
    clients = table_rows(system.database_url, system.data_dir, "clients", "clients")
    assert client["client_secret"] not in str(clients)


def test_a_finished_or_foreign_interaction_is_an_expired_page(
    system: RunningSystem, person: str
) -> None:
    """docs/signin.md: replaying a finished interaction, or presenting another
    session's, is a page saying to start again at the client, never a 500 and
    never a second code."""
    client = new_client(system, "client_secret_basic")
    _, challenge = pkce_pair()
    with Browser(system.base_url) as browser:
        login = browser.go(authorize_url(client["client_id"], challenge))
        assert isinstance(login, httpx.Response) and login.status_code == 200
        consent = browser.submit(login, {"username": person, "password": PASSWORD})
        assert isinstance(consent, httpx.Response) and consent.status_code == 200
        assert isinstance(browser.submit(consent, button="decision=approve"), Arrival)
        replayed = browser.submit(consent, button="decision=approve")
        assert isinstance(replayed, httpx.Response) and replayed.status_code == 400
        text = page_text(replayed)
        assert "This sign-in has expired" in text and client["client_name"] in text

        with Browser(system.base_url) as other:
            own = other.go(authorize_url(client["client_id"], challenge))
            assert isinstance(own, httpx.Response)
            waiting = browser.go(authorize_url(client["client_id"], challenge, prompt="login"))
            assert isinstance(waiting, httpx.Response)
            interaction = waiting.url.params["interaction"]
            stolen = other.submit(
                own, {"username": person, "password": PASSWORD, "interaction": interaction}
            )
            assert isinstance(stolen, httpx.Response) and stolen.status_code == 400
            assert "This sign-in has expired" in page_text(stolen)
