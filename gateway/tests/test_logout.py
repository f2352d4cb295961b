"""The end-session endpoint (OpenID Connect RP-Initiated Logout 1.0): the
confirmation page, the session ended for good, post_logout_redirect_uri checked
against the client and never followed when it is not registered."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

import httpx
import pytest

from common.errors import TemporarilyUnavailable
from gateway.tests.browser import arrival_of, authorize_url, go, page_of, parse_page, submit
from gateway.tests.conftest import Fakes
from gateway.tests.fakes import CLIENT_ID, CLIENT_NAME, ID_TOKEN_HINT, POST_LOGOUT_URI
from gateway.tests.test_sign_in_flow import sign_in
from gateway.tests.test_sign_in_pages import COOKIE, assert_accessible, assert_page_headers


def logout_url(**params: str) -> str:
    return "/logout?" + urlencode(params)


async def test_logout_ends_the_session(browser: httpx.AsyncClient) -> None:
    await sign_in(browser)
    old_cookie = browser.cookies[COOKIE]
    page = page_of(await go(browser, "/logout"))
    assert page.status_code == 200
    assert_page_headers(page)
    assert_accessible(page)
    form = parse_page(page.text).forms[0]
    assert set(form.inputs) == {"csrf_token"}
    assert [text for _, _, text in form.buttons] == ["Sign out"]

    posted = await submit(browser, page, follow_redirects=False)
    assert isinstance(posted, httpx.Response) and posted.status_code == 303
    assert posted.headers["location"] == "/logout"
    assert f'{COOKIE}=""' in posted.headers["set-cookie"]
    assert "max-age=0" in posted.headers["set-cookie"].lower()
    done = page_of(await go(browser, "/logout"))
    assert "You are signed out" in parse_page(done.text).text

    # The old cookie no longer signs anyone in.
    browser.cookies.set(COOKIE, old_cookie)
    arrival = arrival_of(await go(browser, authorize_url(prompt="none")))
    assert arrival.param("error") == "login_required"


async def test_logout_back_to_the_client(browser: httpx.AsyncClient, fakes_reset: Fakes) -> None:
    await sign_in(browser)
    url = logout_url(
        id_token_hint=ID_TOKEN_HINT, post_logout_redirect_uri=POST_LOGOUT_URI, state="bye-1"
    )
    page = page_of(await go(browser, url))
    assert page.status_code == 200
    assert_page_headers(page, "'self' https://app.example.com")
    assert CLIENT_NAME in parse_page(page.text).text
    checked = fakes_reset.clients.requests[-1][1]
    assert (checked.client_id, checked.redirect_uri, checked.kind) == (
        CLIENT_ID,
        POST_LOGOUT_URI,
        "post_logout",
    )
    arrival = arrival_of(await submit(browser, page))
    assert arrival.url == f"{POST_LOGOUT_URI}?state=bye-1"
    assert "You are signed out" not in arrival.url
    # Checked again on the POST: hidden fields are not trusted.
    assert fakes_reset.clients.methods() == ["ValidateRedirectUri", "ValidateRedirectUri"]
    arrival = arrival_of(await go(browser, authorize_url(prompt="none")))
    assert arrival.param("error") == "login_required"


async def test_signed_out_browser_goes_straight_back(browser: httpx.AsyncClient) -> None:
    url = logout_url(client_id=CLIENT_ID, post_logout_redirect_uri=POST_LOGOUT_URI)
    arrival = arrival_of(await go(browser, url))
    assert arrival.url == POST_LOGOUT_URI


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"client_id": CLIENT_ID, "post_logout_redirect_uri": "https://evil.example/"},
            "not registered",
        ),
        (
            {"client_id": CLIENT_ID, "post_logout_redirect_uri": POST_LOGOUT_URI + "/"},
            "not registered",
        ),
        ({"post_logout_redirect_uri": POST_LOGOUT_URI}, "needs a client_id"),
        ({"id_token_hint": "forged", "post_logout_redirect_uri": POST_LOGOUT_URI}, "not valid"),
        (
            {
                "id_token_hint": ID_TOKEN_HINT,
                "client_id": "other",
                "post_logout_redirect_uri": POST_LOGOUT_URI,
            },
            "does not match",
        ),
    ],
)
async def test_bad_logout_requests_are_pages(
    browser: httpx.AsyncClient, params: dict[str, str], message: str
) -> None:
    await sign_in(browser)
    response = await browser.get(logout_url(**params))
    assert response.status_code == 400
    assert "location" not in response.headers
    assert_page_headers(response)
    assert message in parse_page(response.text).text
    # Nothing ended: still signed in.
    page = page_of(await go(browser, authorize_url(prompt="consent")))
    assert urlsplit(str(page.url)).path == "/consent"


async def test_logout_while_clients_service_is_down(
    browser: httpx.AsyncClient, fakes_reset: Fakes
) -> None:
    fakes_reset.clients.failures["ValidateRedirectUri"] = TemporarilyUnavailable()
    url = logout_url(client_id=CLIENT_ID, post_logout_redirect_uri=POST_LOGOUT_URI)
    response = await browser.get(url)
    assert response.status_code == 503 and "location" not in response.headers


@pytest.mark.parametrize("csrf", ["missing", "forged"])
async def test_csrf_on_logout(browser: httpx.AsyncClient, fakes_reset: Fakes, csrf: str) -> None:
    await sign_in(browser)
    url = logout_url(client_id=CLIENT_ID, post_logout_redirect_uri=POST_LOGOUT_URI, state="s")
    page = page_of(await go(browser, url))
    calls = len(fakes_reset.calls())
    if csrf == "missing":
        response = await browser.post("/logout", data={})
    else:
        result = await submit(browser, page, {"csrf_token": "forged"}, follow_redirects=False)
        assert isinstance(result, httpx.Response)
        response = result
    assert response.status_code == 403
    assert "location" not in response.headers
    assert "set-cookie" not in response.headers
    assert len(fakes_reset.calls()) == calls
    # Still signed in.
    page = page_of(await go(browser, authorize_url(prompt="consent")))
    assert urlsplit(str(page.url)).path == "/consent"


async def test_a_client_may_post_its_logout_request(browser: httpx.AsyncClient) -> None:
    await sign_in(browser)
    response = await browser.post(
        "/logout",
        data={"id_token_hint": ID_TOKEN_HINT, "post_logout_redirect_uri": POST_LOGOUT_URI},
    )
    assert response.status_code == 303
    # Asked again as a GET so that the SameSite=Lax cookie comes along; nothing ended yet.
    page = page_of(await go(browser, response.headers["location"]))
    assert parse_page(page.text).forms[0].inputs["client_id"] == CLIENT_ID
    arrival = arrival_of(await submit(browser, page))
    assert arrival.url == POST_LOGOUT_URI
