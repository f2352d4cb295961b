"""Back-channel logout (OpenID Connect Back-Channel Logout 1.0) through the gateway, on
PostgreSQL + Redis and on the embedded default: two clients registered with a
``backchannel_logout_uri`` on a local HTTP endpoint; a person signs in to both in one
browser session (the ID tokens carry the same ``sid``) and signs out at ``/logout``;
each client receives a logout token, verified with joserfc against the published
JWKS (typ, iss, aud, sub, sid, events, no nonce); one endpoint fails first and is
tried again; the session's grant without offline access is revoked, the offline one
survives; an operator disabling the user sends logout tokens again."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.e2e.admin_support import AdminApi
from tests.e2e.browser import Arrival, Browser, pkce_pair
from tests.e2e.conftest import RunningSystem
from tests.e2e.test_sign_in import (
    PASSWORD,
    REDIRECT,
    authorize_url,
    exchange,
    introspect,
    token_request,
    unique,
)
from tests.logout_receiver import LogoutReceiver

pytestmark = pytest.mark.e2e

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"


def verified(system: RunningSystem, token: str, alg: str = "RS256") -> jwt.Token:
    with system.http() as http:
        keys = KeySet.import_key_set(http.get("/oauth/jwks").json())
    return jwt.decode(token, keys, algorithms=[alg])


def check_logout_token(
    system: RunningSystem, token: str, client_id: str, user_id: str, sid: str | None
) -> dict[str, Any]:
    decoded = verified(system, token)
    assert decoded.header["typ"] == "logout+jwt"
    claims = dict(decoded.claims)
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": system.base_url},
        aud={"essential": True, "value": client_id},
        iat={"essential": True},
        exp={"essential": True},
        jti={"essential": True},
    ).validate(claims)
    assert claims["events"] == {BACKCHANNEL_EVENT: {}}
    assert claims["sub"] == user_id
    if sid is not None:
        assert claims["sid"] == sid
    assert "nonce" not in claims
    return claims


def register(system: RunningSystem, uri: str, scope: str, *extra: str) -> dict[str, Any]:
    return system.create_client(
        "--name",
        unique("Portal"),
        "--grant-type",
        "authorization_code",
        "--grant-type",
        "refresh_token",
        "--redirect-uri",
        REDIRECT,
        "--scope",
        scope,
        "--backchannel-logout-uri",
        uri,
        *extra,
    )


def code_flow(
    system: RunningSystem, browser: Browser, client: dict[str, Any], username: str, scope: str
) -> dict[str, Any]:
    """Signs in (or, already signed in on this browser, only consents) and exchanges."""
    verifier, challenge = pkce_pair()
    page = browser.go(authorize_url(client["client_id"], challenge, scope=scope))
    assert isinstance(page, httpx.Response) and page.status_code == 200, page
    if 'name="password"' in page.text:
        page = browser.submit(page, {"username": username, "password": PASSWORD})
    if not isinstance(page, Arrival):
        page = browser.submit(page, button="decision=approve")
    assert isinstance(page, Arrival), page
    arrival = page
    resp = exchange(system, client, arrival.params["code"], verifier)
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def test_logout_tells_every_client_of_the_session(system: RunningSystem) -> None:
    username = unique("lena")
    user = system.create_user(username, PASSWORD)
    with LogoutReceiver() as first_rp, LogoutReceiver(statuses=[503]) as second_rp:
        online = register(
            system, first_rp.uri("/bcl?rp=1"), "openid", "--backchannel-logout-session-required"
        )
        offline = register(system, second_rp.uri(), "openid offline_access")
        with Browser(system.base_url) as browser:
            online_tokens = code_flow(system, browser, online, username, "openid")
            offline_tokens = code_flow(system, browser, offline, username, "openid offline_access")
            sid = verified(system, online_tokens["id_token"]).claims["sid"]
            assert sid and verified(system, offline_tokens["id_token"]).claims["sid"] == sid

            page = browser.go("/logout")
            assert isinstance(page, httpx.Response) and page.status_code == 200
            started = time.monotonic()
            signed_out = browser.submit(page)
            assert isinstance(signed_out, httpx.Response) and signed_out.status_code == 200
            # The person is not kept waiting for the clients (one answers 503 first).
            assert time.monotonic() - started < 2.0

        [to_first] = first_rp.wait_for(1)
        assert to_first.path == "/bcl?rp=1"
        assert to_first.content_type == "application/x-www-form-urlencoded"
        check_logout_token(system, to_first.logout_token, online["client_id"], user["user_id"], sid)
        [to_second] = second_rp.wait_for(1)
        assert [item.status for item in second_rp.received] == [503, 200]  # tried again
        check_logout_token(
            system, to_second.logout_token, offline["client_id"], user["user_id"], sid
        )

        # The session's grant without offline access ended with it; the offline one lives.
        assert introspect(system, online_tokens["access_token"]) == {"active": False}
        refreshed = token_request(
            system,
            offline,
            {"grant_type": "refresh_token", "refresh_token": offline_tokens["refresh_token"]},
        )
        assert refreshed.status_code == 200, refreshed.text

        # An operator disabling the user ends what is left, and its client hears of it.
        with AdminApi(system) as api:
            api.ok("PATCH", f"/users/{user['user_id']}", json={"enabled": False})
        second = second_rp.wait_for(2)[1]
        check_logout_token(system, second.logout_token, offline["client_id"], user["user_id"], sid)
        assert len(first_rp.received) == 1  # its grant was already gone


def test_a_client_without_a_backchannel_uri_hears_nothing(system: RunningSystem) -> None:
    username = unique("nils")
    system.create_user(username, PASSWORD)
    with LogoutReceiver() as rp:
        listening = register(system, rp.uri(), "openid")
        silent = system.create_client(
            "--name",
            unique("Silent"),
            "--grant-type",
            "authorization_code",
            "--redirect-uri",
            REDIRECT,
            "--scope",
            "openid",
        )
        with Browser(system.base_url) as browser:
            code_flow(system, browser, silent, username, "openid")
            code_flow(system, browser, listening, username, "openid")
            page = browser.go("/logout")
            assert isinstance(page, httpx.Response)
            browser.submit(page)
        [received] = rp.wait_for(1)
        claims = verified(system, received.logout_token).claims
        assert claims["aud"] == listening["client_id"]
        time.sleep(0.5)
        assert len(rp.received) == 1
    with system.http() as http:
        metadata = http.get("/.well-known/openid-configuration").json()
    assert metadata["backchannel_logout_supported"] is True
    assert metadata["backchannel_logout_session_supported"] is True
