"""The device authorization grant (RFC 8628) through the gateway, on PostgreSQL +
Redis and on the embedded default: a device asks for codes, a person types the
user code on the verification page, signs in and approves (or denies) like in a
browser, and the device's polls answer authorization_pending, slow_down,
access_denied, expired_token, then the tokens once (ID token and access token
checked with joserfc; the refresh token works), then invalid_grant. The device
authorization survives a restart of the authorize service."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from playwright.sync_api import sync_playwright

from tests.e2e.browser import Browser, page_text
from tests.e2e.conftest import DEVICE_CODE_TTL_SECONDS, OAUTH2CTL, RunningSystem, basic
from tests.e2e.test_real_browser import ARGS, CHROMIUM, SCREENSHOTS
from tests.e2e.test_sign_in import PASSWORD, unique, verify_id_token

pytestmark = pytest.mark.e2e

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
USER_CODE = re.compile(r"[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}")
SCOPE = "openid profile offline_access"


def device_client(system: RunningSystem, auth_method: str = "none") -> dict[str, Any]:
    return system.create_client(
        "--name",
        unique("Living Room TV"),
        "--grant-type",
        DEVICE_GRANT,
        "--grant-type",
        "refresh_token",
        "--scope",
        SCOPE,
        "--auth-method",
        auth_method,
    )


def _authenticated(client: dict[str, Any], form: dict[str, str]) -> dict[str, str]:
    """Basic for a confidential client; the client_id in the form for a public one."""
    if client["token_endpoint_auth_method"] == "client_secret_basic":
        return {"Authorization": basic(client["client_id"], client["client_secret"])}
    form["client_id"] = client["client_id"]
    return {}


def start(system: RunningSystem, client: dict[str, Any], scope: str = SCOPE) -> dict[str, Any]:
    form = {"scope": scope}
    headers = _authenticated(client, form)
    with system.http() as http:
        resp = http.post("/oauth/device_authorization", data=form, headers=headers)
    assert resp.status_code == 200, resp.text
    assert resp.headers["cache-control"] == "no-store"
    body: dict[str, Any] = resp.json()
    return body


def poll(system: RunningSystem, client: dict[str, Any], device_code: str) -> httpx.Response:
    form = {"grant_type": DEVICE_GRANT, "device_code": device_code}
    headers = _authenticated(client, form)
    with system.http() as http:
        return http.post("/oauth/token", data=form, headers=headers)


def error_of(resp: httpx.Response) -> str:
    assert resp.status_code == 400, (resp.status_code, resp.text)
    return str(resp.json()["error"])


def verify(browser: Browser, url: str, username: str, *, approve: bool = True) -> str:
    """The person's side: the verification page, the code, the sign-in, the consent
    page; the text of the page it ends on."""
    page = browser.go(url)
    assert isinstance(page, httpx.Response) and page.status_code == 200, page
    page = browser.submit(page)  # the code is prefilled (verification_uri_complete)
    assert isinstance(page, httpx.Response) and page.status_code == 200, page
    if 'name="password"' in page.text:
        page = browser.submit(page, {"username": username, "password": PASSWORD})
        assert isinstance(page, httpx.Response) and page.status_code == 200, page
    assert "on your device" in page_text(page), page_text(page)
    done = browser.submit(page, button="decision=" + ("approve" if approve else "deny"))
    assert isinstance(done, httpx.Response) and done.status_code == 200, done
    return page_text(done)


def test_discovery_names_the_endpoint_and_the_grant(system: RunningSystem) -> None:
    with system.http() as http:
        metadata = http.get("/.well-known/openid-configuration").json()
    assert metadata["device_authorization_endpoint"] == (
        system.base_url + "/oauth/device_authorization"
    )
    assert DEVICE_GRANT in metadata["grant_types_supported"]


@pytest.mark.parametrize("auth_method", ["none", "client_secret_basic"])
def test_a_device_signs_in_through_the_verification_page(
    system: RunningSystem, auth_method: str
) -> None:
    client = device_client(system, auth_method)
    username = unique("ivy")
    user = system.create_user(username, PASSWORD, f"{username}@example.com")
    started = start(system, client)
    assert set(started) == {
        "device_code",
        "user_code",
        "verification_uri",
        "verification_uri_complete",
        "expires_in",
        "interval",
    }
    assert len(started["device_code"]) >= 43  # 256 bits, base64url
    assert USER_CODE.fullmatch(started["user_code"]), started["user_code"]
    assert started["verification_uri"] == system.base_url + "/device"
    complete = urlsplit(started["verification_uri_complete"])
    assert parse_qs(complete.query) == {"user_code": [started["user_code"]]}
    assert started["expires_in"] == DEVICE_CODE_TTL_SECONDS and started["interval"] == 1

    # Nobody has looked yet.
    assert error_of(poll(system, client, started["device_code"])) == "authorization_pending"
    polled = time.monotonic()

    with Browser(system.base_url) as browser:
        done = verify(browser, started["verification_uri_complete"], username)
    assert "Device connected" in done, done

    time.sleep(max(0.0, polled + 1.2 - time.monotonic()))  # the interval since that poll
    resp = poll(system, client, started["device_code"])
    assert resp.status_code == 200, resp.text
    assert resp.headers["cache-control"] == "no-store"
    tokens = resp.json()
    assert tokens["token_type"] == "Bearer" and set(tokens["scope"].split()) == set(SCOPE.split())
    claims = verify_id_token(
        system,
        tokens["id_token"],
        client["client_id"],
        user["user_id"],
        tokens["access_token"],
        nonce=None,
    )
    assert claims["amr"] == ["pwd"]
    # The person approved in a browser session, but the tokens are the device's: no sid
    # (Back-Channel Logout 1.0: signing out of that browser does not end the device's).
    assert "sid" not in claims
    with system.http() as http:
        keys = KeySet.import_key_set(http.get("/oauth/jwks").json())
        access = jwt.decode(tokens["access_token"], keys, algorithms=["ES256"])
        assert access.claims["sub"] == user["user_id"]
        assert access.claims["client_id"] == client["client_id"]
        userinfo = http.get(
            "/oauth/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
        )
        assert userinfo.status_code == 200 and userinfo.json()["sub"] == user["user_id"]

        # The refresh token works as for the code flow.
        form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
        headers = _authenticated(client, form)
        refreshed = http.post("/oauth/token", data=form, headers=headers)
        assert refreshed.status_code == 200, refreshed.text

    # Redeemed: the device_code is spent.
    again = poll(system, client, started["device_code"])
    assert error_of(again) == "invalid_grant"


def test_the_person_denies_the_device(system: RunningSystem) -> None:
    client = device_client(system)
    username = unique("jules")
    system.create_user(username, PASSWORD)
    started = start(system, client, "openid")
    with Browser(system.base_url) as browser:
        done = verify(browser, started["verification_uri_complete"], username, approve=False)
    assert "Access denied" in done, done
    assert error_of(poll(system, client, started["device_code"])) == "access_denied"


def test_the_code_is_typed_by_hand_in_any_case(system: RunningSystem) -> None:
    client = device_client(system)
    username = unique("kit")
    system.create_user(username, PASSWORD)
    started = start(system, client, "openid")
    typed = started["user_code"].replace("-", " ").lower()
    with Browser(system.base_url) as browser:
        page = browser.go("/device")
        assert isinstance(page, httpx.Response) and page.status_code == 200
        wrong = browser.submit(page, {"user_code": "BCDF-GHJK"})
        assert isinstance(wrong, httpx.Response) and wrong.status_code == 400
        assert "That code is not valid or has expired" in page_text(wrong)
        login = browser.submit(wrong, {"user_code": typed})
        assert isinstance(login, httpx.Response) and 'name="password"' in login.text
        consent = browser.submit(login, {"username": username, "password": PASSWORD})
        assert isinstance(consent, httpx.Response) and "on your device" in page_text(consent)
        done = browser.submit(consent, button="decision=approve")
        assert isinstance(done, httpx.Response) and "Device connected" in page_text(done)
    assert poll(system, client, started["device_code"]).status_code == 200


def test_a_device_code_is_the_clients_own(system: RunningSystem) -> None:
    owner = device_client(system)
    thief = device_client(system)
    started = start(system, owner, "openid")
    assert error_of(poll(system, thief, started["device_code"])) == "invalid_grant"
    assert error_of(poll(system, owner, "not-a-device-code")) == "invalid_grant"


def test_refusals_at_the_device_authorization_endpoint(system: RunningSystem) -> None:
    code_flow_only = system.create_client(
        "--name",
        unique("No devices"),
        "--grant-type",
        "authorization_code",
        "--redirect-uri",
        "https://rp.example/callback",
        "--scope",
        "openid",
        "--auth-method",
        "none",
    )
    with system.http() as http:
        refused = http.post(
            "/oauth/device_authorization", data={"client_id": code_flow_only["client_id"]}
        )
        assert (refused.status_code, refused.json()["error"]) == (400, "unauthorized_client")
        unknown = http.post("/oauth/device_authorization", data={"client_id": "nobody"})
        assert (unknown.status_code, unknown.json()["error"]) == (401, "invalid_client")
    client = device_client(system)
    with system.http() as http:
        wide = http.post(
            "/oauth/device_authorization",
            data={"client_id": client["client_id"], "scope": "openid admin"},
        )
    assert (wide.status_code, wide.json()["error"]) == (400, "invalid_scope")


@pytest.mark.slow  # long waits: make test-slow and CI run it
def test_polling_too_fast_then_expiry(system: RunningSystem) -> None:
    client = device_client(system)
    started = start(system, client, "openid")
    assert error_of(poll(system, client, started["device_code"])) == "authorization_pending"
    # Sooner than the interval: slow_down, and the interval is 6 seconds from now on.
    assert error_of(poll(system, client, started["device_code"])) == "slow_down"
    time.sleep(1.2)
    assert error_of(poll(system, client, started["device_code"])) == "slow_down"
    time.sleep(DEVICE_CODE_TTL_SECONDS - 1)
    assert error_of(poll(system, client, started["device_code"])) == "expired_token"
    with Browser(system.base_url) as browser:
        page = browser.go(started["verification_uri_complete"])
        assert isinstance(page, httpx.Response)
        late = browser.submit(page)
        assert isinstance(late, httpx.Response) and late.status_code == 400
        assert "That code is not valid or has expired" in page_text(late)


@pytest.mark.slow  # restarts a process of the shared system: make test-slow runs it
def test_a_device_authorization_survives_a_restart(system: RunningSystem) -> None:
    client = device_client(system)
    username = unique("lou")
    system.create_user(username, PASSWORD)
    started = start(system, client, "openid offline_access")
    system.system.stop("authorize")
    system.system.start("authorize")
    system.system.wait_ready(timeout=60)
    with Browser(system.base_url) as browser:
        done = verify(browser, started["verification_uri_complete"], username)
    assert "Device connected" in done
    resp = poll(system, client, started["device_code"])
    assert resp.status_code == 200, resp.text
    assert resp.json()["refresh_token"]


@pytest.mark.slow  # an oauth2ctl process polling: make test-slow runs it
def test_oauth2ctl_performs_the_device_flow(system: RunningSystem) -> None:
    """``oauth2ctl perform device-code`` as the device: it prints where to go and the
    code, polls, and prints the tokens once the person approves in the browser."""
    client = device_client(system)
    username = unique("mo")
    user = system.create_user(username, PASSWORD)
    ctl = subprocess.Popen(
        [
            OAUTH2CTL,
            "perform",
            "device-code",
            "--client-id",
            client["client_id"],
            "--scope",
            "openid",
            "--json",
        ],
        env={**system.system.common_env(), "OAUTH2_CTL_PUBLIC_URL": system.base_url},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert ctl.stderr is not None
        shown = ctl.stderr.readline() + ctl.stderr.readline()
        found = re.search(r"\(or open (\S+)\)", shown)
        assert found and "enter the code" in shown, shown
        with Browser(system.base_url) as browser:
            assert "Device connected" in verify(browser, found.group(1), username)
        out, err = ctl.communicate(timeout=30)
    finally:
        ctl.kill()
    assert ctl.returncode == 0, err
    tokens = json.loads(out)
    verify_id_token(
        system,
        tokens["id_token"],
        client["client_id"],
        user["user_id"],
        tokens["access_token"],
        None,
    )


@pytest.mark.parametrize("system", ["postgres"], indirect=True)
def test_the_verification_page_in_chromium(system: RunningSystem) -> None:
    """A person on a phone: Debian's headless Chromium types the code by hand, signs
    in and allows; the device's next poll gets the tokens."""
    assert Path(CHROMIUM).exists(), "the browser test needs Debian's chromium"
    client = device_client(system)
    username = unique("nell")
    system.create_user(username, PASSWORD)
    started = start(system, client, "openid")
    SCREENSHOTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page()
            page.goto(started["verification_uri"])
            page.get_by_label("Code").fill(started["user_code"].lower().replace("-", ""))
            page.screenshot(path=str(SCREENSHOTS / "device.png"), full_page=True)
            page.get_by_role("button", name="Continue").click()
            page.wait_for_url("**/login**")
            page.get_by_label("Username").fill(username)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url("**/consent**")
            assert "on your device" in page.content()
            page.get_by_role("button", name="Allow").click()
            page.get_by_text("Device connected").wait_for()
        finally:
            browser.close()
    resp = poll(system, client, started["device_code"])
    assert resp.status_code == 200, resp.text
    assert (SCREENSHOTS / "device.png").stat().st_size > 0
