"""The gateway's HTTP spans (named by route template, nothing secret in them) and
its /metrics route (counts by route template, method and status; several
workers' samples added up in multiprocess mode)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import subprocess
import sys
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client.parser import text_string_to_metric_families

from common.logs import JsonFormatter
from common.metrics import render_latest
from common.telemetry import Telemetry
from gateway.app import create_app
from gateway.observability import shutting_down_telemetry
from gateway.settings import GatewaySettings
from gateway.tests.conftest import Factory, FakeTokenService
from gateway.tests.helpers import FORM, basic
from tests.telemetry_support import assert_no_secret, installed_telemetry, recorded_spans

ROOT = Path(__file__).resolve().parents[2]
STATE = "st4te-Secret-Value"
CHALLENGE = "ch4llenge-Secret-Value-0123456789abcdefghijklmno"
CLIENT_SECRET = "cl1ent-Secret-Value"
CODE = "c0de-Secret-Value"
VERIFIER = "v3rifier-Secret-Value-0123456789abcdefghijklmnopq"


def samples(text_format: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    found = {}
    for family in text_string_to_metric_families(text_format):
        for sample in family.samples:
            found[sample.name, frozenset(sample.labels.items())] = sample.value
    return found


def value(found: dict[Any, float], name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


async def test_metrics_count_requests_by_route_template_method_and_status(
    make_client: Factory, fake_token: FakeTokenService
) -> None:
    client = await make_client()
    admin = await make_client(admin_listener=True)  # /metrics is on the admin listener
    assert (await client.get("/metrics")).status_code == 404
    before = samples((await admin.get("/metrics")).text)
    assert (await client.get("/health")).status_code == 200
    assert (await client.get("/health")).status_code == 200
    token = await client.post(
        "/oauth/token",
        content="grant_type=client_credentials",
        headers={**FORM, **basic("c1", CLIENT_SECRET)},
    )
    assert token.status_code == 200
    assert (await client.get("/no/such/page/4711")).status_code == 404
    assert (await client.get("/oauth/token")).status_code == 405
    scraped = await admin.get("/metrics")
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain; version=0.0.4")
    after = samples(scraped.text)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    requests = "oauth2_http_requests_total"
    assert delta(requests, route="/health", method="GET", status="200") == 2
    assert delta(requests, route="/oauth/token", method="POST", status="200") == 1
    assert delta(requests, route="/oauth/token", method="GET", status="405") == 1
    assert delta(requests, route="unmatched", method="GET", status="404") == 1
    assert delta(requests, route="/metrics", method="GET", status="200") == 1  # the first scrape
    duration = "oauth2_http_request_duration_seconds_count"
    assert delta(duration, route="/health", method="GET", status="200") == 2
    # The raw path never becomes a label value.
    assert "/no/such/page/4711" not in scraped.text
    # The downstream call behind the token request, by the gateway's gRPC client.
    calls = "oauth2_grpc_client_calls_total"
    assert delta(calls, service="oauth2.v1.TokenService", method="Exchange", code="OK") == 1


def server_span(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    found = [s for s in spans if s.kind == SpanKind.SERVER and s.name == name]
    assert len(found) == 1, [(s.kind, s.name) for s in spans]
    return found[0]


async def test_http_spans_are_named_by_route_and_carry_no_secret(
    make_client: Factory, fake_token: FakeTokenService
) -> None:
    with recorded_spans(GatewaySettings()) as exporter:
        client = await make_client()
        await client.get(
            "/oauth/authorize",
            params={
                "response_type": "code",
                "client_id": "c1",
                "redirect_uri": "https://app.example.com/cb",
                "scope": "openid",
                "state": STATE,
                "code_challenge": CHALLENGE,
                "code_challenge_method": "S256",
            },
        )
        await client.post(
            "/oauth/token",
            data={
                "grant_type": "authorization_code",
                "code": CODE,
                "code_verifier": VERIFIER,
                "redirect_uri": "https://app.example.com/cb",
            },
            headers=basic("c1", CLIENT_SECRET),
        )
        await client.get("/no/such/page")
        await client.get("/health")  # probes are not traced
        spans = list(exporter.get_finished_spans())

    authorize = server_span(spans, "GET /oauth/authorize")
    attributes = authorize.attributes or {}
    assert attributes["http.route"] == "/oauth/authorize"
    assert attributes["http.method"] == "GET"
    assert attributes["http.target"] == "/oauth/authorize"
    assert "?" not in str(attributes["http.url"])
    token = server_span(spans, "POST /oauth/token")
    assert (token.attributes or {})["http.status_code"] == 200
    # The gateway's gRPC call is a child of the HTTP span, in the same trace.
    exchange = [s for s in spans if s.name == "oauth2.v1.TokenService/Exchange"]
    assert len(exchange) == 1 and exchange[0].kind == SpanKind.CLIENT
    assert exchange[0].parent is not None
    assert exchange[0].parent.span_id == token.context.span_id
    assert server_span(spans, "GET").attributes is not None  # no route: the method alone
    assert not [s for s in spans if "/health" in s.name]
    assert_no_secret(spans, [STATE, CHALLENGE, CLIENT_SECRET, CODE, VERIFIER])


def count_in_another_worker(directory: Path, route: str, times: int) -> None:
    """A process of its own writes samples, as a uvicorn worker would."""
    worker = (
        "from gateway.metrics import HTTP_REQUESTS\n"
        f"HTTP_REQUESTS.labels({route!r}, 'POST', '200').inc({times})\n"
    )
    subprocess.run(
        [sys.executable, "-c", worker],
        cwd=ROOT,
        env={"PROMETHEUS_MULTIPROC_DIR": str(directory), "PYTHONPATH": f"{ROOT}:{ROOT}/protos"},
        check=True,
    )


def test_multiprocess_metrics_add_up_every_worker(tmp_path: Path) -> None:
    """With PROMETHEUS_MULTIPROC_DIR, samples written by other processes (uvicorn
    workers) are part of every scrape."""
    count_in_another_worker(tmp_path, "/oauth/token", 3)
    count_in_another_worker(tmp_path, "/oauth/token", 4)
    assert list(tmp_path.glob("counter_*.db"))

    body, content_type = render_latest(str(tmp_path))
    assert content_type.startswith("text/plain")
    found = samples(body.decode())
    labels = {"route": "/oauth/token", "method": "POST", "status": "200"}
    assert value(found, "oauth2_http_requests_total", **labels) == 7


async def test_metrics_route_reads_the_multiprocess_directory(
    make_client: Factory, tmp_path: Path
) -> None:
    count_in_another_worker(tmp_path, "/x", 1)
    client = await make_client(prometheus_multiproc_dir=str(tmp_path), admin_listener=True)
    found = samples((await client.get("/metrics")).text)
    assert value(found, "oauth2_http_requests_total", route="/x", method="POST", status="200") == 1


async def test_queued_spans_are_exported_when_the_app_shuts_down() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=60_000))
    app = shutting_down_telemetry(create_app(GatewaySettings()), Telemetry(provider))
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    sent: list[str] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message["type"])
        if message["type"] == "lifespan.startup.complete":
            provider.get_tracer("probe").start_span("queued").end()
            await inbox.put({"type": "lifespan.shutdown"})

    await inbox.put({"type": "lifespan.startup"})
    await app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, inbox.get, send)
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert [span.name for span in exporter.get_finished_spans()] == ["queued"]


async def test_the_span_names_the_client_the_trusted_proxy_chain_gives(
    make_client: Factory,
) -> None:
    with recorded_spans(GatewaySettings()) as exporter:
        # httpx's ASGI transport connects from 127.0.0.1: trust it as the proxy.
        proxied = await make_client(trusted_proxies="127.0.0.1/32")
        await proxied.get(
            "/.well-known/openid-configuration", headers={"X-Forwarded-For": "203.0.113.9"}
        )
        direct = await make_client()
        await direct.get("/oauth/jwks", headers={"X-Forwarded-For": "203.0.113.9"})
        spans = list(exporter.get_finished_spans())
    discovery = server_span(spans, "GET /.well-known/openid-configuration")
    assert (discovery.attributes or {})["client.address"] == "203.0.113.9"
    jwks = server_span(spans, "GET /oauth/jwks")
    assert (jwks.attributes or {})["client.address"] == "127.0.0.1"  # the header ignored


async def test_without_an_exporter_a_request_continues_the_callers_trace(
    make_client: Factory,
) -> None:
    """The unrecorded path (no ASGI instrumentation) still continues ``traceparent``:
    the access log line carries the caller's trace id under a span of its own."""
    trace_id, parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("oauth2-gateway"))
    access = logging.getLogger("gateway.access")
    level = access.level
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    try:
        with installed_telemetry(GatewaySettings()):
            client = await make_client()
            await client.get("/oauth/jwks", headers={"traceparent": f"00-{trace_id}-{parent}-01"})
            await client.get("/oauth/jwks")
    finally:
        access.removeHandler(handler)
        access.setLevel(level)
    continued, fresh = (json.loads(line) for line in stream.getvalue().splitlines())
    assert continued["trace_id"] == trace_id
    assert continued["span_id"] not in ("", parent)
    assert fresh["trace_id"] not in ("", trace_id)


async def test_a_request_whose_caller_did_not_sample_records_no_span(
    make_client: Factory,
) -> None:
    """Exporting, ``traceparent`` flags 00: the sampler follows the caller, so the
    ASGI instrumentation is skipped and nothing is exported; flags 01 is recorded."""
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    with recorded_spans(GatewaySettings()) as exporter:
        client = await make_client()
        for flags in ("00", "01"):
            await client.get(
                "/oauth/jwks", headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-{flags}"}
            )
        spans = list(exporter.get_finished_spans())
    jwks = server_span(spans, "GET /oauth/jwks")
    assert f"{jwks.context.trace_id:032x}" == trace_id
    assert jwks.parent is not None and jwks.parent.trace_flags.sampled
