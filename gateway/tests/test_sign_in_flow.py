"""The authorization code flow through the pages (RFC 6749 section 4.1, OpenID
Connect Core section 3.1.2, RFC 9207), as a browser makes it: the authorization
request, the login page, the consent page, the code at the redirect URI; and how
prompt, max_age and deny change the way."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx

from common.errors import ServerError, TemporarilyUnavailable
from gateway.tests.browser import (
    CHALLENGE,
    arrival_of,
    authorize_url,
    go,
    page_of,
    parse_page,
    submit,
)
from gateway.tests.conftest import BROWSER_ISSUER, Fakes
from gateway.tests.fakes import CLIENT_ID, CLIENT_NAME, PASSWORD, REDIRECT_URI, USER_ID, USERNAME

CREDENTIALS = {"username": USERNAME, "password": PASSWORD}


async def sign_in(browser: httpx.AsyncClient, **params: str | None) -> httpx.Response:
    """Authorization request and login; returns the page after the login (consent)."""
    login = page_of(await go(browser, authorize_url(**params)))
    return page_of(await submit(browser, login, CREDENTIALS))


async def test_full_flow_then_consent_is_remembered(
    browser: httpx.AsyncClient, fakes_reset: Fakes
) -> None:
    fake = fakes_reset.authorize
    first = await browser.get(authorize_url())
    assert first.status_code == 303
    assert first.headers["location"].startswith("/login?authz=")
    assert first.headers["cache-control"] == "no-store"

    login = page_of(await go(browser, first.headers["location"]))
    assert login.status_code == 200
    assert CLIENT_NAME in parse_page(login.text).text

    posted = await submit(browser, login, CREDENTIALS, follow_redirects=False)
    assert isinstance(posted, httpx.Response) and posted.status_code == 303
    assert posted.headers["location"].startswith("/oauth/authorize/resume?authz=")
    consent = page_of(await go(browser, posted.headers["location"]))
    assert urlsplit(str(consent.url)).path == "/consent"
    text = parse_page(consent.text).text
    assert CLIENT_NAME in text
    assert "Confirm your identity" in text
    assert "Your name and username" in text
    assert "Your email address" in text

    approved = await submit(browser, consent, button="decision=approve", follow_redirects=False)
    assert isinstance(approved, httpx.Response) and approved.status_code == 303
    location = approved.headers["location"]
    # The registered query is kept byte for byte; the response is appended to it.
    assert location == f"{REDIRECT_URI}&code=code-1&state=st-1&iss=http%3A%2F%2F127.0.0.1%3A8080"

    login_call = next(r for m, r in fake.requests if m == "Login")
    assert (login_call.username, login_call.remote_addr) == (USERNAME, "127.0.0.1")
    grant = next(r for m, r in fake.requests if m == "GrantConsent")
    assert (grant.client_id, grant.user_id, list(grant.scopes)) == (
        CLIENT_ID,
        USER_ID,
        ["openid", "profile", "email"],
    )
    issued = next(r for m, r in fake.requests if m == "IssueAuthorizationCode")
    assert issued.client_id == CLIENT_ID and issued.user_id == USER_ID
    assert issued.redirect_uri == REDIRECT_URI and issued.redirect_uri_in_request
    assert list(issued.scopes) == ["openid", "profile", "email"]
    assert (issued.code_challenge, issued.code_challenge_method) == (CHALLENGE, "S256")
    assert issued.nonce == "n-1" and list(issued.amr) == ["pwd"]
    assert issued.auth_time.seconds > 0

    # A second authorization skips login (session) and consent (remembered).
    again = arrival_of(await go(browser, authorize_url(state="st-2")))
    assert again.param("code") == "code-2" and again.param("state") == "st-2"
    assert again.param("iss") == BROWSER_ISSUER
    # prompt=consent shows the page again, even though consent is on record.
    page = page_of(await go(browser, authorize_url(prompt="consent")))
    assert urlsplit(str(page.url)).path == "/consent"
    # prompt=none with a session and consent: the code at once.
    quiet = arrival_of(await go(browser, authorize_url(prompt="none", state=None)))
    assert "code" in quiet.params and "state" not in quiet.params


async def test_wider_scope_asks_for_consent_again(browser: httpx.AsyncClient) -> None:
    consent = await sign_in(browser, scope="openid")
    arrival_of(await submit(browser, consent, button="decision=approve"))
    page = page_of(await go(browser, authorize_url(scope="openid offline_access calendar")))
    text = parse_page(page.text).text
    assert "Stay signed in when you are not using the app" in text
    assert "Access to \u201ccalendar\u201d" in text


async def test_deny_returns_access_denied(browser: httpx.AsyncClient, fakes_reset: Fakes) -> None:
    consent = await sign_in(browser, state="deny-me")
    arrival = arrival_of(await submit(browser, consent, button="decision=deny"))
    assert arrival.param("error") == "access_denied"
    assert arrival.param("state") == "deny-me"
    assert arrival.param("iss") == BROWSER_ISSUER
    assert "code" not in arrival.params
    assert "IssueAuthorizationCode" not in fakes_reset.calls()
    assert "GrantConsent" not in fakes_reset.calls()
    # The request is finished: its consent page is gone.
    assert (await browser.get(str(consent.url))).status_code == 400


async def test_prompt_none_without_session_is_login_required(
    browser: httpx.AsyncClient,
) -> None:
    arrival = arrival_of(await go(browser, authorize_url(prompt="none")))
    assert arrival.url.startswith(REDIRECT_URI + "&")
    assert arrival.param("error") == "login_required"
    assert arrival.param("state") == "st-1" and arrival.param("iss") == BROWSER_ISSUER


async def test_prompt_none_without_consent_is_consent_required(
    browser: httpx.AsyncClient,
) -> None:
    await sign_in(browser)
    arrival = arrival_of(await go(browser, authorize_url(prompt="none")))
    assert arrival.param("error") == "consent_required"


async def test_prompt_login_forces_one_fresh_login(
    browser: httpx.AsyncClient, fakes_reset: Fakes
) -> None:
    consent = await sign_in(browser)
    arrival_of(await submit(browser, consent, button="decision=approve"))
    logins = fakes_reset.authorize.methods().count("Login")

    login = page_of(await go(browser, authorize_url(prompt="login")))
    assert urlsplit(str(login.url)).path == "/login"
    arrival = arrival_of(await submit(browser, login, CREDENTIALS))
    assert "code" in arrival.params
    assert fakes_reset.authorize.methods().count("Login") == logins + 1


async def test_max_age_zero_forces_login_and_a_recent_login_satisfies_max_age(
    browser: httpx.AsyncClient,
) -> None:
    consent = await sign_in(browser)
    arrival_of(await submit(browser, consent, button="decision=approve"))
    login = page_of(await go(browser, authorize_url(max_age="0")))
    assert urlsplit(str(login.url)).path == "/login"
    assert "code" in arrival_of(await submit(browser, login, CREDENTIALS)).params
    assert "code" in arrival_of(await go(browser, authorize_url(max_age="3600"))).params


async def test_max_age_sent_to_the_service(browser: httpx.AsyncClient, fakes_reset: Fakes) -> None:
    for value, expected in [(None, -1), ("0", 0), ("300", 300), ("-5", -2), ("soon", -2)]:
        await browser.get(authorize_url(max_age=value))
        assert fakes_reset.authorize.requests[-1][1].max_age == expected
    arrival = arrival_of(await go(browser, authorize_url(max_age="1.5")))
    assert arrival.param("error") == "invalid_request"


async def test_errors_after_validation_go_to_the_redirect_uri(
    browser: httpx.AsyncClient, fakes_reset: Fakes
) -> None:
    arrival = arrival_of(await go(browser, authorize_url(response_type="token")))
    assert arrival.url.startswith(REDIRECT_URI + "&error=unsupported_response_type&")
    assert arrival.param("error_description") == "Only response_type=code is supported"
    assert arrival.param("state") == "st-1" and arrival.param("iss") == BROWSER_ISSUER

    arrival = arrival_of(await go(browser, authorize_url() + "&scope=openid&prompt=&prompt="))
    assert arrival.param("error") == "invalid_request"
    sent = fakes_reset.authorize.requests[-1][1]
    assert list(sent.duplicated_parameters) == ["scope"]
    assert sent.scope == "openid profile email" and sent.prompt == ""

    for mode in ("fragment", "form_post"):
        arrival = arrival_of(await go(browser, authorize_url(response_mode=mode)))
        assert arrival.param("error") == "invalid_request"
        assert "response_mode" in arrival.param("error_description")
    login = page_of(await go(browser, authorize_url(response_mode="query")))
    assert urlsplit(str(login.url)).path == "/login"

    arrival = arrival_of(await go(browser, authorize_url(request="eyJhbGciOiJub25lIn0.e30.")))
    assert arrival.param("error") == "request_not_supported"


async def test_downstream_failure_after_validation_is_redirected(
    browser: httpx.AsyncClient, fakes_reset: Fakes
) -> None:
    consent = await sign_in(browser)
    fakes_reset.authorize.answers["IssueAuthorizationCode"] = ServerError("disk full")
    arrival = arrival_of(await submit(browser, consent, button="decision=approve"))
    assert arrival.params == {
        "tenant": ["a b"],
        "error": ["server_error"],
        "state": ["st-1"],
        "iss": [BROWSER_ISSUER],
    }


async def test_failed_validation_is_a_page_never_a_redirect(
    browser: httpx.AsyncClient, fakes_reset: Fakes
) -> None:
    cases = [
        (authorize_url(client_id="nope"), 400, "Unknown client"),
        (
            authorize_url(redirect_uri="https://evil.example/cb"),
            400,
            "The redirect_uri is not registered for this client",
        ),
        ("/oauth/authorize?client_id=photo-book&state=%FF", 400, "not valid UTF-8"),
    ]
    for url, status, message in cases:
        response = await browser.get(url)
        assert response.status_code == status, url
        assert "location" not in response.headers
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        assert message in parse_page(response.text).text
        assert "set-cookie" not in response.headers

    fakes_reset.authorize.answers["ValidateAuthorizationRequest"] = TemporarilyUnavailable()
    response = await browser.get(authorize_url())
    assert response.status_code == 503 and "location" not in response.headers
    assert "temporarily unavailable" in parse_page(response.text).text


async def test_unknown_or_finished_authz_is_a_page(browser: httpx.AsyncClient) -> None:
    for path in ("/oauth/authorize/resume?authz=nope", "/consent?authz=nope", "/login?authz=x"):
        response = await browser.get(path)
        assert response.status_code == 400, path
        assert "expired" in parse_page(response.text).text


async def test_at_most_ten_requests_wait_per_session(browser: httpx.AsyncClient) -> None:
    locations = [
        (await browser.get(authorize_url(state=f"s{i}"))).headers["location"] for i in range(12)
    ]
    assert (await browser.get(locations[0])).status_code == 400
    assert (await browser.get(locations[1])).status_code == 400
    login = page_of(await go(browser, locations[2]))
    consent = page_of(await submit(browser, login, CREDENTIALS))
    arrival = arrival_of(await submit(browser, consent, button="decision=approve"))
    assert arrival.param("state") == "s2"
    arrival = arrival_of(
        await go(browser, locations[11].replace("/login?", "/oauth/authorize/resume?"))
    )
    assert arrival.param("state") == "s11"


async def test_consent_page_cannot_skip_a_forced_login(browser: httpx.AsyncClient) -> None:
    consent = await sign_in(browser)
    arrival_of(await submit(browser, consent, button="decision=approve"))
    forced = await browser.get(authorize_url(prompt="login consent"))
    authz = forced.headers["location"].split("authz=")[1]
    # Going to the consent page directly still asks for the password first.
    response = await browser.get(f"/consent?authz={authz}")
    assert response.status_code == 303
    assert response.headers["location"] == f"/login?authz={authz}"
