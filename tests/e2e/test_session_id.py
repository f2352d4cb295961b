"""The session id (``sid``, OpenID Connect Back-Channel Logout 1.0 section 2.4) in ID
tokens, through the gateway, on PostgreSQL + Redis and on the embedded default: a
person signs in with the code flow; the ID token (verified with joserfc against the
JWKS) carries a ``sid``, its refresh and a second code of the same sign-in the same
one; after logout, the next sign-in has another."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.browser import Arrival, Browser, pkce_pair
from tests.e2e.conftest import RunningSystem
from tests.e2e.test_sign_in import (
    PASSWORD,
    authorize_url,
    exchange,
    new_client,
    sign_in,
    token_request,
    unique,
    verify_id_token,
)

pytestmark = pytest.mark.e2e

NONCE = "n-0S6_WzA2Mj"


def id_token_sid(
    system: RunningSystem,
    client: dict[str, Any],
    user_id: str,
    tokens: dict[str, Any],
    nonce: str | None = NONCE,
) -> str:
    """The ``sid`` of the response's ID token (a refresh's has no ``nonce``)."""
    claims = verify_id_token(
        system, tokens["id_token"], client["client_id"], user_id, tokens["access_token"], nonce
    )
    sid = claims["sid"]
    assert isinstance(sid, str) and len(sid) >= 22  # 128 random bits, base64url
    return sid


def code_tokens(
    system: RunningSystem, client: dict[str, Any], arrival: Arrival, verifier: str
) -> dict[str, Any]:
    resp = exchange(system, client, arrival.params["code"], verifier)
    assert resp.status_code == 200, resp.text
    tokens: dict[str, Any] = resp.json()
    return tokens


def test_id_tokens_carry_the_sid_of_the_sign_in(system: RunningSystem) -> None:
    client = new_client(system, "client_secret_basic")
    username = unique("sid")
    user = system.create_user(username, PASSWORD)
    user_id = user["user_id"]

    with Browser(system.base_url) as browser:
        verifier, challenge = pkce_pair()
        arrival = sign_in(
            browser, authorize_url(client["client_id"], challenge, nonce=NONCE), username
        )
        tokens = code_tokens(system, client, arrival, verifier)
        sid = id_token_sid(system, client, user_id, tokens)
        # Never the session cookie.
        assert sid not in {cookie.value for cookie in browser.http.cookies.jar}

        # Refreshed ID tokens keep the sid of the sign-in.
        resp = token_request(
            system,
            client,
            {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        )
        assert resp.status_code == 200, resp.text
        assert id_token_sid(system, client, user_id, resp.json(), nonce=None) == sid

        # Another code of the same sign-in (the session; consent remembered): the same.
        verifier, challenge = pkce_pair()
        again = browser.go(authorize_url(client["client_id"], challenge, nonce=NONCE))
        assert isinstance(again, Arrival) and "code" in again.params
        same = code_tokens(system, client, again, verifier)
        assert id_token_sid(system, client, user_id, same) == sid

        # Logout, and a new sign-in in the same browser: another sid.
        page = browser.go("/logout")
        assert isinstance(page, httpx.Response) and page.status_code == 200
        done = browser.submit(page)
        assert isinstance(done, httpx.Response) and done.status_code == 200
        verifier, challenge = pkce_pair()
        arrival = sign_in(
            browser, authorize_url(client["client_id"], challenge, nonce=NONCE), username
        )
        second = code_tokens(system, client, arrival, verifier)
        assert id_token_sid(system, client, user_id, second) != sid
