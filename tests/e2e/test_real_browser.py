"""The sign-in flow once in a real browser: Debian's headless Chromium driven by
Playwright, filling the login and consent pages and arriving at the client's
redirect URI with a code. Screenshots of both pages land in screenshots/."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Route, sync_playwright

from tests.e2e.browser import pkce_pair
from tests.e2e.conftest import ROOT, RunningSystem
from tests.e2e.test_sign_in import PASSWORD, REDIRECT, authorize_url, exchange, new_client, unique

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = ROOT / "screenshots"
# Without these Chromium keeps trying to reach Google's hosts, which this network refuses.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.mark.parametrize("system", ["postgres"], indirect=True)
def test_sign_in_with_chromium(system: RunningSystem, tmp_path: Path) -> None:
    assert Path(CHROMIUM).exists(), (
        "the browser test needs Debian's chromium (make test installs it)"
    )
    client = new_client(system, "none")
    username = unique("dana")
    system.create_user(username, PASSWORD, f"{username}@example.com")
    verifier, challenge = pkce_pair()
    SCREENSHOTS.mkdir(exist_ok=True)
    arrived: list[str] = []

    def client_app(route: Route) -> None:
        # The client's redirect URI is not on this machine: answer for it.
        arrived.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<h1>Signed in</h1>")

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page()
            page.route("https://rp.example/**", client_app)
            page.goto(
                system.base_url
                + authorize_url(client["client_id"], challenge, state="browser-state")
            )
            page.get_by_label("Username").fill(username)
            page.get_by_label("Password").fill(PASSWORD)
            page.screenshot(path=str(SCREENSHOTS / "login.png"), full_page=True)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url("**/consent**")
            assert client["client_name"] in page.content()
            page.screenshot(path=str(SCREENSHOTS / "consent.png"), full_page=True)
            page.get_by_role("button", name="Allow").click()
            page.wait_for_url(REDIRECT + "**")
        finally:
            browser.close()

    assert arrived, "the browser never reached the client's redirect URI"
    params = {k: v[0] for k, v in parse_qs(urlsplit(arrived[-1]).query).items()}
    assert params["state"] == "browser-state"
    assert params["iss"] == system.base_url
    resp = exchange(system, client, params["code"], verifier)
    assert resp.status_code == 200, resp.text
    assert (SCREENSHOTS / "login.png").stat().st_size > 0
    assert (SCREENSHOTS / "consent.png").stat().st_size > 0
