"""The session id of a sign-in (``sid``, OpenID Connect Back-Channel Logout 1.0
section 2.4): drawn at random at each sign-in, kept in the session as it is saved
and its cookie rotates, sent to the authorize service with the browser session so
that the code records it; gone with the session at sign-out. Sessions stored
before there was a sid still work, with none."""

from __future__ import annotations

import json

import httpx

from common.secrets import sha256_hex
from gateway.sessions import Session
from gateway.tests.browser import arrival_of, authorize_url, go, page_of, submit
from gateway.tests.conftest import Fakes
from gateway.tests.test_sign_in_flow import CREDENTIALS, sign_in
from gateway.tests.test_sign_in_pages import COOKIE


def _kv_key(client: httpx.AsyncClient) -> str:
    return "session:" + sha256_hex(client.cookies[COOKIE])


async def stored(client: httpx.AsyncClient) -> Session:
    """The session the browser's cookie names, as the app's KeyValue holds it."""
    transport = client._transport
    assert isinstance(transport, httpx.ASGITransport)
    kv = transport.app.state.sessions._kv  # type: ignore[attr-defined]
    raw = await kv.get(_kv_key(client))
    assert raw is not None
    return Session.from_json(client.cookies[COOKIE], raw)


def code_sid(fakes: Fakes, code: str) -> str:
    return fakes.authorize.world.codes.codes[sha256_hex(code)].sid


async def test_a_sign_in_draws_a_sid_that_the_code_records(
    browser: httpx.AsyncClient, fakes_reset: Fakes
) -> None:
    consent = await sign_in(browser)
    session = await stored(browser)
    # 128 random bits, base64url; neither the cookie nor the binding.
    assert len(session.sid) == 22 and session.sid not in (session.session_id, session.binding)
    calls = dict(fakes_reset.authorize.requests)
    assert calls["StartAuthorization"].session.sid == ""  # nobody signed in yet
    assert calls["CompleteLogin"].session.sid == session.sid

    arrival = arrival_of(await submit(browser, consent, button="decision=approve"))
    assert dict(fakes_reset.authorize.requests)["CompleteConsent"].session.sid == session.sid
    assert code_sid(fakes_reset, arrival.param("code")) == session.sid


async def test_the_sid_stays_across_requests_and_is_new_at_each_sign_in(
    browser: httpx.AsyncClient, fakes_reset: Fakes
) -> None:
    arrival_of(await submit(browser, await sign_in(browser), button="decision=approve"))
    first = await stored(browser)
    # Later requests load and save the session again: the same sid.
    for state in ("st-2", "st-3"):
        again = arrival_of(await go(browser, authorize_url(state=state)))
        assert code_sid(fakes_reset, again.param("code")) == first.sid
    assert (await stored(browser)).sid == first.sid

    # Signing in again (prompt=login) rotates the cookie and draws a new sid; the
    # code CompleteLogin issues at once (consent on record) has the new one.
    login = page_of(await go(browser, authorize_url(prompt="login", state="st-4")))
    arrival = arrival_of(await submit(browser, login, CREDENTIALS))
    second = await stored(browser)
    assert second.session_id != first.session_id and second.binding == first.binding
    assert len(second.sid) == 22 and second.sid != first.sid
    assert code_sid(fakes_reset, arrival.param("code")) == second.sid


async def test_a_sign_in_after_sign_out_has_another_sid(
    browser: httpx.AsyncClient, fakes_reset: Fakes
) -> None:
    arrival_of(await submit(browser, await sign_in(browser), button="decision=approve"))
    before = await stored(browser)
    page_of(await submit(browser, page_of(await go(browser, "/logout"))))
    assert COOKIE not in browser.cookies  # the session, its sid with it, is gone

    # The bare login form draws one too.
    page_of(await submit(browser, page_of(await go(browser, "/login")), CREDENTIALS))
    bare = await stored(browser)
    assert len(bare.sid) == 22 and bare.sid != before.sid
    page_of(await submit(browser, page_of(await go(browser, "/logout"))))

    # Consent on record: the code comes straight after the login page.
    login = page_of(await go(browser, authorize_url(state="st-2")))
    assert arrival_of(await submit(browser, login, CREDENTIALS)).param("code") == "code-2"
    after = await stored(browser)
    assert after.sid and after.sid not in (before.sid, bare.sid)
    assert code_sid(fakes_reset, "code-2") == after.sid


async def test_a_session_stored_without_a_sid_keeps_working(
    browser: httpx.AsyncClient, fakes_reset: Fakes
) -> None:
    arrival_of(await submit(browser, await sign_in(browser), button="decision=approve"))
    transport = browser._transport
    assert isinstance(transport, httpx.ASGITransport)
    kv = transport.app.state.sessions._kv  # type: ignore[attr-defined]
    # As the previous release stored it.
    legacy = json.loads(await kv.get(_kv_key(browser)))
    del legacy["sid"]
    await kv.set(_kv_key(browser), json.dumps(legacy), ttl=600)

    loaded = await stored(browser)
    assert loaded.signed_in and loaded.sid == ""
    arrival = arrival_of(await go(browser, authorize_url(state="st-2")))
    assert code_sid(fakes_reset, arrival.param("code")) == ""
    assert (await stored(browser)).signed_in


def test_session_json_round_trip_and_legacy() -> None:
    session = Session(session_id="cookie", csrf_token="csrf", user_id="u1", auth_time=1)
    session.sign_in("u1", "alice", 2, ["pwd"], sid="sid-1")
    assert Session.from_json(session.session_id, session.to_json().encode()).sid == "sid-1"
    assert session.browser().sid == "sid-1"
    assert session.browser(signing_in="sid-2").sid == "sid-2"
    legacy = json.dumps({"csrf_token": "c", "binding": "b", "user_id": "u1"})
    assert Session.from_json("cookie", legacy.encode()).sid == ""
