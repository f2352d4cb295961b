"""Traces across every hop into an OTLP/gRPC receiver started by the test, and
Prometheus metrics on every process after traffic (PostgreSQL and Redis)."""

from __future__ import annotations

import secrets
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.browser import Browser, pkce_pair
from tests.e2e.conftest import RunningSystem, base_env, basic, postgres_env, start_system
from tests.e2e.test_sign_in import (
    PASSWORD,
    authorize_url,
    exchange,
    new_client,
    sign_in,
    token_request,
    unique,
)
from tests.e2e.test_sign_in_rejections import code_for
from tests.otlp_receiver import OtlpReceiver, ReceivedSpan

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as rx:
        yield rx


@pytest.fixture(scope="module")
def observed(
    receiver: OtlpReceiver,
    new_database: Callable[[], str],
    redis_url: str,
    redis_prefix: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningSystem]:
    data_dir = tmp_path_factory.mktemp("observed")
    env = base_env(data_dir)
    database_url = new_database()
    postgres_env(env, database_url, redis_url, redis_prefix + "observed:")
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
    env["OTEL_BSP_SCHEDULE_DELAY"] = "200"  # export within a fraction of a second
    running = start_system(env, data_dir, "postgres", database_url, metrics=True)
    yield running
    running.system.stop_all()


def _descends(span: ReceivedSpan, ancestor: ReceivedSpan, by_id: dict[str, ReceivedSpan]) -> bool:
    current: ReceivedSpan | None = span
    while current is not None and current.parent_span_id:
        if current.parent_span_id == ancestor.span_id:
            return True
        current = by_id.get(current.parent_span_id)
    return False


def _one(spans: list[ReceivedSpan], **match: str) -> ReceivedSpan:
    found = [s for s in spans if all(getattr(s, k) == v for k, v in match.items())]
    assert len(found) == 1, f"{match}: {[(s.service_name, s.name, s.kind) for s in spans]}"
    return found[0]


def _is_sql(span: ReceivedSpan) -> bool:
    system = span.attributes.get("db.system") or span.attributes.get("db.system.name")
    return system in ("postgresql", "sqlite")


def test_one_trace_from_the_gateway_through_token_and_clients_to_sql(
    observed: RunningSystem, receiver: OtlpReceiver, redis_url: str, redis_prefix: str
) -> None:
    client = observed.create_client(
        "--name", "traced", "--grant-type", "client_credentials", "--scope", "api"
    )
    # Drop the clients service's cached record so that this request reads the database.
    cache = redis.Redis.from_url(redis_url)
    cache.delete(f"{redis_prefix}observed:clients:v1:{client['client_id']}")
    cache.close()
    trace_id = secrets.token_hex(16)
    parent = secrets.token_hex(8)
    with observed.http() as http:
        resp = http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            headers={
                "Authorization": basic(client["client_id"], client["client_secret"]),
                "traceparent": f"00-{trace_id}-{parent}-01",
            },
        )
    assert resp.status_code == 200, resp.text
    secret_values = [client["client_secret"], resp.json()["access_token"]]

    def complete(spans: list[ReceivedSpan]) -> bool:
        mine = [s for s in spans if s.trace_id == trace_id]
        servers = {s.service_name for s in mine if s.kind == "SERVER"}
        sql = [s for s in mine if s.service_name == "oauth2-clients" and _is_sql(s)]
        return {"oauth2-gateway", "oauth2-token", "oauth2-clients"} <= servers and bool(sql)

    spans = [s for s in receiver.wait_for(complete, timeout=20) if s.trace_id == trace_id]
    by_id = {s.span_id: s for s in spans}

    http_span = _one(spans, service_name="oauth2-gateway", kind="SERVER")
    assert http_span.parent_span_id == parent  # continued from the caller's traceparent
    assert http_span.name == "POST /oauth/token"
    assert http_span.attributes.get("http.route") == "/oauth/token"

    token_server = _one(spans, service_name="oauth2-token", kind="SERVER")
    assert token_server.name == "oauth2.v1.TokenService/Exchange"
    token_client = by_id[token_server.parent_span_id]
    assert (token_client.service_name, token_client.kind) == ("oauth2-gateway", "CLIENT")
    assert _descends(token_client, http_span, by_id)

    clients_server = _one(spans, service_name="oauth2-clients", kind="SERVER")
    assert clients_server.name == "oauth2.v1.ClientsService/AuthenticateClient"
    clients_client = by_id[clients_server.parent_span_id]
    assert (clients_client.service_name, clients_client.kind) == ("oauth2-token", "CLIENT")
    assert _descends(clients_client, token_server, by_id)

    sql = [
        s
        for s in spans
        if s.service_name == "oauth2-clients"
        and s.kind == "CLIENT"
        and ("db.system" in s.attributes or "db.system.name" in s.attributes)
    ]
    assert sql and all(_descends(s, clients_server, by_id) for s in sql)
    assert all(s.resource.get("service.name") == s.service_name for s in spans)

    everything = " ".join(text for s in receiver.spans() for text in s.strings())
    for value in secret_values:
        assert value not in everything


def test_no_span_holds_a_password_code_or_token(
    observed: RunningSystem, receiver: OtlpReceiver
) -> None:
    client = new_client(observed, "client_secret_basic")
    username = unique("olga")
    observed.create_user(username, PASSWORD, f"{username}@example.com")
    verifier, challenge = pkce_pair()
    code = code_for(observed, client, username, challenge)
    tokens = exchange(observed, client, code, verifier).json()
    refreshed = token_request(
        observed, client, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    )
    assert refreshed.status_code == 200
    secrets_seen = [
        PASSWORD,
        code,
        verifier,
        challenge,
        client["client_secret"],
        tokens["access_token"],
        tokens["refresh_token"],
        tokens["id_token"],
        refreshed.json()["refresh_token"],
    ]
    receiver.wait_for(
        lambda spans: any(
            s.service_name == "oauth2-token" and s.name.endswith("/Exchange") for s in spans
        )
    )
    # Give the batch processors a moment to export the rest of the flow.
    receiver.wait_for(
        lambda spans: any(
            s.service_name == "oauth2-authorize" and s.name.endswith("/CompleteLogin")
            for s in spans
        )
    )
    everything = [text for s in receiver.spans() for text in s.strings()]
    for value in secrets_seen:
        assert not any(value in text for text in everything), "a secret reached a span"


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - loopback
        text = resp.read().decode()
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    """The sum over every series of ``name`` whose labels include ``labels``."""
    return sum(
        v for (n, lbls), v in samples.items() if n == name and set(labels.items()) <= set(lbls)
    )


def test_every_process_serves_metrics_after_traffic(observed: RunningSystem) -> None:
    system = observed.system
    service_ports = {
        name: system.metrics_ports[procs[0].pid]
        for name, procs in system.processes.items()
        if name != "gateway"
    }
    assert set(service_ports) == {"clients", "token", "authorize", "admin"}

    def all_samples() -> dict[str, dict[Any, float]]:
        result = {
            name: scrape(f"http://127.0.0.1:{port}/metrics") for name, port in service_ports.items()
        }
        result["gateway"] = scrape(observed.admin_url + "/metrics")
        return result

    client = observed.create_client(
        "--name", "counted", "--grant-type", "client_credentials", "--scope", "api"
    )
    username = unique("mia")
    observed.create_user(username, PASSWORD)
    # oauth2ctl gets an admin token at /oauth/token itself: every call of it comes first.
    web = new_client(observed, "none")
    before = all_samples()
    n = 7
    with observed.http() as http:
        for _ in range(n):
            resp = http.post(
                "/oauth/token",
                data={"grant_type": "client_credentials"},
                headers={"Authorization": basic(client["client_id"], client["client_secret"])},
            )
            assert resp.status_code == 200
        bad = http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": basic(client["client_id"], "wrong")},
        )
        assert bad.status_code == 401
    verifier, challenge = pkce_pair()
    exchange(observed, web, code_for(observed, web, username, challenge), verifier)
    after = all_samples()

    def delta(process: str, name: str, **labels: str) -> float:
        return value(after[process], name, **labels) - value(before[process], name, **labels)

    gw = "gateway"
    assert (
        delta(gw, "oauth2_http_requests_total", route="/oauth/token", method="POST", status="200")
        == n + 1
    )
    assert (
        delta(gw, "oauth2_http_requests_total", route="/oauth/token", method="POST", status="401")
        == 1
    )
    assert delta(gw, "oauth2_http_request_duration_seconds_count", route="/oauth/token") == n + 2
    assert delta("token", "oauth2_tokens_issued_total", grant_type="client_credentials") == n
    assert delta("token", "oauth2_tokens_issued_total", grant_type="authorization_code") == 1
    assert (
        delta(
            "token",
            "oauth2_grpc_server_requests_total",
            service="oauth2.v1.TokenService",
            method="Exchange",
            code="OK",
        )
        == n + 1
    )
    assert (
        delta(
            "token",
            "oauth2_grpc_server_requests_total",
            service="oauth2.v1.TokenService",
            method="Exchange",
            code="UNAUTHENTICATED",
        )
        == 1
    )
    # n + 2 client authentications: the token service asks the clients service for
    # each, or serves a repeated success from its own cache (on Redis, as here).
    asked = delta(
        "token",
        "oauth2_grpc_client_calls_total",
        service="oauth2.v1.ClientsService",
        method="AuthenticateClient",
    )
    served = delta("token", "oauth2_token_client_auth_cache_lookups_total", result="hit")
    assert asked + served == n + 2
    assert served >= n - 1  # every repeat of the good secret
    assert delta("clients", "oauth2_client_cache_lookups_total", result="hit") >= 1
    assert delta("authorize", "oauth2_logins_total", outcome="success") == 1
    assert ("oauth2_refresh_token_reuse_detected_total", ()) in after["token"]
    for name in ("clients", "token", "authorize", "admin"):
        assert value(after[name], "oauth2_db_pool_size", schema=name) > 0, name
        assert value(after[name], "oauth2_grpc_server_requests_total") > 0, name


def test_a_first_sign_in_makes_at_most_three_grpc_calls_from_the_gateway(
    observed: RunningSystem, receiver: OtlpReceiver
) -> None:
    """docs/signin.md: StartAuthorization, CompleteLogin, CompleteConsent; the
    pages in between render from the session. Counted from the exported spans."""
    person = unique("counted")
    observed.create_user(person, PASSWORD)
    client = new_client(observed, "client_secret_basic")
    _, challenge = pkce_pair()
    trace_id = secrets.token_hex(16)
    with Browser(observed.base_url) as browser:
        # Every request of this sign-in in one trace, so its spans can be told apart.
        browser.http.headers["traceparent"] = f"00-{trace_id}-{secrets.token_hex(8)}-01"
        arrival = sign_in(browser, authorize_url(client["client_id"], challenge), person)
    assert "code" in arrival.params, arrival.params

    def grpc_from_gateway(spans: list[ReceivedSpan]) -> list[ReceivedSpan]:
        return [
            s
            for s in spans
            if s.trace_id == trace_id
            and s.service_name == "oauth2-gateway"
            and s.kind == "CLIENT"
            and s.attributes.get("rpc.system") == "grpc"
        ]

    def consent_served(spans: list[ReceivedSpan]) -> bool:
        # Both ends: the gateway's page span ends (and is exported) after the
        # authorize service's, so waiting for the latter alone races the former.
        served = {s.name for s in spans if s.trace_id == trace_id and s.kind == "SERVER"}
        return {"oauth2.v1.AuthorizeService/CompleteConsent", "POST /consent"} <= served

    spans = receiver.wait_for(consent_served, timeout=20)
    pages = {s.name for s in spans if s.trace_id == trace_id and s.service_name == "oauth2-gateway"}
    assert {"GET /oauth/authorize", "GET /login", "POST /login", "POST /consent"} <= pages
    calls = sorted(s.name for s in grpc_from_gateway(spans))
    assert calls == [
        "oauth2.v1.AuthorizeService/CompleteConsent",
        "oauth2.v1.AuthorizeService/CompleteLogin",
        "oauth2.v1.AuthorizeService/StartAuthorization",
    ]
