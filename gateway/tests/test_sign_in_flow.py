"""The authorization code flow through the pages (RFC 6749 section 4.1, OpenID
Connect Core section 3.1.2, RFC 9207), as a browser makes it: the authorization
request, the login page, the consent page, the code at the redirect URI; and how
prompt, max_age and deny change the way."""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlsplit

import httpx
from bs4 import BeautifulSoup

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
from gateway.tests.conftest import BROWSER_ISSUER, Factory, Fakes
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
    assert first.headers["location"].startswith("/login?interaction=")
    assert first.headers["cache-control"] == "no-store"

    login = page_of(await go(browser, first.headers["location"]))
    assert login.status_code == 200
    assert CLIENT_NAME in parse_page(login.text).text

    posted = await submit(browser, login, CREDENTIALS, follow_redirects=False)
    assert isinstance(posted, httpx.Response) and posted.status_code == 303
    assert posted.headers["location"].startswith("/consent?interaction=")
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

    # One first sign-in is three calls: start, login, consent (docs/signin.md).
    assert fake.methods() == ["StartAuthorization", "CompleteLogin", "CompleteConsent"]
    login_call = fake.requests[1][1]
    assert (login_call.username, login_call.remote_addr) == (USERNAME, "127.0.0.1")
    world = fake.world
    assert world.consents.consents[(CLIENT_ID, USER_ID)].scopes == ("openid", "profile", "email")
    (issued,) = world.codes.codes.values()
    assert issued.client_id == CLIENT_ID and issued.user_id == USER_ID
    assert issued.redirect_uri == REDIRECT_URI and issued.redirect_uri_in_request
    assert issued.scopes == ("openid", "profile", "email")
    assert (issued.code_challenge, issued.code_challenge_method) == (CHALLENGE, "S256")
    assert issued.nonce == "n-1" and issued.amr == ("pwd",)

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
    assert not fakes_reset.authorize.world.codes.codes
    assert not fakes_reset.authorize.world.consents.consents
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
    logins = fakes_reset.authorize.methods().count("CompleteLogin")

    login = page_of(await go(browser, authorize_url(prompt="login")))
    assert urlsplit(str(login.url)).path == "/login"
    arrival = arrival_of(await submit(browser, login, CREDENTIALS))
    assert "code" in arrival.params
    assert fakes_reset.authorize.methods().count("CompleteLogin") == logins + 1


async def test_max_age_zero_forces_login_and_a_recent_login_satisfies_max_age(
    browser: httpx.AsyncClient,
) -> None:
    consent = await sign_in(browser)
    arrival_of(await submit(browser, consent, button="decision=approve"))
    login = page_of(await go(browser, authorize_url(max_age="0")))
    assert urlsplit(str(login.url)).path == "/login"
    assert "code" in arrival_of(await submit(browser, login, CREDENTIALS)).params
    assert "code" in arrival_of(await go(browser, authorize_url(max_age="3600"))).params


async def test_the_query_reaches_the_service_as_it_came(
    browser: httpx.AsyncClient, fakes_reset: Fakes
) -> None:
    await browser.get(authorize_url(max_age="soon") + "&scope=x&prompt=")
    (method, sent) = fakes_reset.authorize.requests[-1]
    assert method == "StartAuthorization"
    pairs = [(p.name, p.value) for p in sent.parameters]
    assert pairs[-3:] == [("max_age", "soon"), ("scope", "x"), ("prompt", "")]
    assert sent.session.binding and not sent.session.subject
    for value in ("-5", "soon", "1.5", "9" * 20):
        arrival = arrival_of(await go(browser, authorize_url(max_age=value)))
        assert arrival.param("error") == "invalid_request", value
        assert arrival.param("error_description") == "'max_age' must be a non-negative integer"


async def test_errors_after_validation_go_to_the_redirect_uri(
    browser: httpx.AsyncClient, fakes_reset: Fakes
) -> None:
    arrival = arrival_of(await go(browser, authorize_url(response_type="token")))
    assert arrival.url.startswith(REDIRECT_URI + "&error=unsupported_response_type&")
    assert arrival.param("error_description") == "Unsupported response_type 'token'; use 'code'"
    assert arrival.param("state") == "st-1" and arrival.param("iss") == BROWSER_ISSUER

    # A repeated parameter is refused; empty values count as omitted.
    arrival = arrival_of(await go(browser, authorize_url() + "&scope=openid&prompt=&prompt="))
    assert arrival.param("error") == "invalid_request"
    assert arrival.param("error_description") == "Parameter 'scope' was given more than once"

    for mode in ("fragment", "form_post.jwt", "FORM_POST"):
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
    fakes_reset.authorize.world.codes.failure = ServerError("disk full")
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
            "redirect_uri is not registered for this client",
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

    fakes_reset.authorize.failures["StartAuthorization"] = TemporarilyUnavailable()
    response = await browser.get(authorize_url())
    assert response.status_code == 503 and "location" not in response.headers
    assert "temporarily unavailable" in parse_page(response.text).text


async def test_unknown_or_finished_interaction_is_a_page(browser: httpx.AsyncClient) -> None:
    for path in ("/consent?interaction=nope", "/login?interaction=x"):
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
    # The newest still waits; signed in and consented now, a login gives its code.
    login = page_of(await go(browser, locations[11]))
    arrival = arrival_of(await submit(browser, login, CREDENTIALS))
    assert arrival.param("state") == "s11"


async def test_consent_page_cannot_skip_a_forced_login(browser: httpx.AsyncClient) -> None:
    consent = await sign_in(browser)
    arrival_of(await submit(browser, consent, button="decision=approve"))
    forced = await browser.get(authorize_url(prompt="login consent"))
    interaction = forced.headers["location"].split("interaction=")[1]
    # Going to the consent page directly still asks for the password first.
    response = await browser.get(f"/consent?interaction={interaction}")
    assert response.status_code == 303
    assert response.headers["location"] == f"/login?interaction={interaction}"
    # And so does posting the consent form with that interaction.
    consent = page_of(await go(browser, authorize_url(prompt="consent")))
    form = parse_page(consent.text).forms[0].inputs
    posted = await browser.post(
        "/consent", data={**form, "interaction": interaction, "decision": "approve"}
    )
    assert posted.status_code == 303
    assert posted.headers["location"] == f"/login?interaction={interaction}"


def assert_expired_page_with_a_way_back(response: httpx.Response) -> None:
    assert response.status_code == 400
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    page = parse_page(response.text)
    assert "This sign-in has expired" in page.text and "Start again" in page.text
    assert f"Back to {CLIENT_NAME}" in page.text
    assert '<a class="primary" href="https://app.example.com/"' in response.text


async def test_replaying_a_finished_interaction_is_an_expired_page(
    browser: httpx.AsyncClient, fakes_reset: Fakes
) -> None:
    consent = await sign_in(browser)
    arrival_of(await submit(browser, consent, button="decision=approve"))
    # Back, and the same form once more: nothing is issued twice.
    replayed = page_of(await submit(browser, consent, button="decision=approve"))
    assert_expired_page_with_a_way_back(replayed)
    assert len(fakes_reset.authorize.world.codes.codes) == 1
    # The login form of the finished interaction too.
    login = page_of(await go(browser, authorize_url(prompt="login")))
    page = parse_page(login.text).forms[0].inputs
    finished = consent.url.params["interaction"]
    posted = await browser.post("/login", data={**page, **CREDENTIALS, "interaction": finished})
    assert_expired_page_with_a_way_back(page_of(posted))


async def test_another_sessions_interaction_is_an_expired_page(
    browser: httpx.AsyncClient, make_client: Factory, fakes_reset: Fakes
) -> None:
    victim = page_of(await go(browser, authorize_url()))
    interaction = victim.url.params["interaction"]
    attacker = await make_client(issuer=BROWSER_ISSUER)
    own = page_of(await go(attacker, authorize_url()))
    form = parse_page(own.text).forms[0].inputs
    stolen = await attacker.post("/login", data={**form, **CREDENTIALS, "interaction": interaction})
    assert_expired_page_with_a_way_back(page_of(stolen))
    # The attacker is not signed in by it, and the victim's sign-in still works.
    assert "code" not in (await attacker.get(authorize_url(prompt="none"))).headers["location"]
    consent = page_of(await submit(browser, victim, CREDENTIALS))
    assert "code" in arrival_of(await submit(browser, consent, button="decision=approve")).params


async def test_an_expired_interaction_is_an_expired_page(
    browser: httpx.AsyncClient, fakes_reset: Fakes
) -> None:
    login = page_of(await go(browser, authorize_url()))
    store = fakes_reset.authorize.world.interactions.interactions
    for key, interaction in store.items():
        store[key] = replace(interaction, expires_at=interaction.created_at)
    expired = page_of(await submit(browser, login, CREDENTIALS))
    assert_expired_page_with_a_way_back(expired)
    # Its page is gone from the session as well.
    assert (await browser.get(str(login.url))).status_code == 400


async def test_form_post_answers_with_a_form_that_posts_to_the_redirect_uri(
    browser: httpx.AsyncClient,
) -> None:
    """OAuth 2.0 Form Post Response Mode: after consent, a 200 page (not a redirect)
    whose form POSTs code, state and iss to the redirect URI; a script from the
    gateway submits it, its button does without JavaScript; never cached."""
    consent = await sign_in(browser, response_mode="form_post", state="fp-1")
    answer = await submit(browser, consent, button="decision=approve", follow_redirects=False)
    assert isinstance(answer, httpx.Response) and answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    csp = answer.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "form-action 'self' https://app.example.com;" in csp, csp
    page = BeautifulSoup(answer.text, "html.parser")
    form = page.find("form")
    assert form is not None and form["method"] == "post" and form["action"] == REDIRECT_URI
    fields = {i["name"]: i["value"] for i in form.find_all("input", {"type": "hidden"})}
    assert fields == {"code": "code-1", "state": "fp-1", "iss": BROWSER_ISSUER}
    assert form.find("button", {"type": "submit"}) is not None
    (script,) = page.find_all("script")
    assert not script.string, "no inline script: the CSP allows only the gateway's own"
    served = await browser.get(str(script["src"]))
    assert served.status_code == 200
    assert served.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert "submit()" in served.text

    # Consent on record: the authorization endpoint answers with the form at once.
    again = await browser.get(authorize_url(response_mode="form_post", state="fp-2"))
    assert again.status_code == 200
    fields = {
        i["name"]: i["value"]
        for i in BeautifulSoup(again.text, "html.parser").find_all("input", {"type": "hidden"})
    }
    assert fields["state"] == "fp-2" and fields["code"] == "code-2"


async def test_form_post_errors_are_posted_too(browser: httpx.AsyncClient) -> None:
    answer = await browser.get(authorize_url(response_mode="form_post", prompt="none"))
    assert answer.status_code == 200
    fields = {
        i["name"]: i["value"]
        for i in BeautifulSoup(answer.text, "html.parser").find_all("input", {"type": "hidden"})
    }
    assert fields == {
        "error": "login_required",
        "error_description": "Sign-in required",
        "state": "st-1",
        "iss": BROWSER_ISSUER,
    }
    # The values are escaped in the page: a state with markup stays a value.
    hostile = '"><script>alert(1)</script>'
    answer = await browser.get(
        authorize_url(response_mode="form_post", prompt="none", state=hostile)
    )
    assert "<script>alert" not in answer.text
    inputs = BeautifulSoup(answer.text, "html.parser").find_all("input", {"name": "state"})
    assert [i["value"] for i in inputs] == [hostile]
