"""Sign-in attacks through the gateway: parallel guesses against a
lockout, password spraying from one address that must not lock out the people
behind it, a flood that fills the Argon2 queue, and a password reset that ends
what the old password opened. Bounded: a few dozen requests on loopback."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.e2e.admin_support import AdminApi
from tests.e2e.browser import Arrival, Browser, pkce_pair
from tests.e2e.conftest import SHARED_ADDRESS_LIMITS, RunningSystem, base_env, start_system
from tests.e2e.test_sign_in import (
    PASSWORD,
    exchange,
    new_client,
    sign_in,
    token_request,
    unique,
)
from tests.e2e.test_sign_in import (
    authorize_url as _authorize_url,
)

pytestmark = pytest.mark.e2e

WRONG = "not the password"


def login_page(browser: Browser, client_id: str) -> httpx.Response:
    page = browser.go(_authorize_url(client_id, pkce_pair()[1]))
    assert isinstance(page, httpx.Response) and page.status_code == 200, page
    assert 'name="password"' in page.text
    return page


def submit(browser: Browser, page: httpx.Response, username: str, password: str) -> httpx.Response:
    result = browser.submit(page, {"username": username, "password": password})
    assert isinstance(result, httpx.Response), "a failed sign-in answers with the page"
    return result


def in_parallel(calls: list[Callable[[], Any]]) -> list[Any]:
    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(lambda call: call(), calls))


@pytest.fixture
def browsers(system: RunningSystem) -> Iterator[list[Browser]]:
    made = [Browser(system.base_url) for _ in range(20)]
    yield made
    for browser in made:
        browser.close()


def test_parallel_logins_cannot_pass_a_lockout(
    system: RunningSystem, browsers: list[Browser]
) -> None:
    """20 wrong passwords at once for one user against a lockout of 5: at most 5
    are judged (401), the rest are refused as locked (429 with Retry-After), and
    then the right password is refused too."""
    username = unique("dave")
    system.create_user(username, PASSWORD)
    client = new_client(system, "none")
    pages = [login_page(browser, client["client_id"]) for browser in browsers]
    results = in_parallel(
        [
            lambda b=browser, p=page: submit(b, p, username, WRONG)
            for browser, page in zip(browsers, pages, strict=True)
        ]
    )
    statuses = sorted(result.status_code for result in results)
    assert statuses.count(401) <= 5 and set(statuses) <= {401, 429}, statuses
    assert all(int(r.headers["retry-after"]) > 0 for r in results if r.status_code == 429)

    with Browser(system.base_url) as browser:
        locked = submit(browser, login_page(browser, client["client_id"]), username, PASSWORD)
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
    assert "Too many failed sign-in attempts" in locked.text


@pytest.fixture(scope="module")
def default_limits(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSystem]:
    """An embedded system with the gateway's default per-address rate limits."""
    data_dir = tmp_path_factory.mktemp("default-limits")
    env = {
        key: value for key, value in base_env(data_dir).items() if key not in SHARED_ADDRESS_LIMITS
    }
    running = start_system(env, data_dir, "embedded")
    yield running
    running.system.stop_all()


@pytest.mark.slow  # long waits: make test-slow and CI run it
def test_spraying_from_one_address_does_not_lock_out_its_users(system: RunningSystem) -> None:
    """50 failures with random usernames from one address (every test request
    comes from 127.0.0.1), then a real user there signs in with their password."""
    spray_then_sign_in(system)


def test_the_default_address_limits_let_the_user_through_after_spraying(
    default_limits: RunningSystem,
) -> None:
    """The same with the gateway's default per-address limits: they slow the
    spraying (one guess a second once the burst is used) but the burst of 60
    still lets the person at that address sign in."""
    spray_then_sign_in(default_limits)


def spray_then_sign_in(system: RunningSystem) -> None:
    username = unique("erin")
    system.create_user(username, PASSWORD)
    client = new_client(system, "none")

    def spray(count: int) -> list[int]:
        with Browser(system.base_url) as browser:
            page = login_page(browser, client["client_id"])
            statuses = []
            for _ in range(count):
                page = submit(browser, page, unique("nobody"), WRONG)
                statuses.append(page.status_code)
            return statuses

    sprayed = [s for part in in_parallel([lambda: spray(13)] * 4) for s in part][:50]
    assert len(sprayed) == 50 and set(sprayed) == {401}, sprayed

    with Browser(system.base_url) as browser:
        arrival = sign_in(browser, _authorize_url(client["client_id"], pkce_pair()[1]), username)
    assert "code" in arrival.params, arrival.params


@pytest.fixture(scope="module")
def saturable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSystem]:
    """An embedded system with one Argon2 worker and one waiting place, and a
    lockout high enough that only counted refusals could lock the user out."""
    data_dir = tmp_path_factory.mktemp("saturable")
    env = base_env(data_dir)
    env["OAUTH2_ARGON2_WORKERS"] = "1"
    env["OAUTH2_ARGON2_QUEUE"] = "1"
    env["OAUTH2_LOGIN_MAX_FAILURES_PER_USER"] = "10"
    # 16 at once for one user: past the gateway's per-user brake, which is not under test.
    env["OAUTH2_RATE_LIMIT_LOGIN_PER_USER"] = "100/s burst 100"
    running = start_system(env, data_dir, "embedded")
    yield running
    running.system.stop_all()


def test_argon2_saturation_is_answered_fast(saturable: RunningSystem) -> None:
    """16 sign-ins at once against one worker: the ones that find the queue full
    come back at once as 503 with Retry-After (long before the 5 s gRPC
    deadline), and they are not counted as failures."""
    username = unique("frank")
    saturable.create_user(username, PASSWORD)
    client = new_client(saturable, "none")
    browsers = [Browser(saturable.base_url) for _ in range(16)]
    try:
        pages = [login_page(browser, client["client_id"]) for browser in browsers]

        def attempt(browser: Browser, page: httpx.Response) -> tuple[int, float, str]:
            started = time.monotonic()
            result = submit(browser, page, username, WRONG)
            return (
                result.status_code,
                time.monotonic() - started,
                result.headers.get("retry-after", ""),
            )

        results = in_parallel(
            [
                lambda b=browser, p=page: attempt(b, p)
                for browser, page in zip(browsers, pages, strict=True)
            ]
        )
    finally:
        for browser in browsers:
            browser.close()
    refused = [r for r in results if r[0] == 503]
    judged = [r for r in results if r[0] == 401]
    assert len(refused) + len(judged) == 16, [r for r in results if r[0] not in (401, 503)]
    assert judged and len(refused) >= 6, results
    assert all(int(retry_after) >= 1 for _, _, retry_after in refused)
    assert all(elapsed < 2.5 for _, elapsed, _ in refused), results

    # Had the refusals counted, 16 attempts would have passed the lockout of 10.
    with Browser(saturable.base_url) as browser:
        arrival = sign_in(browser, _authorize_url(client["client_id"], pkce_pair()[1]), username)
    assert "code" in arrival.params, arrival.params


def test_password_reset_ends_refresh_tokens_and_sessions(system: RunningSystem) -> None:
    username = unique("grace")
    user = system.create_user(username, PASSWORD)
    client = new_client(system, "client_secret_basic")
    with Browser(system.base_url) as browser:
        verifier, challenge = pkce_pair()
        arrival = sign_in(browser, _authorize_url(client["client_id"], challenge), username)
        tokens = exchange(system, client, arrival.params["code"], verifier).json()
        assert "refresh_token" in tokens, tokens
        # Signed in: the next authorization needs no login page.
        again = browser.go(_authorize_url(client["client_id"], pkce_pair()[1]))
        assert isinstance(again, Arrival) and "code" in again.params, again

        time.sleep(1.1)  # sessions carry whole seconds: the reset comes after the sign-in
        with AdminApi(system) as admin:
            admin.ok(
                "POST",
                f"/users/{user['user_id']}/password",
                204,
                json={"password": "a brand new password"},
            )

        refreshed = token_request(
            system,
            client,
            {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        )
        assert refreshed.status_code == 400, refreshed.text
        assert refreshed.json()["error"] == "invalid_grant"

        # The browser's session no longer counts: the login page, not a code.
        after = browser.go(_authorize_url(client["client_id"], pkce_pair()[1]))
        assert isinstance(after, httpx.Response), after
        assert after.status_code == 200 and 'name="password"' in after.text
        silent = browser.go(_authorize_url(client["client_id"], pkce_pair()[1], prompt="none"))
        assert isinstance(silent, Arrival) and silent.params["error"] == "login_required"

        # The old password is refused, the new one signs in.
        assert submit(browser, after, username, PASSWORD).status_code == 401
        arrival = sign_in(
            browser,
            _authorize_url(client["client_id"], pkce_pair()[1]),
            username,
            "a brand new password",
        )
        assert "code" in arrival.params, arrival.params
