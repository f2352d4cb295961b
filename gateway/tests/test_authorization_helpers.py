"""The pieces of the authorization step on their own: query parsing, the
redirect URI with response parameters, CSP sources, sessions in Redis."""

from __future__ import annotations

import httpx
import pytest

from common.errors import InvalidRequest
from common.kv import RedisKeyValue
from common.urls import with_query
from gateway.app import create_app
from gateway.authorization import query_parameters
from gateway.downstream import Downstream
from gateway.pages import csp_source
from gateway.settings import GatewaySettings
from gateway.tests.browser import arrival_of, authorize_url, go, page_of, submit
from gateway.tests.conftest import BROWSER_ISSUER, Fakes
from gateway.tests.test_sign_in_flow import CREDENTIALS


@pytest.mark.parametrize(
    ("redirect_uri", "params", "expected"),
    [
        ("https://rp.example/cb", {"code": "a b", "state": ""}, "https://rp.example/cb?code=a+b"),
        (
            "https://rp.example/cb?x=1&y=%2F",
            {"code": "c", "state": "s&t=u"},
            "https://rp.example/cb?x=1&y=%2F&code=c&state=s%26t%3Du",
        ),
        ("https://rp.example/cb?", {"code": "c"}, "https://rp.example/cb?code=c"),
        ("https://rp.example/cb#frag", {"code": "c"}, "https://rp.example/cb?code=c"),
        ("com.example.app:/oauth", {"code": "c"}, "com.example.app:/oauth?code=c"),
        ("http://127.0.0.1:49152/cb", {"error": "x"}, "http://127.0.0.1:49152/cb?error=x"),
        ("https://rp.example/bye", {"state": ""}, "https://rp.example/bye"),
    ],
)
def test_redirect_uri_with_query(redirect_uri: str, params: dict[str, str], expected: str) -> None:
    assert with_query(redirect_uri, params) == expected


def test_query_parameters_are_passed_as_they_came() -> None:
    """The authorize service reads the parameters: order, repeats and empty values
    reach it untouched (services/authorize/tests/test_authorization_request.py)."""
    parsed = query_parameters(b"client_id=c%201&scope=openid+email&state=&nonce=n&nonce=m")
    assert [(p.name, p.value) for p in parsed] == [
        ("client_id", "c 1"),
        ("scope", "openid email"),
        ("state", ""),
        ("nonce", "n"),
        ("nonce", "m"),
    ]
    with pytest.raises(InvalidRequest, match="not valid UTF-8"):
        query_parameters(b"state=%FF")


@pytest.mark.parametrize(
    ("uri", "source"),
    [
        ("https://rp.example/cb?x=1", "https://rp.example"),
        ("https://user:pw@RP.example:8443/cb", "https://rp.example:8443"),
        ("http://[::1]:5000/cb", "http://[::1]:5000"),
        ("com.example.app:/oauth", "com.example.app:"),
        ("https://rp.example;script-src *", None),
        ("https://rp.example'/cb", None),
        ("", None),
    ],
)
def test_csp_source(uri: str, source: str | None) -> None:
    assert csp_source(uri) == source


async def test_sessions_in_redis(
    backend: tuple[int, Fakes], fakes_reset: Fakes, redis_url: str, redis_prefix: str
) -> None:
    target = f"127.0.0.1:{backend[0]}"
    settings = GatewaySettings(
        issuer=BROWSER_ISSUER,
        authorize_target=target,
        token_target=target,
        clients_target=target,
        admin_target=target,
        redis_url=redis_url,
        redis_key_prefix=redis_prefix,
    )
    kv = RedisKeyValue(redis_url, redis_prefix)
    downstream = Downstream.connect(settings)
    app = create_app(settings, downstream, kv)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=BROWSER_ISSUER
        ) as browser:
            login = page_of(await go(browser, authorize_url()))
            consent = page_of(await submit(browser, login, CREDENTIALS))
            arrival = arrival_of(await submit(browser, consent, button="decision=approve"))
            assert "code" in arrival.params
            cookies = browser.cookies
        # Another replica (another app on the same Redis) knows the session.
        other = create_app(settings, downstream, kv)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=other), base_url=BROWSER_ISSUER, cookies=cookies
        ) as browser:
            again = arrival_of(await go(browser, authorize_url(prompt="none")))
            assert "code" in again.params
    finally:
        await downstream.close()
        await kv.close()
