"""``response_mode=form_post`` (OAuth 2.0 Form Post Response Mode) through the
gateway: the code flow ends in a page whose form POSTs code, state and iss to the
client's redirect URI. Driven as HTTP on PostgreSQL + Redis and on the embedded
default, and in headless Chromium with JavaScript (the page submits itself) and
without (the person presses its button); the code then buys tokens whose ID token
joserfc verifies."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest
from bs4 import BeautifulSoup
from playwright.sync_api import Route, sync_playwright

from tests.e2e.browser import Arrival, Browser, pkce_pair
from tests.e2e.conftest import RunningSystem
from tests.e2e.test_real_browser import ARGS, CHROMIUM
from tests.e2e.test_sign_in import (
    PASSWORD,
    REDIRECT,
    authorize_url,
    exchange,
    new_client,
    unique,
    verify_id_token,
)

pytestmark = pytest.mark.e2e


def posted_fields(page: httpx.Response) -> dict[str, str]:
    """The form_post page's form: it posts to the redirect URI; its hidden fields."""
    assert page.status_code == 200, page.text
    assert page.headers["cache-control"] == "no-store"
    form = BeautifulSoup(page.text, "html.parser").find("form")
    assert form is not None and form["method"] == "post" and form["action"] == REDIRECT
    return {i["name"]: i["value"] for i in form.find_all("input", {"type": "hidden"})}


def test_discovery_offers_form_post(system: RunningSystem) -> None:
    with system.http() as http:
        metadata = http.get("/.well-known/openid-configuration").json()
    assert metadata["response_modes_supported"] == ["query", "form_post"]


def test_code_flow_with_form_post(system: RunningSystem) -> None:
    client = new_client(system, "client_secret_basic")
    username = unique("fern")
    user = system.create_user(username, PASSWORD, f"{username}@example.com")
    verifier, challenge = pkce_pair()
    url = authorize_url(
        client["client_id"],
        challenge,
        state="fp-state",
        nonce="fp-nonce",
        response_mode="form_post",
    )
    with Browser(system.base_url) as browser:
        login = browser.go(url)
        assert isinstance(login, httpx.Response) and login.status_code == 200
        consent = browser.submit(login, {"username": username, "password": PASSWORD})
        assert isinstance(consent, httpx.Response) and consent.status_code == 200
        answer = browser.submit(consent, button="decision=approve")
        assert isinstance(answer, httpx.Response), "form_post answers with a page"
        fields = posted_fields(answer)
        assert set(fields) == {"code", "state", "iss"}
        assert fields["state"] == "fp-state" and fields["iss"] == system.base_url

        resp = exchange(system, client, fields["code"], verifier)
        assert resp.status_code == 200, resp.text
        tokens = resp.json()
        verify_id_token(
            system,
            tokens["id_token"],
            client["client_id"],
            user["user_id"],
            tokens["access_token"],
            "fp-nonce",
        )

        # Signed in, consent on record: the authorization endpoint posts the code at once.
        again = browser.go(authorize_url(client["client_id"], challenge, response_mode="form_post"))
        assert isinstance(again, httpx.Response)
        assert "code" in posted_fields(again)

        # Errors after the redirect URI is checked are posted as well.
        refused = browser.go(
            authorize_url(
                client["client_id"], challenge, response_mode="form_post", prompt="none login"
            )
        )
        assert isinstance(refused, httpx.Response)
        assert posted_fields(refused)["error"] == "invalid_request"

        # A response_mode the server does not offer is itself the error, in the query.
        wrong = browser.go(authorize_url(client["client_id"], challenge, response_mode="fragment"))
        assert isinstance(wrong, Arrival) and wrong.params["error"] == "invalid_request"


@pytest.mark.parametrize("javascript", [True, False], ids=["javascript", "no-javascript"])
@pytest.mark.parametrize("system", ["postgres"], indirect=True)
def test_form_post_in_chromium(system: RunningSystem, javascript: bool, tmp_path: Path) -> None:
    assert Path(CHROMIUM).exists(), (
        "the browser test needs Debian's chromium (make test installs it)"
    )
    client = new_client(system, "none")
    username = unique("gale")
    system.create_user(username, PASSWORD, f"{username}@example.com")
    verifier, challenge = pkce_pair()
    posts: list[tuple[str, str, dict[str, list[str]]]] = []

    def client_app(route: Route) -> None:
        # The client's redirect URI is not on this machine: answer for it.
        request = route.request
        posts.append((request.method, request.url, parse_qs(request.post_data or "")))
        route.fulfill(status=200, content_type="text/html", body="<h1>Signed in</h1>")

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_context(java_script_enabled=javascript).new_page()
            page.route("https://rp.example/**", client_app)
            page.goto(
                system.base_url
                + authorize_url(
                    client["client_id"], challenge, state="chromium-fp", response_mode="form_post"
                )
            )
            page.get_by_label("Username").fill(username)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url("**/consent**")
            page.get_by_role("button", name="Allow").click()
            if not javascript:
                # The page stays until its button is pressed.
                page.get_by_role("button", name="Continue").click()
            page.wait_for_url(REDIRECT)
        finally:
            browser.close()

    assert len(posts) == 1, posts
    method, url, form = posts[0]
    assert (method, url) == ("POST", REDIRECT)
    assert form["state"] == ["chromium-fp"] and form["iss"] == [system.base_url]
    resp = exchange(system, client, form["code"][0], verifier)
    assert resp.status_code == 200, resp.text
