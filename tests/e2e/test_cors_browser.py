"""CORS from a real browser: Debian's headless Chromium loads a page from another
origin than the gateway's and fetch()es the token endpoint (client_credentials,
HTTP Basic: a preflighted request) and the discovery document.

The page is served on 127.0.0.1:<port>, the origin of the client's redirect URI,
so the gateway allows it; the very same page on localhost:<port> is another
origin, and there Chromium refuses to hand the answers to the script."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import sync_playwright

from oauth2ctl.devrun import free_port
from tests.e2e.conftest import RunningSystem
from tests.e2e.test_real_browser import ARGS, CHROMIUM

pytestmark = pytest.mark.e2e

PAGE = "<!doctype html><title>spa</title><h1>A single-page app</h1>"
# What the app's script does: its answers, or the error fetch() rejected with.
SCRIPT = """async ([base, clientId, secret]) => {
  const out = {};
  const basic = btoa(encodeURIComponent(clientId) + ":" + encodeURIComponent(secret));
  try {
    const r = await fetch(base + "/oauth/token", {
      method: "POST",
      headers: {
        "Authorization": "Basic " + basic,
        "Content-Type": "application/x-www-form-urlencoded",
      },
      body: "grant_type=client_credentials",
    });
    out.token_status = r.status;
    out.token = await r.json();
  } catch (e) { out.token_error = e.name + ": " + e.message; }
  try {
    const r = await fetch(base + "/.well-known/openid-configuration");
    out.issuer = (await r.json()).issuer;
  } catch (e) { out.discovery_error = e.name + ": " + e.message; }
  return out;
}"""


@pytest.fixture
def app_server(tmp_path: Path) -> Iterator[int]:
    """A static web server for the app's page on loopback (both 127.0.0.1 and
    localhost reach it); yields its port."""
    (tmp_path / "index.html").write_text(PAGE, encoding="utf-8")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(tmp_path), **kwargs)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        server.shutdown()
        server.server_close()


def wait_until_allowed(system: RunningSystem, origin: str) -> None:
    """The gateway learns a new client's origins within cors_cache_seconds (1 s
    in these tests): preflight until it answers, a few seconds at most."""
    deadline = time.monotonic() + 10
    with system.http() as http:
        while True:
            answer = http.options(
                "/oauth/token",
                headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
            )
            if answer.status_code == 204 or time.monotonic() > deadline:
                break
            time.sleep(0.3)
    assert answer.status_code == 204, answer.text
    assert answer.headers["access-control-allow-origin"] == origin


@pytest.mark.parametrize("system", ["postgres"], indirect=True)
def test_cors_from_chromium(system: RunningSystem, app_server: int) -> None:
    assert Path(CHROMIUM).exists(), "the browser test needs Debian's chromium"
    allowed = f"http://127.0.0.1:{app_server}"
    refused = f"http://localhost:{app_server}"
    client = system.create_client(
        "--name",
        "single-page app",
        "--grant-type",
        "client_credentials",
        "--grant-type",
        "authorization_code",
        "--redirect-uri",
        f"{allowed}/callback",
    )
    wait_until_allowed(system, allowed)
    credentials = [system.base_url, client["client_id"], client["client_secret"]]

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{allowed}/index.html")
            on_allowed = page.evaluate(SCRIPT, credentials)
            page.goto(f"{refused}/index.html")
            on_refused = page.evaluate(SCRIPT, credentials)
        finally:
            browser.close()

    assert on_allowed.get("token_status") == 200, on_allowed
    assert on_allowed["token"]["token_type"] == "Bearer"
    assert on_allowed["token"]["access_token"]
    assert on_allowed.get("issuer") == system.base_url, on_allowed
    # Another origin: the preflight is refused, so the script only learns that
    # the fetch failed (no status, no body), and so does the discovery fetch.
    assert on_refused.get("token_error") == "TypeError: Failed to fetch", on_refused
    assert on_refused.get("discovery_error") == "TypeError: Failed to fetch", on_refused
    assert "token" not in on_refused and "issuer" not in on_refused


@pytest.mark.parametrize("system", ["embedded"], indirect=True)
def test_cors_headers_over_http(system: RunningSystem) -> None:
    """The same decisions without a browser, on the embedded default: an origin of
    a client's redirect URI is answered, another is not, the pages never are."""
    origin = f"http://127.0.0.1:{free_port()}"
    client = system.create_client(
        "--name",
        "spa",
        "--grant-type",
        "client_credentials",
        "--grant-type",
        "authorization_code",
        "--redirect-uri",
        f"{origin}/cb",
    )
    wait_until_allowed(system, origin)
    form = {"grant_type": "client_credentials"}
    auth = (client["client_id"], client["client_secret"])
    with system.http() as http:
        issued = http.post("/oauth/token", data=form, auth=auth, headers={"Origin": origin})
        assert issued.status_code == 200, issued.text
        assert issued.headers["access-control-allow-origin"] == origin
        assert "access-control-allow-credentials" not in issued.headers
        other = http.post(
            "/oauth/token", data=form, auth=auth, headers={"Origin": "http://localhost:1"}
        )
        assert other.status_code == 400
        assert other.json()["error"] == "invalid_request"
        assert "access-control-allow-origin" not in other.headers
        page = http.get(
            "/oauth/authorize",
            params={"client_id": client["client_id"]},
            headers={"Origin": origin},
        )
        assert "access-control-allow-origin" not in page.headers
        preflight = http.options(
            "/login", headers={"Origin": origin, "Access-Control-Request-Method": "POST"}
        )
        assert "access-control-allow-origin" not in preflight.headers
