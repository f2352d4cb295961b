"""The pages themselves: login outcomes, CSRF, the session cookie, the headers
every page sends, and what makes them accessible."""

from __future__ import annotations

from http.cookies import SimpleCookie
from urllib.parse import urlsplit

import httpx
import pytest

from common.errors import Overloaded, TemporarilyUnavailable
from gateway.tests.browser import (
    arrival_of,
    authorize_url,
    go,
    page_of,
    parse_page,
    submit,
)
from gateway.tests.conftest import BROWSER_ISSUER, Factory, Fakes
from gateway.tests.fakes import CLIENT_NAME, LOCKED_USERNAME, LOCKOUT, PASSWORD, USERNAME
from gateway.tests.test_sign_in_flow import CREDENTIALS, sign_in

CSRF_MESSAGE = "The form expired or was not sent by this site. Go back and try again."
COOKIE = "oauth2_session"


def assert_page_headers(response: httpx.Response, form_action: str = "'self'") -> None:
    headers = response.headers
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert headers["x-frame-options"] == "DENY"
    assert headers["content-security-policy"] == (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; "
        f"form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
    )
    assert headers["cache-control"] == "no-store"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-content-type-options"] == "nosniff"


def assert_accessible(response: httpx.Response) -> None:
    page = parse_page(response.text)
    assert page.html_lang == "en"
    assert page.h1_count == 1
    assert page.scripts == 0
    assert page.stylesheets == ["/static/style.css"]
    for input_id in page.visible_inputs:
        assert input_id and input_id in page.label_targets, f"input {input_id!r} has no label"


def session_cookie(response: httpx.Response) -> SimpleCookie:
    cookie: SimpleCookie = SimpleCookie()
    for header in response.headers.get_list("set-cookie"):
        cookie.load(header)
    return cookie


async def test_login_page(browser: httpx.AsyncClient) -> None:
    login = page_of(await go(browser, authorize_url(login_hint="alice@example.com")))
    assert_page_headers(login, "'self' https://app.example.com")
    assert_accessible(login)
    page = parse_page(login.text)
    assert page.visible_inputs == {"username": "text", "password": "password"}
    assert [text for _, _, text in page.forms[0].buttons] == ["Sign in"]
    assert set(page.forms[0].inputs) == {"csrf_token", "interaction", "username", "password"}
    assert page.forms[0].inputs["username"] == "alice@example.com"
    # The client's name is shown, escaped.
    assert CLIENT_NAME in page.text
    assert "Photo &lt;Book&gt; &amp; Co" in login.text


async def test_login_page_without_a_request(browser: httpx.AsyncClient) -> None:
    login = await browser.get("/login")
    assert login.status_code == 200
    assert_page_headers(login)
    assert_accessible(login)
    done = page_of(await submit(browser, login, CREDENTIALS))
    assert urlsplit(str(done.url)).path == "/login"
    assert "You are signed in" in parse_page(done.text).text


async def test_consent_page(browser: httpx.AsyncClient) -> None:
    consent = await sign_in(browser, scope="openid profile email offline_access payments:read")
    assert_page_headers(consent, "'self' https://app.example.com")
    assert_accessible(consent)
    page = parse_page(consent.text)
    assert CLIENT_NAME in page.text and "Signed in as alice" in page.text
    for words in (
        "Confirm your identity",
        "Your name and username",
        "Your email address",
        "Stay signed in when you are not using the app",
        "Access to \u201cpayments:read\u201d",
    ):
        assert words in page.text
    assert page.forms[0].buttons == [
        ("decision", "approve", "Allow"),
        ("decision", "deny", "Deny"),
    ]
    assert set(page.forms[0].inputs) == {"csrf_token", "interaction"}


async def test_wrong_password(browser: httpx.AsyncClient, fakes_reset: Fakes) -> None:
    login = page_of(await go(browser, authorize_url()))
    for fields in (
        {"username": USERNAME, "password": "nope"},
        {"username": "nobody", "password": PASSWORD},
        {"username": USERNAME, "password": ""},
    ):
        failed = page_of(await submit(browser, login, fields))
        assert failed.status_code == 401
        assert_page_headers(failed, "'self' https://app.example.com")
        assert_accessible(failed)
        page = parse_page(failed.text)
        assert "Invalid username or password." in page.text
        assert page.forms[0].inputs["username"] == fields["username"]
        assert page.forms[0].inputs["password"] == ""
    # The empty password never reached the service.
    assert fakes_reset.authorize.methods().count("CompleteLogin") == 2
    # The form still works after a failure.
    consent = page_of(await submit(browser, failed, CREDENTIALS))
    assert urlsplit(str(consent.url)).path == "/consent"


async def test_lockout_is_429_with_retry_after(browser: httpx.AsyncClient) -> None:
    login = page_of(await go(browser, authorize_url()))
    locked = page_of(await submit(browser, login, {"username": LOCKED_USERNAME, "password": "x"}))
    assert locked.status_code == 429
    assert locked.headers["retry-after"] == "120"
    assert_page_headers(locked, "'self' https://app.example.com")
    assert LOCKOUT in parse_page(locked.text).text


async def test_login_while_the_service_is_down(
    browser: httpx.AsyncClient, fakes_reset: Fakes
) -> None:
    login = page_of(await go(browser, authorize_url()))
    fakes_reset.authorize.failures["CompleteLogin"] = TemporarilyUnavailable()
    failed = page_of(await submit(browser, login, CREDENTIALS))
    assert failed.status_code == 503
    assert int(failed.headers["retry-after"]) >= 1
    assert "Sign-in is unavailable right now" in parse_page(failed.text).text


async def test_authorization_while_the_service_is_down(
    browser: httpx.AsyncClient, fakes_reset: Fakes
) -> None:
    """The authorize service unavailable (its database away, say): the
    authorization request is answered with the 503 page and when to retry."""
    fakes_reset.authorize.failures["StartAuthorization"] = TemporarilyUnavailable()
    failed = await browser.get(authorize_url())
    assert failed.status_code == 503
    assert_page_headers(failed)
    assert int(failed.headers["retry-after"]) >= 1
    assert "temporarily unavailable" in parse_page(failed.text).text.lower()


async def test_login_while_password_hashing_is_saturated(
    browser: httpx.AsyncClient, fakes_reset: Fakes
) -> None:
    """The authorize service refuses at once when its Argon2 queue is full
    (RESOURCE_EXHAUSTED with a RetryInfo): a 503 page with Retry-After."""
    login = page_of(await go(browser, authorize_url()))
    fakes_reset.authorize.failures["CompleteLogin"] = Overloaded(retry_after=2)
    failed = page_of(await submit(browser, login, CREDENTIALS))
    assert failed.status_code == 503
    assert failed.headers["retry-after"] == "2"
    assert "Sign-in is unavailable right now" in parse_page(failed.text).text


@pytest.mark.parametrize("csrf", ["missing", "forged", "other session"])
async def test_csrf_on_login(
    browser: httpx.AsyncClient, make_client: Factory, fakes_reset: Fakes, csrf: str
) -> None:
    login = page_of(await go(browser, authorize_url()))
    if csrf == "missing":
        result = await submit(browser, login, CREDENTIALS, drop=("csrf_token",))
    elif csrf == "forged":
        result = await submit(browser, login, {**CREDENTIALS, "csrf_token": "x" * 43})
    else:
        other = await make_client(issuer="http://127.0.0.1:8080")
        token = parse_page((await other.get("/login")).text).forms[0].inputs["csrf_token"]
        result = await submit(browser, login, {**CREDENTIALS, "csrf_token": token})
    refused = page_of(result)
    assert refused.status_code == 403
    assert_page_headers(refused)
    assert CSRF_MESSAGE in parse_page(refused.text).text
    assert "CompleteLogin" not in fakes_reset.calls()
    # Still not signed in.
    arrival = arrival_of(await go(browser, authorize_url(prompt="none")))
    assert arrival.param("error") == "login_required"


async def test_login_post_without_any_session_is_403(
    browser: httpx.AsyncClient, fakes_reset: Fakes
) -> None:
    response = await browser.post("/login", data={**CREDENTIALS, "csrf_token": "x"})
    assert response.status_code == 403 and "Login" not in fakes_reset.calls()


@pytest.mark.parametrize("csrf", ["missing", "forged"])
async def test_csrf_on_consent(browser: httpx.AsyncClient, fakes_reset: Fakes, csrf: str) -> None:
    consent = await sign_in(browser)
    if csrf == "missing":
        result = await submit(browser, consent, button="decision=approve", drop=("csrf_token",))
    else:
        result = await submit(browser, consent, {"csrf_token": "forged"}, button="decision=approve")
    refused = page_of(result)
    assert refused.status_code == 403
    assert CSRF_MESSAGE in parse_page(refused.text).text
    assert "CompleteConsent" not in fakes_reset.calls()
    arrival = arrival_of(await go(browser, authorize_url(prompt="none")))
    assert arrival.param("error") == "consent_required"


async def test_session_cookie_flags(make_client: Factory) -> None:
    https = await make_client(issuer="https://auth.example.com")
    response = await https.get(authorize_url())
    header = response.headers["set-cookie"]
    assert header.startswith(f"{COOKIE}=")
    attributes = {part.strip().lower() for part in header.split(";")[1:]}
    # Nobody signed in yet: the session lives as long as its sign-in.
    assert {"httponly", "path=/", "samesite=lax", "secure", "max-age=1800"} <= attributes
    assert len(session_cookie(response)[COOKIE].value) >= 43  # 256 bits, base64url

    plain = await make_client(
        issuer="http://127.0.0.1:8080", session_cookie_name="sid", session_ttl_seconds=600
    )
    header = (await plain.get(authorize_url())).headers["set-cookie"]
    attributes = {part.strip().lower() for part in header.split(";")[1:]}
    assert "secure" not in attributes and "max-age=600" in attributes
    assert header.startswith("sid=")


async def test_a_signed_in_session_lives_the_full_ttl(browser: httpx.AsyncClient) -> None:
    login = page_of(await go(browser, authorize_url()))
    posted = await submit(browser, login, CREDENTIALS, follow_redirects=False)
    assert isinstance(posted, httpx.Response)
    header = next(h for h in posted.headers.get_list("set-cookie") if h.startswith(COOKIE))
    assert "max-age=28800" in header.lower()


async def test_the_bare_login_form_stores_no_session(browser: httpx.AsyncClient) -> None:
    response = await browser.get("/login")
    assert response.status_code == 200
    cookies = session_cookie(response)
    assert COOKIE not in cookies
    form_cookie = cookies[f"{COOKIE}_form"]
    assert form_cookie["httponly"] and form_cookie["samesite"].lower() == "lax"
    # The form's token is the cookie's: a double submit.
    assert parse_page(response.text).forms[0].inputs["csrf_token"] == form_cookie.value
    assert len(_sessions_in(browser)) == 0


async def test_the_bare_login_form_signs_in_by_double_submit(
    browser: httpx.AsyncClient, fakes_reset: Fakes
) -> None:
    form = page_of(await go(browser, "/login"))
    wrong = await submit(browser, form, {"username": USERNAME, "password": "nope"})
    wrong_page = page_of(wrong)
    assert wrong_page.status_code == 401
    assert len(_sessions_in(browser)) == 0
    done = page_of(await submit(browser, wrong_page, CREDENTIALS))
    assert done.status_code == 200 and USERNAME in parse_page(done.text).text
    assert len(_sessions_in(browser)) == 1
    assert f"{COOKIE}_form" not in browser.cookies


@pytest.mark.parametrize("token", ["", "forged", "x" * 43])
async def test_the_bare_form_without_its_cookie_is_refused(
    browser: httpx.AsyncClient, fakes_reset: Fakes, token: str
) -> None:
    page = await browser.get("/login")
    real = parse_page(page.text).forms[0].inputs["csrf_token"]
    browser.cookies.clear()
    if token == "forged":
        browser.cookies.set(f"{COOKIE}_form", real)  # the cookie, but a different form token
        token = "y" * 43
    refused = await browser.post("/login", data={"csrf_token": token or real, **CREDENTIALS})
    assert refused.status_code == 403
    assert "Login" not in fakes_reset.calls()
    # And an interaction's form never passes on the double-submit cookie alone.
    browser.cookies.set(f"{COOKIE}_form", real)
    refused = await browser.post(
        "/login", data={"csrf_token": real, "interaction": "abc", **CREDENTIALS}
    )
    assert refused.status_code == 403


async def test_error_pages_store_no_session(browser: httpx.AsyncClient) -> None:
    for url in (authorize_url(client_id="nope"), authorize_url(scope="openid bogus")):
        response = await browser.get(url)
        assert response.status_code in (400, 303)
        assert COOKIE not in session_cookie(response)
    assert len(_sessions_in(browser)) == 0


def _sessions_in(client: httpx.AsyncClient) -> list[str]:
    """The session keys the app's KeyValue holds (its in-process stand-in here)."""
    transport = client._transport
    assert isinstance(transport, httpx.ASGITransport)
    kv = transport.app.state.sessions._kv  # type: ignore[attr-defined]
    return [key for key in kv._data if key.startswith("session:")]


async def test_session_id_is_replaced_on_login(browser: httpx.AsyncClient) -> None:
    login = page_of(await go(browser, authorize_url()))
    before = browser.cookies[COOKIE]
    old_csrf = parse_page(login.text).forms[0].inputs["csrf_token"]
    posted = await submit(browser, login, CREDENTIALS, follow_redirects=False)
    assert isinstance(posted, httpx.Response) and posted.status_code == 303
    after = session_cookie(posted)[COOKIE].value
    assert after and after != before
    consent = page_of(await go(browser, posted.headers["location"]))
    # The CSRF token was replaced with the id.
    assert parse_page(consent.text).forms[0].inputs["csrf_token"] != old_csrf

    # The id from before the login is worth nothing now.
    browser.cookies.clear()
    browser.cookies.set(COOKIE, before)
    arrival = arrival_of(await go(browser, authorize_url(prompt="none")))
    assert arrival.param("error") == "login_required"


async def test_every_page_sends_the_security_headers(browser: httpx.AsyncClient) -> None:
    responses = [
        await browser.get(authorize_url(client_id="nope")),  # error page
        await browser.get("/login"),
        await browser.get("/logout"),  # signed out page
        await browser.post("/logout", data={"csrf_token": "forged"}),
        await browser.get("/consent?interaction=gone"),
    ]
    for response in responses:
        assert_page_headers(response)
        assert_accessible(response)
    redirect = await browser.get(authorize_url())
    assert redirect.status_code == 303
    assert redirect.headers["cache-control"] == "no-store"
    assert redirect.headers["referrer-policy"] == "no-referrer"


async def test_stylesheet_is_served(browser: httpx.AsyncClient) -> None:
    response = await browser.get("/static/style.css")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")
    assert ":focus-visible" in response.text
    assert "http" not in response.text  # no external resources


async def test_pages_under_an_issuer_path(make_client: Factory) -> None:
    client = await make_client(issuer="http://127.0.0.1:8080/tenant")
    response = await client.get(authorize_url())
    assert response.headers["location"].startswith("/tenant/login?interaction=")
    login = await client.get("/login")
    page = parse_page(login.text)
    assert page.stylesheets == ["/tenant/static/style.css"]
    assert page.forms[0].action == "/tenant/login"


async def test_an_unreachable_session_store_is_a_503_page_never_a_500(
    make_client: Factory,
) -> None:
    """Redis down (nothing listens on port 1): the pages that need the session
    answer the friendly 503 page with Retry-After; the OAuth endpoints keep
    working without it (the rate limiter fails open)."""
    down = await make_client(issuer=BROWSER_ISSUER, redis_url="redis://127.0.0.1:1/0")
    down.cookies.set(COOKIE, "x" * 43)  # a session to look up
    for response in (
        await down.get(authorize_url()),
        await down.get("/login"),
        await down.get("/consent?interaction=abc"),
        await down.get("/logout"),
    ):
        assert response.status_code == 503, (response.request.url, response.text)
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        assert int(response.headers["retry-after"]) >= 1
        assert "temporarily unavailable" in parse_page(response.text).text.lower()
    # Without a cookie the bare form needs no store at all.
    down.cookies.clear()
    assert (await down.get("/login")).status_code == 200
    discovery = await down.get("/.well-known/openid-configuration")
    assert discovery.status_code == 200
