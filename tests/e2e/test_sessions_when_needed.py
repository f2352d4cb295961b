"""Sessions only when needed: a browser that gets an error page, a
bare login form or an error redirect leaves nothing stored; a waiting sign-in
stores one session that lives as long as the sign-in, not eight hours; the
bare form still signs in through its double-submit cookie."""

from __future__ import annotations

import httpx
import pytest
import redis

from tests.e2e.browser import Browser, page_text, pkce_pair
from tests.e2e.conftest import RunningSystem
from tests.e2e.test_sign_in import PASSWORD, authorize_url, new_client, unique

pytestmark = pytest.mark.e2e

SESSION_COOKIE = "oauth2_session"


def session_keys(system: RunningSystem) -> list[bytes] | None:
    """The session keys in Redis (None on the embedded default, which has no Redis)."""
    env = system.system.common_env()
    if "REDIS_URL" not in env:
        return None
    client = redis.Redis.from_url(env["REDIS_URL"])
    try:
        return list(client.scan_iter(match=env["OAUTH2_REDIS_KEY_PREFIX"] + "session:*"))
    finally:
        client.close()


def ttl_of(system: RunningSystem, key: bytes) -> int:
    client = redis.Redis.from_url(system.system.common_env()["REDIS_URL"])
    try:
        return int(client.ttl(key))
    finally:
        client.close()


def test_cookieless_error_pages_and_the_bare_form_store_nothing(system: RunningSystem) -> None:
    client = new_client(system, "client_secret_basic")
    before = session_keys(system)
    with system.http() as http:
        responses = [
            # Unknown client: a page, never a redirect.
            http.get(authorize_url("no-such-client", state="x" * 2000)),
            # A registered client asking for a scope it may not have: an error redirect.
            http.get(authorize_url(client["client_id"], scope="openid not-a-scope")),
            # No redirect URI the client registered: a page.
            http.get(authorize_url(client["client_id"], redirect_uri="https://evil.example/cb")),
            # The bare login form.
            http.get("/login"),
            http.get("/login?interaction=forged"),
            http.get("/consent?interaction=forged"),
            http.get("/logout"),
        ]
        statuses = [response.status_code for response in responses]
        assert statuses == [400, 303, 400, 200, 400, 400, 200]
        assert "error=invalid_scope" in responses[1].headers["location"]
        for response in responses:
            assert SESSION_COOKIE not in response.cookies, response.request.url
    assert session_keys(system) == before


def test_a_waiting_sign_in_stores_one_short_session(system: RunningSystem) -> None:
    client = new_client(system, "client_secret_basic")
    before = set(session_keys(system) or [])
    with system.http() as http:
        _, challenge = pkce_pair()
        response = http.get(authorize_url(client["client_id"], challenge))
        assert response.status_code == 303 and "/login?interaction=" in response.headers["location"]
        cookie = response.headers["set-cookie"]
        assert cookie.startswith(f"{SESSION_COOKIE}=") and "Max-Age=1800" in cookie
    keys = session_keys(system)
    if keys is not None:
        new = set(keys) - before
        assert len(new) == 1
        assert 0 < ttl_of(system, new.pop()) <= 1800


def test_the_bare_login_form_signs_in_with_its_double_submit_cookie(
    system: RunningSystem,
) -> None:
    username = unique("bare")
    system.create_user(username, PASSWORD)
    with Browser(system.base_url) as browser:
        form_page = browser.go("/login")
        assert isinstance(form_page, httpx.Response) and form_page.status_code == 200
        assert SESSION_COOKIE not in browser.http.cookies
        wrong = browser.submit(form_page, {"username": username, "password": "wrong"})
        assert isinstance(wrong, httpx.Response) and wrong.status_code == 401
        assert SESSION_COOKIE not in browser.http.cookies
        # The re-rendered form carries the same token.
        done = browser.submit(wrong, {"username": username, "password": PASSWORD})
        assert isinstance(done, httpx.Response) and done.status_code == 200
        assert username in page_text(done)
        assert SESSION_COOKIE in browser.http.cookies
    # Without the cookie, the form's token alone is refused.
    with httpx.Client(base_url=system.base_url) as http:
        page = http.get("/login")
        token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        http.cookies.clear()
        refused = http.post(
            "/login",
            data={"csrf_token": token, "username": username, "password": PASSWORD},
        )
        assert refused.status_code == 403
