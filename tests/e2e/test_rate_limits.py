"""Rate limits and the real client address, through real gateways.

Each mode gets a system of its own with small limits (set through the environment,
as an operator would), so the tests need a few requests, not a flood: every family
answers 429 with Retry-After and its body (JSON, or the page), counts in
``oauth2_rate_limited_total`` and is audited once per key and window. A second
gateway process, trusting 127.0.0.1 as its proxy, serves the same services: a
spoofed ``X-Forwarded-For`` is ignored by the first (one counter for every
spoofed address) and honoured by the second (a counter per forwarded address,
which the audit trail and the access log show). On PostgreSQL + Redis both
gateways share one set of counters.
"""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from oauth2ctl.devrun import System, free_port
from tests.e2e.admin_support import AdminApi
from tests.e2e.browser import Browser, page_text
from tests.e2e.conftest import SYSTEMS, RunningSystem, base_env, basic, postgres_env, start_system

pytestmark = pytest.mark.e2e

LIMITS = {
    # The admin client (oauth2ctl, the admin API's tokens) shares this one; 2/s keeps
    # the harness's own calls well inside it.
    "OAUTH2_RATE_LIMIT_TOKEN_PER_CLIENT": "2/s burst 30",
    "OAUTH2_RATE_LIMIT_INTROSPECT_PER_CLIENT": "1/min burst 2",
    "OAUTH2_RATE_LIMIT_REVOKE_PER_CLIENT": "1/min burst 2",
    "OAUTH2_RATE_LIMIT_CLIENT_PER_ADDRESS": "1/min burst 2",
    "OAUTH2_RATE_LIMIT_REGISTER_PER_ADDRESS": "1/min burst 2",
    "OAUTH2_RATE_LIMIT_LOGIN_PER_ADDRESS": "1/min burst 4",
    "OAUTH2_RATE_LIMIT_LOGIN_PER_USER": "1/min burst 2",
    "OAUTH2_RATE_LIMIT_PAGES_PER_ADDRESS": "1/min burst 8",
    "OAUTH2_RATE_LIMIT_PUBLIC_PER_ADDRESS": "1/min burst 3",
}
PASSWORD = "correct horse battery staple"


@dataclass
class Limited:
    running: RunningSystem
    #: A second gateway process in front of the same services, trusting 127.0.0.1.
    trusted: System

    @property
    def mode(self) -> str:
        return self.running.mode

    @property
    def trusted_url(self) -> str:
        return self.trusted.base_url


@pytest.fixture(scope="module", params=SYSTEMS)
def limited(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Limited]:
    data_dir = tmp_path_factory.mktemp(f"limited-{request.param}")
    env = {**base_env(data_dir), **LIMITS}
    database_url = None
    if request.param == "postgres":
        database_url = request.getfixturevalue("new_database")()
        prefix = request.getfixturevalue("redis_prefix") + "limited:"
        postgres_env(env, database_url, request.getfixturevalue("redis_url"), prefix)
    running = start_system(env, data_dir, request.param, database_url, metrics=True)
    trusted = second_gateway(
        running, data_dir / "logs-trusted", OAUTH2_TRUSTED_PROXIES="127.0.0.1/32"
    )
    try:
        yield Limited(running, trusted)
    finally:
        trusted.stop_all()
        running.system.stop_all()


def second_gateway(running: RunningSystem, log_dir: Path, **extra: str) -> System:
    """Another gateway process for the same services, issuer and Redis."""
    first = running.system
    # The first gateway's environment, its certificate included (mutual TLS).
    env = {**first.process_env("gateway"), **extra}
    ports = {**first.ports, "gateway": free_port(), "gateway_admin": free_port()}
    system = System(env=env, ports=ports, log_dir=log_dir)
    system.start("gateway")
    try:
        system.wait_ready(timeout=30)
    except RuntimeError:
        system.stop_all()
        raise
    return system


def scrape(url: str) -> list[tuple[str, dict[str, str], float]]:
    with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - loopback
        text = resp.read().decode()
    return [
        (sample.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def rate_limited(base_url: str, limit: str) -> float:
    return sum(
        value
        for name, labels, value in scrape(base_url + "/metrics")
        if name == "oauth2_rate_limited_total" and labels.get("limit") == limit
    )


def exchanges_served(running: RunningSystem) -> float:
    """TokenService/Exchange calls the token service answered, whatever the outcome."""
    (proc,) = running.system.processes["token"]
    port = running.system.metrics_ports[proc.pid]
    return sum(
        value
        for name, labels, value in scrape(f"http://127.0.0.1:{port}/metrics")
        if name == "oauth2_grpc_server_requests_total" and labels.get("method") == "Exchange"
    )


def assert_json_429(resp: httpx.Response) -> None:
    assert resp.status_code == 429, resp.text
    assert resp.headers["content-type"] == "application/json"
    body = resp.json()
    assert body["error"] == "slow_down", body
    assert body["error_description"].startswith("Too many requests; retry after ")
    assert int(resp.headers["retry-after"]) >= 1


def assert_html_429(resp: httpx.Response) -> str:
    assert resp.status_code == 429, resp.text[:500]
    assert resp.headers["content-type"].startswith("text/html")
    assert int(resp.headers["retry-after"]) >= 1
    assert resp.headers["x-frame-options"] == "DENY"
    return page_text(resp)


def audited(
    running: RunningSystem, target: str, expect: Callable[[list[dict[str, Any]]], bool]
) -> list[dict[str, Any]]:
    """The rate_limit.exceeded events for ``target`` once ``expect`` holds (the
    gateway reports in the background), or what there was after 10 seconds."""
    deadline = time.monotonic() + 10
    with AdminApi(running) as api:
        while True:
            items: list[dict[str, Any]] = api.ok(
                "GET", "/audit", params={"action": "rate_limit.exceeded", "target": target}
            )["items"]
            if expect(items) or time.monotonic() > deadline:
                return items
            time.sleep(0.2)


def test_wrong_client_secrets_are_refused_before_the_token_service(limited: Limited) -> None:
    running = limited.running
    victim = running.create_client("--name", "victim", "--grant-type", "client_credentials")
    wrong = {"Authorization": basic(victim["client_id"], "not-the-secret")}
    before_exchanges = exchanges_served(running)
    before_metric = rate_limited(running.admin_url, "token_per_client")
    statuses: list[int] = []
    started = time.monotonic()
    with running.http() as http:
        for _ in range(300):
            resp = http.post(
                "/oauth/token", data={"grant_type": "client_credentials"}, headers=wrong
            )
            statuses.append(resp.status_code)
            if resp.status_code == 429:
                last_refusal = resp
        # The right secret waits for the same bucket: the limit is per client.
        right = {"Authorization": basic(victim["client_id"], victim["client_secret"])}
        refused_right = http.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, headers=right
        )
    elapsed = time.monotonic() - started
    admitted, refused = statuses.count(401), statuses.count(429)
    assert admitted + refused == 300, sorted(set(statuses))
    # The burst (30) plus what 2/s refills while the loop runs.
    assert 30 <= admitted <= 30 + 2 * elapsed + 2, (admitted, elapsed)
    assert statuses.index(429) <= 31
    assert_json_429(last_refusal)
    assert_json_429(refused_right)
    # Only the admitted guesses reached the token service.
    assert exchanges_served(running) - before_exchanges == admitted
    assert rate_limited(running.admin_url, "token_per_client") - before_metric == refused + 1
    # 270 refusals are one audit event (one per key and window), with the address.
    events = audited(running, f"client:{victim['client_id']}", lambda items: len(items) >= 1)
    assert len(events) == 1, events
    (event,) = events
    assert event["outcome"] == "denied" and event["source"] == "oauth2-gateway"
    # The client_id was not verified before the refusal: the target, never the actor.
    assert event["actor"] == "anonymous"
    assert event["remote_addr"] == "127.0.0.1"
    assert event["details"]["limit"] == "token_per_client"


def test_introspection_revocation_and_anonymous_clients(limited: Limited) -> None:
    running = limited.running
    rs = running.create_client("--name", "rs-limited", "--grant-type", "client_credentials")
    auth = {"Authorization": basic(rs["client_id"], rs["client_secret"])}
    with running.http() as http:
        for path in ("/oauth/introspect", "/oauth/revoke"):
            for _ in range(2):
                assert http.post(path, data={"token": "x"}, headers=auth).status_code == 200
            assert_json_429(http.post(path, data={"token": "x"}, headers=auth))
        # Naming no client at all: counted per address.
        for _ in range(2):
            assert http.post("/oauth/introspect", data={"token": "x"}).status_code == 401
        assert_json_429(http.post("/oauth/token", data={"grant_type": "client_credentials"}))
    assert rate_limited(running.admin_url, "introspect_per_client") >= 1
    assert rate_limited(running.admin_url, "revoke_per_client") >= 1
    assert rate_limited(running.admin_url, "client_per_address") >= 1


def test_self_registration_per_address(limited: Limited) -> None:
    metadata = {"client_name": "flood", "grant_types": ["client_credentials"]}
    with limited.running.http() as http:
        answers = [http.post("/oauth/register", json=metadata) for _ in range(3)]
    # Open on the embedded default (201), token-only on PostgreSQL (401): either way
    # the first two reach the clients service and the third does not.
    assert [a.status_code for a in answers[:2]] in ([201, 201], [401, 401])
    assert_json_429(answers[2])


def test_spoofed_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(
    limited: Limited,
) -> None:
    running = limited.running
    # The first gateway trusts no proxy: every spoofed address is 127.0.0.1's counter.
    with running.http() as http:
        spoofed = [
            http.get("/oauth/jwks", headers={"X-Forwarded-For": f"192.0.2.{n}"}) for n in range(4)
        ]
    assert [r.status_code for r in spoofed[:3]] == [200, 200, 200]
    assert_json_429(spoofed[3])
    # The second trusts 127.0.0.1: each forwarded address has its own counter.
    forwarded = "198.51.100.1" if limited.mode == "postgres" else "198.51.100.2"
    with httpx.Client(base_url=limited.trusted_url, timeout=10) as http:
        chain = {"X-Forwarded-For": f"203.0.113.99, {forwarded}"}
        answers = [http.get("/oauth/jwks", headers=chain) for _ in range(4)]
        assert [r.status_code for r in answers[:3]] == [200, 200, 200]
        assert_json_429(answers[3])
        other = http.get("/oauth/jwks", headers={"X-Forwarded-For": "198.51.100.3"})
        assert other.status_code == 200
    # The audit trail names the forwarded address, not the proxy's or the spoofed one.
    events = audited(running, f"address:{forwarded}", lambda items: len(items) >= 1)
    assert [(e["remote_addr"], e["details"]["limit"]) for e in events] == [
        (forwarded, "public_per_address")
    ]
    # So does the second gateway's access log.
    log = (limited.trusted.log_dir or Path()) / "gateway.log"
    assert f"{forwarded} GET /oauth/jwks 429" in log.read_text(errors="replace")


def test_login_limits_per_user_and_per_address_are_pages(limited: Limited) -> None:
    username = f"lim-{limited.mode}"
    limited.running.create_user(username, PASSWORD)
    with Browser(limited.running.base_url) as browser:
        login = browser.go("/login")
        assert isinstance(login, httpx.Response) and login.status_code == 200
        for _ in range(2):
            failed = browser.submit(login, {"username": username, "password": "wrong"})
            assert isinstance(failed, httpx.Response) and failed.status_code == 401
        # Per user: the third attempt, even with the right password, waits.
        locked = browser.submit(login, {"username": username, "password": PASSWORD})
        assert isinstance(locked, httpx.Response)
        assert "Too many failed sign-in attempts" in assert_html_429(locked)
        # Per address: the fourth POST from 127.0.0.1 passes, the fifth does not.
        other = browser.submit(login, {"username": "nobody", "password": "x"})
        assert isinstance(other, httpx.Response) and other.status_code == 401
        flooded = browser.submit(login, {"username": "nobody2", "password": "x"})
        assert isinstance(flooded, httpx.Response)
        assert "Too many requests. Try again in" in assert_html_429(flooded)
    assert rate_limited(limited.running.admin_url, "login_per_user") >= 1
    assert rate_limited(limited.running.admin_url, "login_per_address") >= 1
    # Behind the trusted proxy, another address signs in from a counter of its own
    # (a new username too: the per-user bucket above is still empty).
    second = f"lim2-{limited.mode}"
    limited.running.create_user(second, PASSWORD)
    with Browser(limited.trusted_url) as browser:
        browser.http.headers["X-Forwarded-For"] = "198.51.100.77"
        login = browser.go("/login")
        assert isinstance(login, httpx.Response) and login.status_code == 200
        typo = browser.submit(login, {"username": second, "password": "typo"})
        assert isinstance(typo, httpx.Response) and typo.status_code == 401
        signed_in = browser.submit(login, {"username": second, "password": PASSWORD})
        assert isinstance(signed_in, httpx.Response) and signed_in.status_code == 200
        assert "signed in" in page_text(signed_in).lower()
    # The login backoff was told the forwarded address, not the proxy's.
    authorize_log = (limited.running.system.log_dir or Path()) / "authorize.log"
    assert "198.51.100.77" in authorize_log.read_text(errors="replace")


# Redis only: the embedded default is one process of each, its counters its own.
@pytest.mark.parametrize("limited", ["postgres"], indirect=True)
def test_two_gateways_share_the_counters(limited: Limited) -> None:
    running = limited.running
    client = running.create_client("--name", "shared", "--grant-type", "client_credentials")
    form = {"grant_type": "client_credentials"}
    auth = (client["client_id"], client["client_secret"])
    statuses = []
    with running.http() as first, httpx.Client(base_url=limited.trusted_url, timeout=10) as second:
        # Alternating: neither gateway alone sees the burst of 30 used up.
        for n in range(40):
            http = first if n % 2 == 0 else second
            statuses.append(http.post("/oauth/token", data=form, auth=auth).status_code)
    assert set(statuses) == {200, 429}
    assert 30 <= statuses.count(200) <= 33, statuses
    assert statuses.index(429) >= 30


def test_two_authorization_headers_are_a_400(limited: Limited) -> None:
    with limited.running.http() as http:
        resp = http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            headers=[("Authorization", basic("a", "b")), ("Authorization", basic("c", "d"))],
        )
    assert resp.status_code == 400
    assert resp.json() == {
        "error": "invalid_request",
        "error_description": "Send one Authorization header",
    }


def test_the_sign_in_pages_answer_an_html_page(limited: Limited) -> None:
    # Behind the trusted proxy, from an address of its own, so other tests keep theirs.
    with httpx.Client(base_url=limited.trusted_url, timeout=10) as http:
        http.headers["X-Forwarded-For"] = "198.51.100.50"
        answers = [http.get("/oauth/authorize", params={"client_id": "x"}) for _ in range(9)]
    # An unknown client is an error page (never a redirect); the ninth is refused.
    assert {a.status_code for a in answers[:8]} == {400}
    assert "Too many requests. Try again in" in assert_html_429(answers[8])
    events = audited(limited.running, "address:198.51.100.50", lambda items: len(items) >= 1)
    assert [e["details"]["limit"] for e in events] == ["pages_per_address"]
