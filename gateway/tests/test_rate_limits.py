"""Rate limits in the gateway (gateway/ratelimit.py) over the fake services: each
family answers 429 with Retry-After and its body (JSON or the page) before any
downstream call; two Authorization headers are a 400 everywhere they are read."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from redis.exceptions import ConnectionError as RedisConnectionError

from common.kv import Cell, MemoryKeyValue
from gateway.ratelimit import RateLimiter
from gateway.settings import GatewaySettings
from gateway.tests.browser import authorize_url, go, page_of, parse_page, submit
from gateway.tests.conftest import Factory, Fakes, FakeTokenService
from gateway.tests.fakes import BROWSER_ISSUER, PASSWORD, USERNAME
from gateway.tests.helpers import FORM, assert_error, basic

CC = {"grant_type": "client_credentials"}
TIGHT = "1/min burst 2"


def limited(name: str) -> float:
    return REGISTRY.get_sample_value("oauth2_rate_limited_total", {"limit": name}) or 0.0


def assert_json_429(response: httpx.Response) -> int:
    assert response.status_code == 429, response.text
    body = response.json()
    assert body["error"] == "slow_down"
    assert body["error_description"].startswith("Too many requests; retry after ")
    assert response.headers["cache-control"] == "no-store"
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= 60
    return retry_after


async def test_token_endpoint_per_client_before_the_token_service(
    make_client: Factory, fake_token: FakeTokenService
) -> None:
    client = await make_client(rate_limit_token_per_client=TIGHT)
    before = limited("token_per_client")
    # Basic and client_secret_post name the same client: one bucket, secrets unchecked.
    first = await client.post("/oauth/token", data=CC, headers=basic("c1", "wrong"))
    second = await client.post(
        "/oauth/token", data={**CC, "client_id": "c1", "client_secret": "also-wrong"}
    )
    assert first.status_code == second.status_code == 200
    refused = await client.post("/oauth/token", data=CC, headers=basic("c1", "s1"))
    assert_json_429(refused)
    assert fake_token.methods() == ["Exchange", "Exchange"]
    assert limited("token_per_client") == before + 1
    # Another client has its own bucket.
    assert (
        await client.post("/oauth/token", data=CC, headers=basic("c2", "s2"))
    ).status_code == 200


async def test_introspection_and_revocation_per_client(
    make_client: Factory, fake_token: FakeTokenService
) -> None:
    client = await make_client(
        rate_limit_introspect_per_client="1/min burst 1",
        rate_limit_revoke_per_client="1/min burst 1",
    )
    for path in ("/oauth/introspect", "/oauth/revoke"):
        form = {"token": "t"}
        assert (await client.post(path, data=form, headers=basic("rs", "x"))).status_code == 200
        assert_json_429(await client.post(path, data=form, headers=basic("rs", "x")))
    assert fake_token.methods() == ["Introspect", "Revoke"]


async def test_requests_naming_no_client_count_per_address(
    make_client: Factory, fake_token: FakeTokenService
) -> None:
    client = await make_client(rate_limit_client_per_address="1/min burst 1")
    anonymous = await client.post("/oauth/token", data=CC)
    assert_error(anonymous, 401, "invalid_client", "Client authentication required")
    assert_json_429(await client.post("/oauth/introspect", data={"token": "t"}))
    # A request naming a client is limited per client, not per address.
    assert (await client.post("/oauth/token", data=CC, headers=basic("c1", "s"))).status_code == 200


async def test_discovery_per_address_and_limits_off(make_client: Factory) -> None:
    client = await make_client(rate_limit_public_per_address=TIGHT)
    for _ in range(2):
        assert (await client.get("/oauth/jwks")).status_code == 200
    assert_json_429(await client.get("/.well-known/openid-configuration"))
    assert (await client.get("/health")).status_code == 200  # probes are never limited

    off = await make_client(rate_limit_public_per_address=TIGHT, rate_limits_enabled=False)
    for _ in range(4):
        assert (await off.get("/oauth/jwks")).status_code == 200


async def test_pages_answer_an_html_page(make_client: Factory, fakes_reset: Fakes) -> None:
    browser = await make_client(issuer=BROWSER_ISSUER, rate_limit_pages_per_address="1/min burst 1")
    assert (await browser.get("/login")).status_code == 200
    refused = await browser.get(authorize_url())
    assert refused.status_code == 429
    assert refused.headers["content-type"].startswith("text/html")
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.headers["x-frame-options"] == "DENY"
    assert "Too many requests. Try again in" in parse_page(refused.text).text
    assert "StartAuthorization" not in fakes_reset.authorize.methods()


async def test_login_per_address_and_per_user(make_client: Factory, fakes_reset: Fakes) -> None:
    browser = await make_client(
        issuer=BROWSER_ISSUER,
        rate_limit_login_per_user="1/min burst 2",
        rate_limit_login_per_address="1/min burst 4",
    )
    login = page_of(await go(browser, authorize_url()))
    for _ in range(2):
        failed = page_of(await submit(browser, login, {"username": USERNAME, "password": "nope"}))
        assert failed.status_code == 401
    # The third guess for this user never reaches the service; the form says "locked".
    locked = page_of(
        await submit(browser, login, {"username": USERNAME.upper(), "password": PASSWORD})
    )
    assert locked.status_code == 429
    assert 1 <= int(locked.headers["retry-after"]) <= 60
    assert "Too many failed sign-in attempts" in parse_page(locked.text).text
    assert fakes_reset.authorize.methods().count("CompleteLogin") == 2
    # Another user from the same address: the fourth POST is still within the
    # address's burst, the fifth is not (and is refused before the form is read).
    other = page_of(await submit(browser, login, {"username": "someone", "password": "x"}))
    assert other.status_code == 401
    refused = page_of(await submit(browser, login, {"username": "third", "password": "x"}))
    assert refused.status_code == 429
    assert "Too many requests. Try again in" in parse_page(refused.text).text
    assert fakes_reset.authorize.methods().count("CompleteLogin") == 3


async def test_device_codes_are_guessed_slowly(make_client: Factory, fakes_reset: Fakes) -> None:
    """RFC 8628 section 5.1: POST /device, where a user_code is tried, is limited per
    address on its own (the code form's GET is a page like the others)."""
    browser = await make_client(
        issuer=BROWSER_ISSUER, rate_limit_device_verification_per_address="1/min burst 2"
    )
    form = page_of(await go(browser, "/device"))
    assert form.status_code == 200
    for code in ("BCDF-GHJK", "LMNP-QRST"):
        tried = page_of(await submit(browser, form, {"user_code": code}))
        assert tried.status_code != 429
    refused = page_of(await submit(browser, form, {"user_code": "VWXZ-BCDF"}))
    assert refused.status_code == 429
    assert refused.headers["content-type"].startswith("text/html")
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert "Too many requests. Try again in" in parse_page(refused.text).text
    assert fakes_reset.authorize.methods().count("StartDeviceVerification") == 2
    assert limited("device_verification_per_address") >= 1
    # The form itself is still shown.
    assert page_of(await go(browser, "/device")).status_code == 200


async def test_device_authorization_per_client(make_client: Factory, fakes_reset: Fakes) -> None:
    client = await make_client(rate_limit_device_authorization_per_client="1/min burst 1")
    await client.post("/oauth/device_authorization", data={"client_id": "tv"})
    assert_json_429(await client.post("/oauth/device_authorization", data={"client_id": "tv"}))
    assert fakes_reset.authorize.methods().count("StartDeviceAuthorization") == 1


async def test_registration_per_address_and_per_client(make_client: Factory) -> None:
    client = await make_client(
        rate_limit_register_per_address="1/min burst 1",
        rate_limit_registration_per_client="1/min burst 1",
    )
    first = await client.post("/oauth/register", json={"redirect_uris": ["https://a.example/cb"]})
    assert first.status_code != 429
    assert_json_429(await client.post("/oauth/register", json={}))
    bearer = {"Authorization": "Bearer rat"}
    assert (await client.get("/oauth/register/c9", headers=bearer)).status_code != 429
    assert_json_429(await client.get("/oauth/register/c9", headers=bearer))


class DownKeyValue(MemoryKeyValue):
    async def gcra_all(self, cells: Sequence[Cell]) -> tuple[int | None, float]:
        raise RedisConnectionError("Redis is down")


async def test_the_limiter_fails_open_when_redis_is_down(
    make_client: Factory, fake_token: FakeTokenService, caplog: pytest.LogCaptureFixture
) -> None:
    client = await make_client(rate_limit_token_per_client=TIGHT)
    app: Any = client._transport.app  # type: ignore[attr-defined]
    app.state.rate_limiter = RateLimiter(DownKeyValue(), GatewaySettings(rate_limits_enabled=True))
    errors = "oauth2_rate_limit_errors_total"
    before = REGISTRY.get_sample_value(errors, {"limit": "token_per_client"}) or 0.0
    for _ in range(4):
        assert (
            await client.post("/oauth/token", data=CC, headers=basic("c1", "s"))
        ).status_code == 200
    assert REGISTRY.get_sample_value(errors, {"limit": "token_per_client"}) == before + 4
    assert sum("rate limiter unavailable" in r.getMessage() for r in caplog.records) == 1


TWO_AUTHORIZATIONS = [("Authorization", "Basic YzE6czE="), ("Authorization", "Basic YzI6czI=")]
TWO_BEARERS = [("Authorization", "Bearer a"), ("Authorization", "Bearer b")]


@pytest.mark.parametrize(
    ("method", "path", "headers", "body"),
    [
        ("POST", "/oauth/token", TWO_AUTHORIZATIONS, b"grant_type=client_credentials"),
        ("POST", "/oauth/introspect", TWO_AUTHORIZATIONS, b"token=t"),
        ("POST", "/oauth/revoke", TWO_AUTHORIZATIONS, b"token=t"),
        ("GET", "/oauth/userinfo", TWO_BEARERS, b""),
        ("GET", "/oauth/register/c1", TWO_BEARERS, b""),
        ("GET", "/admin/api/clients", TWO_BEARERS, b""),
    ],
)
async def test_two_authorization_headers_are_a_400(
    client: httpx.AsyncClient,
    admin_client: httpx.AsyncClient,
    fakes_reset: Fakes,
    method: str,
    path: str,
    headers: list[tuple[str, str]],
    body: bytes,
) -> None:
    listener = admin_client if path.startswith("/admin/") else client
    response = await listener.request(method, path, content=body, headers=[*FORM.items(), *headers])
    assert response.status_code == 400, response.text
    assert response.json() == {
        "error": "invalid_request",
        "error_description": "Send one Authorization header",
    }
    assert fakes_reset.calls() == []


async def test_made_up_client_ids_share_the_address_limit(
    make_client: Factory, fake_token: FakeTokenService
) -> None:
    client = await make_client(rate_limit_oauth_per_address="1/min burst 3")
    answers = [
        await client.post("/oauth/token", data=CC, headers=basic(f"made-up-{n}", "x"))
        for n in range(4)
    ]
    assert [a.status_code for a in answers[:3]] == [200, 200, 200]
    assert_json_429(answers[3])
    assert fake_token.methods() == ["Exchange"] * 3


async def test_behind_a_trusted_proxy_each_forwarded_address_has_its_own_bucket(
    make_client: Factory,
) -> None:
    client = await make_client(
        trusted_proxies=["127.0.0.1/32"], rate_limit_public_per_address="1/min burst 1"
    )

    async def jwks(forwarded: str) -> int:
        response = await client.get("/oauth/jwks", headers={"X-Forwarded-For": forwarded})
        return response.status_code

    assert await jwks("198.51.100.1") == 200
    assert await jwks("198.51.100.1") == 429
    assert await jwks("198.51.100.2") == 200
    # IPv6 counts per /64: another address of the same network shares the bucket.
    assert await jwks("2001:db8::1") == 200
    assert await jwks("2001:db8::ffff:2") == 429
    assert await jwks("2001:db8:0:1::1") == 200


async def test_without_trusted_proxies_forwarded_addresses_are_ignored(
    make_client: Factory,
) -> None:
    client = await make_client(rate_limit_public_per_address="1/min burst 1")
    first = await client.get("/oauth/jwks", headers={"X-Forwarded-For": "198.51.100.1"})
    second = await client.get("/oauth/jwks", headers={"X-Forwarded-For": "198.51.100.2"})
    assert (first.status_code, second.status_code) == (200, 429)
