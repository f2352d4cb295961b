"""The flows a fault test's load repeats, through a :class:`Recorder`: a person
signing in (the authorization and login pages, consent, the code exchange) and
refresh token rotations, with what the client learnt kept in a :class:`Ledger`
so that the database can be checked against it afterwards."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
from bs4 import BeautifulSoup

from common.secrets import sha256_hex
from tests.e2e.browser import pkce_pair
from tests.e2e.conftest import basic
from tests.e2e.test_sign_in import REDIRECT, authorize_url
from tests.faults.load import Recorder

#: How long a client keeps retrying a 503 before it gives up (the outage is shorter).
RETRY_FOR_SECONDS = 40.0
#: A client's pause between retries of a 503 (far below any Retry-After).
RETRY_PAUSE_SECONDS = 0.25


@dataclass
class Family:
    """A grant as its client knows it: the refresh token it holds now."""

    code: str
    refresh_token: str
    rotations: int = 0
    #: Rotations that answered 503: the client kept its refresh token.
    unavailable_rotations: int = 0

    @property
    def family_id(self) -> str:
        return sha256_hex(self.code)


@dataclass
class Ledger:
    """What the clients saw, shared by the workers."""

    codes: list[str] = field(default_factory=list)
    families: list[Family] = field(default_factory=list)
    #: Code exchanges that answered 503 (the client asked again with the same code).
    unavailable_exchanges: int = 0
    #: Answers that mean a grant or refresh token the client held was lost.
    lost: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, attribute: str, value: Any) -> None:
        with self.lock:
            getattr(self, attribute).append(value)

    def bump(self, attribute: str) -> None:
        with self.lock:
            setattr(self, attribute, getattr(self, attribute) + 1)


def _follow(
    rec: Recorder, resp: httpx.Response | None, base_url: str
) -> httpx.Response | dict[str, str] | None:
    """Redirects followed while they stay on the gateway; the query of the one that
    leaves it (the client's redirect URI)."""
    for _ in range(10):
        if resp is None or resp.status_code not in (301, 302, 303, 307, 308):
            return resp
        location = urljoin(str(resp.url), resp.headers["location"])
        if not location.startswith(base_url):
            return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        resp = rec.get(location)
    raise AssertionError("redirect loop")


def _submit(
    rec: Recorder, page: httpx.Response, fields: dict[str, str], base_url: str
) -> httpx.Response | dict[str, str] | None:
    soup = BeautifulSoup(page.text, "html.parser")
    form = soup.find("form", attrs={"method": lambda m: (m or "").lower() == "post"})
    assert form is not None, f"no POST form on {page.url}"
    data = {
        str(i.get("name")): str(i.get("value", ""))
        for i in form.find_all("input")
        if i.get("name") and i.get("type", "text") not in ("submit", "button")
    }
    data.update(fields)
    action = urljoin(str(page.url), str(form.get("action") or page.url))
    return _follow(rec, rec.post(action, data=data), base_url)


def sign_in(
    rec: Recorder,
    base_url: str,
    client_id: str,
    username: str,
    password: str,
    *,
    fresh: bool = True,
) -> tuple[str, str] | None:
    """A browser (a fresh one, or the recorder's with its session) from the
    authorization request to the redirect URI: (code, code_verifier), or None when
    a page answered something else (recorded)."""
    if fresh:
        rec.http.cookies.clear()
    verifier, challenge = pkce_pair()
    page = _follow(rec, rec.get(authorize_url(client_id, challenge)), base_url)
    if isinstance(page, dict) and "code" in page:
        return page["code"], verifier  # signed in already, consent remembered
    if not isinstance(page, httpx.Response) or page.status_code != 200:
        return None
    assert 'name="password"' in page.text, f"no login form at {page.url}"
    page = _submit(rec, page, {"username": username, "password": password}, base_url)
    if isinstance(page, httpx.Response) and page.status_code == 200 and "consent" in str(page.url):
        page = _submit(rec, page, {"decision": "approve"}, base_url)
    if not isinstance(page, dict):
        return None
    if page.get("error") == "temporarily_unavailable":
        # The authorization endpoint's 503 (RFC 6749 section 4.1.2.1): the service
        # behind the step after consent found its database away. The flow ends here
        # as after a 503 page; any other error at the redirect URI is a broken flow.
        return None
    assert "code" in page, f"no code at the redirect URI: {page}"
    return page["code"], verifier


def _token(
    rec: Recorder, client: dict[str, Any], form: dict[str, str], on_unavailable: Callable[[], None]
) -> httpx.Response | None:
    """A token request asked again while it answers 503 (or nothing), as a careful
    client does, for RETRY_FOR_SECONDS at most; the last answer."""
    headers = {"Authorization": basic(client["client_id"], client["client_secret"])}
    until = time.monotonic() + RETRY_FOR_SECONDS
    while True:
        resp = rec.post("/oauth/token", data=form, headers=headers)
        if (resp is not None and resp.status_code != 503) or time.monotonic() > until:
            return resp
        on_unavailable()
        time.sleep(RETRY_PAUSE_SECONDS)


def _answer(resp: httpx.Response | None) -> str:
    return "no answer" if resp is None else f"{resp.status_code} {resp.text[:200]}"


def code_flow_step(
    rec: Recorder,
    ledger: Ledger,
    base_url: str,
    client: dict[str, Any],
    username: str,
    password: str,
    rotations: int,
) -> None:
    """Sign in, exchange the code (again after a 503, with the same code), then
    rotate the refresh token ``rotations`` times (again after a 503, with the same
    refresh token). Anything but 200 after the retries is a lost grant."""
    signed_in = sign_in(rec, base_url, client["client_id"], username, password)
    if signed_in is None:
        time.sleep(RETRY_PAUSE_SECONDS)  # a person waits a moment before trying again
        return
    code, verifier = signed_in
    ledger.add("codes", code)
    exchange_step(rec, ledger, client, code, verifier, rotations)


def exchange_step(
    rec: Recorder,
    ledger: Ledger,
    client: dict[str, Any],
    code: str,
    verifier: str,
    rotations: int,
) -> None:
    """Exchange ``code`` (again after a 503, with the same code), then rotate the
    refresh token ``rotations`` times."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
    }
    resp = _token(rec, client, form, lambda: ledger.bump("unavailable_exchanges"))
    if resp is None or resp.status_code != 200:
        ledger.add("lost", f"code exchange of {sha256_hex(code)[:12]}: {_answer(resp)}")
        return
    family = Family(code=code, refresh_token=resp.json()["refresh_token"])
    ledger.add("families", family)
    for _ in range(rotations):
        if not rotate(rec, ledger, client, family):
            return


def rotate(rec: Recorder, ledger: Ledger, client: dict[str, Any], family: Family) -> bool:
    """One rotation of ``family``'s refresh token, asked again while it answers 503."""
    form = {"grant_type": "refresh_token", "refresh_token": family.refresh_token}

    def unavailable() -> None:
        family.unavailable_rotations += 1

    resp = _token(rec, client, form, unavailable)
    if resp is None or resp.status_code != 200:
        ledger.add(
            "lost",
            f"rotation {family.rotations + 1} of {family.family_id[:12]} "
            f"(after {family.unavailable_rotations} answers 503): {_answer(resp)}",
        )
        return False
    family.refresh_token = resp.json()["refresh_token"]
    family.rotations += 1
    return True


__all__ = ["Family", "Ledger", "code_flow_step", "rotate", "sign_in"]
