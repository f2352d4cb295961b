"""Tracing in one process: the provider, gRPC client -> server parent links, SQL and
Redis spans without values, log lines inside a request carrying its ids, and
the OTLP export to a receiver built on the opentelemetry-proto service."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import grpc
import httpx
import pytest
from google.protobuf import empty_pb2
from oauth2.v1 import token_pb2, token_pb2_grpc
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from common import errors
from common.db import create_engine
from common.grpc_client import ServiceClient
from common.grpc_server import serve
from common.grpc_types import Context
from common.kv import RedisKeyValue
from common.logs import JsonFormatter, configure_logging
from common.services import TokenClient
from common.settings import CommonSettings, ServiceSettings
from common.telemetry import sanitize, strip_query
from oauth2ctl.devrun import free_port
from tests.otlp_receiver import OtlpReceiver
from tests.telemetry_support import assert_no_secret, installed_telemetry, recorded_spans

SECRET = "s3cr3t-Value-0f-a-T0ken"
SERVICE = "oauth2.v1.TokenService"


class ProbeSettings(ServiceSettings):
    PROCESS: ClassVar[str] = "probe"


def settings(**overrides: Any) -> ProbeSettings:
    return ProbeSettings(**overrides)


# --- provider --------------------------------------------------------------------


def test_setup_installs_the_provider_with_service_name_and_sampler() -> None:
    exporting = settings(otel_sampling_ratio=0.25, otel_exporter_otlp_endpoint="http://127.0.0.1:1")
    with installed_telemetry(exporting) as telemetry:
        provider = trace.get_tracer_provider()
        assert provider is telemetry.provider
        assert isinstance(provider, TracerProvider)
        assert provider.resource.attributes["service.name"] == "oauth2-probe"
        assert provider.resource.attributes["service.instance.id"]
        description = provider.sampler.get_description()
        assert description.startswith("ParentBased")
        assert "TraceIdRatioBased{0.25}" in description
        assert isinstance(propagate.get_global_textmap(), TraceContextTextMapPropagator)


def test_without_an_exporter_nothing_is_recorded_but_ids_exist() -> None:
    with installed_telemetry(settings(otel_sampling_ratio=0.25)) as telemetry:
        assert telemetry.provider.sampler.get_description() == "AlwaysOffSampler"
        # Spans still get real ids: logs, audit events and traceparent carry them.
        with trace.get_tracer("t").start_as_current_span("x") as span:
            assert span.get_span_context().is_valid
            assert not span.is_recording()


def test_the_service_name_is_the_process_name() -> None:
    assert CommonSettings().service_name == "oauth2-common"
    assert ProbeSettings().service_name == "oauth2-probe"


# --- gRPC ------------------------------------------------------------------------

request_log = logging.getLogger("probe.servicer")


class ProbeToken(token_pb2_grpc.TokenServiceServicer):
    async def GetJwks(self, request: empty_pb2.Empty, context: Context) -> token_pb2.Jwks:
        request_log.info("answering GetJwks")
        return token_pb2.Jwks(keys=[token_pb2.JsonWebKey(kid="k1")])

    async def Introspect(
        self, request: token_pb2.IntrospectRequest, context: Context
    ) -> token_pb2.IntrospectResponse:
        raise errors.InvalidClient("Client authentication failed")


@contextlib.asynccontextmanager
async def running_service(probe: ProbeSettings) -> AsyncIterator[str]:
    """common.grpc_server.serve on the probe servicer; yields its target."""
    ready = asyncio.Event()

    def add(server: grpc.aio.Server) -> None:
        token_pb2_grpc.add_TokenServiceServicer_to_server(ProbeToken(), server)

    task = asyncio.create_task(serve(probe, add, [SERVICE], ready=ready))
    await asyncio.wait_for(ready.wait(), 5)
    try:
        yield f"127.0.0.1:{probe.grpc_port}"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def token_client(target: str) -> TokenClient:
    return ServiceClient(token_pb2_grpc.TokenServiceStub, target, SERVICE, deadline=2)


def one(spans: list[ReadableSpan], kind: SpanKind, name: str) -> ReadableSpan:
    found = [s for s in spans if s.kind == kind and s.name == name]
    assert len(found) == 1, [(s.kind, s.name) for s in spans]
    return found[0]


async def test_client_span_is_the_parent_of_the_server_span_and_logs_carry_its_ids() -> None:
    probe = settings(grpc_port=free_port(), drain_seconds=0)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(probe.service_name))
    request_log.addHandler(handler)
    request_log.setLevel(logging.INFO)
    try:
        with recorded_spans(probe) as exporter:
            async with running_service(probe) as target:
                client = token_client(target)
                try:
                    with trace.get_tracer("test").start_as_current_span("caller") as caller:
                        await client.call.GetJwks(empty_pb2.Empty())
                        with pytest.raises(errors.InvalidClient):
                            await client.call.Introspect(token_pb2.IntrospectRequest(token=SECRET))
                finally:
                    await client.close()
            spans = list(exporter.get_finished_spans())
    finally:
        request_log.removeHandler(handler)

    name = f"{SERVICE}/GetJwks"
    client_span = one(spans, SpanKind.CLIENT, name)
    server_span = one(spans, SpanKind.SERVER, name)
    assert client_span.parent is not None and server_span.parent is not None
    assert client_span.parent.span_id == caller.get_span_context().span_id
    assert server_span.parent.span_id == client_span.context.span_id
    assert server_span.parent.is_remote
    assert server_span.context.trace_id == caller.get_span_context().trace_id
    assert server_span.attributes is not None
    assert server_span.attributes["rpc.system"] == "grpc"
    assert server_span.attributes["rpc.service"] == SERVICE
    assert server_span.attributes["rpc.method"] == "GetJwks"
    assert server_span.attributes["rpc.grpc.status_code"] == 0

    unauthenticated = grpc.StatusCode.UNAUTHENTICATED.value[0]
    for kind in (SpanKind.CLIENT, SpanKind.SERVER):
        failed = one(spans, kind, f"{SERVICE}/Introspect")
        assert (failed.attributes or {})["rpc.grpc.status_code"] == unauthenticated
    # A client's mistake is no error of the server's (RPC semantic conventions).
    assert one(spans, SpanKind.SERVER, f"{SERVICE}/Introspect").status.status_code.name == "UNSET"
    # Health checks are not traced.
    assert not [s for s in spans if "Health" in s.name]
    assert_no_secret(spans, [SECRET])

    line = json.loads(stream.getvalue().splitlines()[0])
    assert line["message"] == "answering GetJwks"
    assert line["service"] == "oauth2-probe"
    assert line["trace_id"] == f"{server_span.context.trace_id:032x}"
    assert line["span_id"] == f"{server_span.context.span_id:016x}"


async def test_without_an_exporter_the_trace_still_crosses_the_call() -> None:
    """Nothing is recorded and the instrumentation is skipped, yet the server's log
    line carries the caller's trace id, under a span id of the server's own."""
    probe = settings(grpc_port=free_port(), drain_seconds=0)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(probe.service_name))
    request_log.addHandler(handler)
    request_log.setLevel(logging.INFO)
    try:
        with installed_telemetry(probe) as telemetry:
            assert telemetry.provider.sampler.get_description() == "AlwaysOffSampler"
            async with running_service(probe) as target:
                client = token_client(target)
                try:
                    with trace.get_tracer("test").start_as_current_span("caller") as caller:
                        assert not caller.is_recording()
                        await client.call.GetJwks(empty_pb2.Empty())
                    await client.call.GetJwks(empty_pb2.Empty())  # outside any span
                finally:
                    await client.close()
    finally:
        request_log.removeHandler(handler)
    within, outside = (json.loads(line) for line in stream.getvalue().splitlines()[:2])
    assert within["trace_id"] == f"{caller.get_span_context().trace_id:032x}"
    assert within["span_id"] not in ("", f"{caller.get_span_context().span_id:016x}")
    assert outside["trace_id"] and outside["trace_id"] != within["trace_id"]


async def test_a_caller_that_did_not_sample_gets_no_spans_but_keeps_its_trace() -> None:
    """Exporting, under a parent that was not sampled (ParentBased): neither the
    client nor the server span is recorded, and the server still logs the trace id."""
    probe = settings(grpc_port=free_port(), drain_seconds=0)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(probe.service_name))
    request_log.addHandler(handler)
    request_log.setLevel(logging.INFO)
    remote = trace.SpanContext(
        0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7, is_remote=True
    )
    unsampled = trace.set_span_in_context(trace.NonRecordingSpan(remote))
    try:
        with recorded_spans(probe) as exporter:
            async with running_service(probe) as target:
                client = token_client(target)
                try:
                    with trace.get_tracer("test").start_as_current_span("u", context=unsampled):
                        await client.call.GetJwks(empty_pb2.Empty())
                    with trace.get_tracer("test").start_as_current_span("sampled"):
                        await client.call.GetJwks(empty_pb2.Empty())
                finally:
                    await client.close()
            spans = list(exporter.get_finished_spans())
    finally:
        request_log.removeHandler(handler)
    assert [s.kind for s in spans if s.name == f"{SERVICE}/GetJwks"].count(SpanKind.SERVER) == 1
    unrecorded = json.loads(stream.getvalue().splitlines()[0])
    assert unrecorded["trace_id"] == f"{remote.trace_id:032x}"
    assert all(s.context.trace_id != remote.trace_id for s in spans)


def metric_samples(text_format: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    samples = {}
    for family in text_string_to_metric_families(text_format):
        for sample in family.samples:
            samples[sample.name, frozenset(sample.labels.items())] = sample.value
    return samples


def sample(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_service_metrics_port_counts_requests_by_method_and_code() -> None:
    probe = settings(grpc_port=free_port(), metrics_port=free_port(), drain_seconds=0)
    async with running_service(probe) as target:
        url = f"http://127.0.0.1:{probe.metrics_port}/metrics"
        async with httpx.AsyncClient() as http:
            before = metric_samples((await http.get(url)).text)
            client = token_client(target)
            try:
                await client.call.GetJwks(empty_pb2.Empty())
                await client.call.GetJwks(empty_pb2.Empty())
                with pytest.raises(errors.InvalidClient):
                    await client.call.Introspect(token_pb2.IntrospectRequest())
            finally:
                await client.close()
            scraped = await http.get(url)
    assert scraped.status_code == 200
    after = metric_samples(scraped.text)

    def delta(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    ok = {"service": SERVICE, "method": "GetJwks", "code": "OK"}
    denied = {"service": SERVICE, "method": "Introspect", "code": "UNAUTHENTICATED"}
    assert delta("oauth2_grpc_server_requests_total", **ok) == 2
    assert delta("oauth2_grpc_server_requests_total", **denied) == 1
    assert delta("oauth2_grpc_server_request_duration_seconds_count", **ok) == 2
    assert delta("oauth2_grpc_server_request_duration_seconds_bucket", le="+Inf", **ok) == 2
    assert delta("oauth2_grpc_client_calls_total", **ok) == 2
    assert delta("oauth2_grpc_client_calls_total", **denied) == 1
    assert delta("oauth2_grpc_client_call_duration_seconds_count", **denied) == 1


# --- SQL ----------------------------------------------------------------------------


async def test_sql_spans_carry_statements_with_placeholders_only(
    database_url: tuple[str, str],
) -> None:
    url, schema = database_url
    probe = settings(database_url=url, database_schema=schema)
    with recorded_spans(probe) as exporter:
        engine = create_engine(probe)
        try:
            async with engine.begin() as conn:
                if not url.startswith("sqlite"):
                    await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
                await conn.execute(
                    text("CREATE TABLE probe_secrets (value VARCHAR(64) PRIMARY KEY)")
                )
                await conn.execute(text("INSERT INTO probe_secrets VALUES (:v)"), {"v": SECRET})
                found = await conn.execute(
                    text("SELECT value FROM probe_secrets WHERE value = :v"), {"v": SECRET}
                )
                assert found.scalar_one() == SECRET
                # Hand-written SQL with a literal: the literal is replaced too.
                await conn.execute(text(f"SELECT '{SECRET}'"))
            with pytest.raises(Exception, match="probe_secrets") as caught:
                async with engine.begin() as conn:
                    await conn.execute(text("INSERT INTO probe_secrets VALUES (:v)"), {"v": SECRET})
            assert SECRET not in str(caught.value)  # hide_parameters
        finally:
            await engine.dispose()
        spans = list(exporter.get_finished_spans())

    statements = [
        str((s.attributes or {}).get("db.statement")) for s in spans if s.kind == SpanKind.CLIENT
    ]
    assert any(st.startswith("INSERT INTO probe_secrets VALUES") for st in statements), statements
    assert any(st.startswith("SELECT value FROM probe_secrets") for st in statements)
    assert "SELECT ?" in statements
    dialect = "sqlite" if url.startswith("sqlite") else "postgresql"
    assert all((s.attributes or {}).get("db.system") == dialect for s in spans)
    assert_no_secret(spans, [SECRET])


async def test_database_pool_usage_is_exported(database_url: tuple[str, str]) -> None:
    url, schema = database_url
    probe = settings(database_url=url, database_schema=f"{schema}_pool")
    engine = create_engine(probe)
    labels = {"schema": probe.db_schema}
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            checked_out = REGISTRY.get_sample_value(
                "oauth2_db_pool_connections", {**labels, "state": "checked_out"}
            )
            assert checked_out == 1
        idle = REGISTRY.get_sample_value("oauth2_db_pool_connections", {**labels, "state": "idle"})
        assert idle == 1
        assert (REGISTRY.get_sample_value("oauth2_db_pool_size", labels) or 0) >= 1
    finally:
        await engine.dispose()


# --- Redis -----------------------------------------------------------------------


async def test_redis_spans_name_the_command_only(redis_url: str, redis_prefix: str) -> None:
    with recorded_spans(settings()) as exporter:
        kv = RedisKeyValue(redis_url, redis_prefix)
        try:
            await kv.set(f"probe:{SECRET}", SECRET, ttl=5)
            assert await kv.get(f"probe:{SECRET}") == SECRET.encode()
            assert await kv.incr("probe:count", ttl=5) >= 1
            await kv.delete(f"probe:{SECRET}", "probe:count")
        finally:
            await kv.close()
        spans = list(exporter.get_finished_spans())

    redis_spans = [s for s in spans if (s.attributes or {}).get("db.system") == "redis"]
    assert {s.name for s in redis_spans} >= {"SET", "GET", "DEL"}
    statements = {str((s.attributes or {}).get("db.statement")) for s in redis_spans}
    # incr is one Lua script (atomic on Cluster too): its statement is the command only.
    assert statements == {"SET", "GET", "DEL", "EVALSHA"}
    assert all(s.kind == SpanKind.CLIENT for s in redis_spans)
    assert_no_secret(spans, [SECRET])


# --- sanitizing ----------------------------------------------------------------------


def test_sanitize_cuts_queries_and_drops_credentials() -> None:
    clean = sanitize(
        {
            "http.url": f"https://user:pw@auth.example.com/oauth/authorize?state={SECRET}#x",
            "http.target": f"/oauth/authorize?code_challenge={SECRET}",
            "url.query": f"state={SECRET}",
            "url.full": f"https://auth.example.com/cb?code={SECRET}",
            "http.request.header.authorization": (f"Basic {SECRET}",),
            "http.request.header.cookie": (SECRET,),
            "http.request.header.user_agent": ("probe",),
            "http.route": "/oauth/authorize",
        }
    )
    assert clean == {
        "http.url": "https://auth.example.com/oauth/authorize",
        "http.target": "/oauth/authorize",
        "url.full": "https://auth.example.com/cb",
        "http.request.header.user_agent": ("probe",),
        "http.route": "/oauth/authorize",
    }


def test_sanitize_statements() -> None:
    assert sanitize({"db.system": "redis", "db.statement": f"SET {SECRET} ?\nGET {SECRET}"}) == {
        "db.system": "redis",
        "db.statement": "SET\nGET",
    }
    assert sanitize({"db.system": "postgresql", "db.statement": "SELECT 'it''s' WHERE a = $1"})[
        "db.statement"
    ] == ("SELECT ? WHERE a = $1")


def test_strip_query() -> None:
    assert strip_query("/a/b?c=d") == "/a/b"
    assert strip_query("http://h:1/p#f") == "http://h:1/p"


# --- logs --------------------------------------------------------------------------


def test_log_level_comes_from_the_setting() -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        configure_logging(settings(log_level="WARNING"))
        assert root.level == logging.WARNING
        assert isinstance(root.handlers[0].formatter, JsonFormatter)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def test_log_lines_outside_a_span_have_empty_ids() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
    line = json.loads(JsonFormatter("oauth2-probe").format(record))
    assert set(line) >= {"time", "level", "service", "message", "trace_id", "span_id"}
    assert line["trace_id"] == "" and line["span_id"] == ""


# --- OTLP export ----------------------------------------------------------------------


async def test_spans_reach_an_otlp_receiver_with_the_service_name() -> None:
    with OtlpReceiver() as receiver:
        probe = settings(otel_exporter_otlp_endpoint=receiver.endpoint)
        with installed_telemetry(probe) as telemetry:
            tracer = trace.get_tracer("probe")
            with tracer.start_as_current_span("parent") as parent:
                with tracer.start_as_current_span(
                    "child", attributes={"http.url": f"http://h/p?code={SECRET}"}
                ):
                    pass
            # The flush blocks this thread; the receiver answers from its own.
            assert await asyncio.to_thread(telemetry.force_flush)
        spans = await receiver.async_wait_for(lambda spans: len(spans) >= 2)

    by_name = {s.name: s for s in spans}
    assert by_name["parent"].service_name == "oauth2-probe"
    assert by_name["child"].parent_span_id == by_name["parent"].span_id
    assert by_name["child"].trace_id == f"{parent.get_span_context().trace_id:032x}"
    assert by_name["child"].attributes["http.url"] == "http://h/p"
    assert by_name["parent"].parent_span_id == ""
    assert not [text for s in spans for text in s.strings() if SECRET in text]
