"""Load drivers that wrk cannot be: browser sign-ins and refresh-token chains.

wrk sends one fixed request again and again. A sign-in is five requests whose
later ones carry what the earlier answers gave (the session cookie, the CSRF
field of each form, the authorization code), and a refresh with rotation must
send the refresh token the previous answer returned (RFC 9700 section 4.14.2:
a rotated one, sent again, revokes the whole family). So these run in Python:

- :func:`sign_in` is one person signing in as a browser would, with
  ``tests.e2e.browser.Browser`` (a cookie jar, redirects followed while they stay
  on the gateway, the forms found in the HTML submitted with their hidden
  inputs, so the CSRF fields too): GET /oauth/authorize (code, PKCE S256,
  ``openid``, ``prompt=consent`` so that every sign-in shows the consent page),
  the login form with the user's password (Argon2id at the configured cost), the
  consent form, the redirect to the client with the code, the code exchange;
- :func:`run_sign_ins` keeps ``concurrency`` of them going for a while, each in
  a new browser (a new session, a new connection);
- :func:`run_refresh_chains` keeps ``len(refresh_tokens)`` chains going, each
  sending the refresh token its previous answer returned.

Each counts its HTTP requests, the answers that were not what a right one is,
and the latency of each unit of work (a sign-in, a refresh).
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import urlencode

import httpx

from tests.e2e.browser import Arrival, Browser, pkce_pair

#: Where the sign-ins' client is sent back to; never contacted (the browser
#: stops at the first redirect that leaves the gateway).
REDIRECT_URI = "https://rp.example/callback"
SIGNIN_SCOPE = "openid profile email offline_access"


@dataclass
class DriverResult:
    """What a driver did: units of work (sign-ins, refreshes), their HTTP
    requests, the failed units and each unit's latency in seconds."""

    units: int = 0
    http_requests: int = 0
    failures: int = 0
    latencies: list[float] = field(default_factory=list)
    #: One failure's description, for the report (the first one seen).
    first_failure: str = ""
    #: Refresh tokens the sign-ins were given (a refresh chain starts from one).
    refresh_tokens: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def failed(self, reason: str) -> None:
        with self._lock:
            self.failures += 1
            self.first_failure = self.first_failure or reason


@dataclass(frozen=True)
class SignInClient:
    """The confidential client (client_secret_basic) the people sign in to."""

    client_id: str
    client_secret: str


def authorize_url(client_id: str, challenge: str, state: str) -> str:
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": SIGNIN_SCOPE,
        "state": state,
        "nonce": secrets.token_urlsafe(8),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        # Remembered consent would skip the page after the first sign-in of a user.
        "prompt": "consent",
    }
    return "/oauth/authorize?" + urlencode(query)


def sign_in(
    base_url: str, client: SignInClient, username: str, password: str
) -> tuple[int, dict[str, str]]:
    """One sign-in from the authorization request to the tokens. Returns the
    number of HTTP requests and the token response; raises ValueError (saying
    which step) when an answer is not the one a right sign-in gets."""
    requests = 0

    def count(_: httpx.Request) -> None:
        nonlocal requests
        requests += 1

    with Browser(base_url) as browser:
        browser.http.event_hooks["request"] = [count]
        verifier, challenge = pkce_pair()
        state = secrets.token_urlsafe(8)
        page = browser.go(authorize_url(client.client_id, challenge, state))
        if not isinstance(page, httpx.Response) or 'name="password"' not in page.text:
            raise ValueError(f"authorize: no login page ({_describe(page)})")
        page = browser.submit(page, {"username": username, "password": password})
        if not isinstance(page, httpx.Response) or "consent" not in str(page.url):
            raise ValueError(f"login: no consent page ({_describe(page)})")
        arrival = browser.submit(page, button="decision=approve")
        if not isinstance(arrival, Arrival) or arrival.params.get("state") != state:
            raise ValueError(f"consent: no redirect with the state ({_describe(arrival)})")
        if "code" not in arrival.params:
            raise ValueError(f"consent: redirect without a code ({arrival.url})")
        resp = browser.http.post(
            "/oauth/token",
            data={
                "grant_type": "authorization_code",
                "code": arrival.params["code"],
                "redirect_uri": REDIRECT_URI,
                "code_verifier": verifier,
            },
            auth=(client.client_id, client.client_secret),
        )
        body = resp.json() if resp.status_code == 200 else {}
        if not all(k in body for k in ("access_token", "id_token", "refresh_token")):
            raise ValueError(f"token: HTTP {resp.status_code} {resp.text[:200]}")
        return requests, body


def _describe(page: httpx.Response | Arrival) -> str:
    if isinstance(page, Arrival):
        return f"sent to {page.url}"
    return f"HTTP {page.status_code} at {page.url}: {page.text[:200]!r}"


def run_sign_ins(
    base_url: str,
    client: SignInClient,
    users: list[tuple[str, str]],
    seconds: float,
    concurrency: int,
) -> DriverResult:
    """``concurrency`` browsers signing in, one after the other each, until
    ``seconds`` have passed; browser ``i`` signs in as ``users[i % len(users)]``.
    Threads: the work is the server's, the driver mostly waits."""
    result = DriverResult()
    deadline = time.monotonic() + seconds

    def browser_loop(index: int) -> None:
        username, password = users[index % len(users)]
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                requests, tokens = sign_in(base_url, client, username, password)
            except (ValueError, httpx.HTTPError, AssertionError) as exc:
                result.failed(f"{type(exc).__name__}: {exc}")
                continue
            with result._lock:
                result.units += 1
                result.http_requests += requests
                result.latencies.append(time.perf_counter() - started)
                result.refresh_tokens.append(tokens["refresh_token"])

    with ThreadPoolExecutor(concurrency, thread_name_prefix="browser") as pool:
        for future in [pool.submit(browser_loop, i) for i in range(concurrency)]:
            future.result()
    return result


async def _refresh_chains(
    token_url: str, client: SignInClient, refresh_tokens: list[str], seconds: float
) -> DriverResult:
    result = DriverResult()
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=len(refresh_tokens))
    async with httpx.AsyncClient(timeout=10, limits=limits) as http:

        async def chain(refresh_token: str) -> None:
            while time.monotonic() < deadline:
                started = time.perf_counter()
                try:
                    resp = await http.post(
                        token_url,
                        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
                        auth=(client.client_id, client.client_secret),
                    )
                except httpx.HTTPError as exc:
                    result.failed(f"{type(exc).__name__}: {exc}")
                    return
                result.http_requests += 1
                body = resp.json() if resp.status_code == 200 else {}
                if "access_token" not in body or "refresh_token" not in body:
                    # The chain is broken: its token is spent (or its family revoked).
                    result.failed(f"refresh: HTTP {resp.status_code} {resp.text[:200]}")
                    return
                refresh_token = body["refresh_token"]
                result.units += 1
                result.latencies.append(time.perf_counter() - started)
            result.refresh_tokens.append(refresh_token)

        await asyncio.gather(*(chain(token) for token in refresh_tokens))
    return result


def run_refresh_chains(
    token_url: str, client: SignInClient, refresh_tokens: list[str], seconds: float
) -> DriverResult:
    """One chain per refresh token, each request sending the token the previous
    answer returned, until ``seconds`` have passed; a chain whose answer is not
    a new token pair stops (and counts as one failure)."""
    return asyncio.run(_refresh_chains(token_url, client, refresh_tokens, seconds))
