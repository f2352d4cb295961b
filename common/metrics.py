"""Prometheus metrics every process shares, and how each process exposes them.

Names follow Prometheus' rules: an ``oauth2_`` prefix, base units (``_seconds``),
``_total`` on counters. gRPC labels are ``service`` (``oauth2.v1.TokenService``),
``method`` (``Exchange``) and ``code`` (the status code name, ``OK``,
``UNAUTHENTICATED``...). Each gRPC service serves ``/metrics`` on its
``metrics_port`` (:func:`start_metrics_server`, from common.grpc_server); the
gateway serves it as a route (:func:`render_latest`).

Metrics of one process only live beside it: gateway.metrics, services/*/metrics.py.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    multiprocess,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from common.grpc_types import Req, Resp
from common.telemetry import record_rpc_code

GRPC_LABELS = ("service", "method", "code")

GRPC_SERVER_REQUESTS = Counter(
    "oauth2_grpc_server_requests_total",
    "gRPC requests handled by this server, by service, method and status code.",
    GRPC_LABELS,
)
GRPC_SERVER_DURATION = Histogram(
    "oauth2_grpc_server_request_duration_seconds",
    "Time this server took to answer a gRPC request.",
    GRPC_LABELS,
)
GRPC_CLIENT_CALLS = Counter(
    "oauth2_grpc_client_calls_total",
    "gRPC calls made by this process, by target service, method and status code.",
    GRPC_LABELS,
)
GRPC_CLIENT_DURATION = Histogram(
    "oauth2_grpc_client_call_duration_seconds",
    "Time a gRPC call made by this process took, retries included.",
    GRPC_LABELS,
)


class LabelledChildren:
    """A counter's and a histogram's children for one label tuple, looked up once.

    ``labels()`` validates, stringifies and takes the metric's lock on every call,
    a measurable share of a request; the label sets here are few and bounded
    (methods or route templates, times status codes), so each pair is kept."""

    def __init__(self, counter: Counter, histogram: Histogram) -> None:
        self._counter = counter
        self._histogram = histogram
        self._children: dict[tuple[str, ...], tuple[Any, Any]] = {}

    def get(self, *labels: str) -> tuple[Any, Any]:
        children = self._children.get(labels)
        if children is None:
            # A race only builds the same pair twice: labels() returns one child.
            children = (self._counter.labels(*labels), self._histogram.labels(*labels))
            self._children[labels] = children
        return children


def split_method(full_method: str | bytes) -> tuple[str, str]:
    """``/oauth2.v1.TokenService/Exchange`` -> (``oauth2.v1.TokenService``, ``Exchange``)."""
    if isinstance(full_method, bytes):
        full_method = full_method.decode()
    service, _, method = full_method.lstrip("/").partition("/")
    return service, method


# --- gRPC ------------------------------------------------------------------------


class ServerMetricsInterceptor(grpc.aio.ServerInterceptor):
    """Counts and times every unary request. It runs outside common.grpc_server's
    ErrorInterceptor, so the code it reads is the one the caller receives."""

    def __init__(self) -> None:
        self._children = LabelledChildren(GRPC_SERVER_REQUESTS, GRPC_SERVER_DURATION)
        self._methods: dict[str, tuple[str, str]] = {}

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Req, Resp] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Req, Resp] | None:
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        # A grpc.aio servicer method: called with the aio context, maybe a coroutine.
        inner: Callable[..., Any] = handler.unary_unary
        full_method: str = handler_call_details.method
        names = self._methods.get(full_method)
        if names is None:
            # Only registered methods get here (continuation found a handler).
            names = self._methods[full_method] = split_method(full_method)
        service, method = names
        children = self._children

        async def measured(request: Any, context: grpc.aio.ServicerContext[Req, Resp]) -> Any:
            started = time.perf_counter()
            code: grpc.StatusCode | None = None
            try:
                result = inner(request, context)
                return await result if inspect.isawaitable(result) else result
            except asyncio.CancelledError:
                code = grpc.StatusCode.CANCELLED
                raise
            except Exception:
                code = context.code() or grpc.StatusCode.UNKNOWN
                raise
            finally:
                code = code or context.code() or grpc.StatusCode.OK
                record_rpc_code(code)
                requests, duration = children.get(service, method, code.name)
                requests.inc()
                duration.observe(time.perf_counter() - started)

        return grpc.unary_unary_rpc_method_handler(
            measured,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


class ClientMetricsInterceptor(grpc.aio.UnaryUnaryClientInterceptor):
    """Counts and times every unary call this process makes."""

    def __init__(self) -> None:
        self._children = LabelledChildren(GRPC_CLIENT_CALLS, GRPC_CLIENT_DURATION)
        self._methods: dict[str | bytes, tuple[str, str]] = {}

    async def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Any],
        client_call_details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        full_method = client_call_details.method
        names = self._methods.get(full_method)
        if names is None:
            # The methods of this process's stubs: a fixed set.
            names = self._methods[full_method] = split_method(full_method)
        service, method = names
        started = time.perf_counter()
        code = grpc.StatusCode.UNKNOWN
        try:
            call = await continuation(client_call_details, request)
            code = await call.code()
            return call
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
            raise
        except asyncio.CancelledError:
            code = grpc.StatusCode.CANCELLED
            raise
        finally:
            calls, duration = self._children.get(service, method, code.name)
            calls.inc()
            duration.observe(time.perf_counter() - started)


# --- database pools ---------------------------------------------------------------


class DatabasePoolCollector(Collector):
    """``oauth2_db_pool_connections{schema,state}`` (checked_out, idle, overflow) and
    ``oauth2_db_pool_size{schema}``, read from each watched engine's pool at scrape time."""

    def __init__(self) -> None:
        self._engines: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def watch(self, engine: Any, schema: str) -> None:
        with self._lock:
            self._engines[getattr(engine, "sync_engine", engine)] = schema

    def collect(self) -> Iterator[GaugeMetricFamily]:
        connections = GaugeMetricFamily(
            "oauth2_db_pool_connections",
            "Database connections of this process's pool, by state.",
            labels=["schema", "state"],
        )
        size = GaugeMetricFamily(
            "oauth2_db_pool_size",
            "Configured size of this process's database pool (overflow not included).",
            labels=["schema"],
        )
        usage: dict[tuple[str, str], float] = {}
        sizes: dict[str, float] = {}
        with self._lock:
            engines = list(self._engines.items())
        for engine, schema in engines:
            pool = engine.pool
            for state, reading in (
                ("checked_out", "checkedout"),
                ("idle", "checkedin"),
                ("overflow", "overflow"),
            ):
                read = getattr(pool, reading, None)
                if read is not None:
                    usage[schema, state] = usage.get((schema, state), 0) + max(0, read())
            pool_size = getattr(pool, "size", None)
            if pool_size is not None:
                sizes[schema] = sizes.get(schema, 0) + pool_size()
        for (schema, state), value in sorted(usage.items()):
            connections.add_metric([schema, state], value)
        for schema, value in sorted(sizes.items()):
            size.add_metric([schema], value)
        yield connections
        yield size


DATABASE_POOLS = DatabasePoolCollector()
REGISTRY.register(DATABASE_POOLS)


def watch_engine_pool(engine: Any, schema: str) -> None:
    DATABASE_POOLS.watch(engine, schema)


# --- exposition -------------------------------------------------------------------


@dataclass
class MetricsServer:
    """prometheus_client's HTTP server on its own thread; ``port`` as bound."""

    server: Any
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    def stop(self) -> None:
        # shutdown() waits for the serving loop's next poll, up to half a second.
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def stop_in_background(self) -> threading.Thread:
        """``stop`` without blocking the event loop; join the thread to wait for it."""
        stopper = threading.Thread(target=self.stop, name="metrics-server-stop", daemon=True)
        stopper.start()
        return stopper


def start_metrics_server(host: str, port: int) -> MetricsServer:
    """Serve ``/metrics`` of the default registry on ``host:port`` (0: any free port)."""
    server, thread = start_http_server(port, addr=host)
    return MetricsServer(server, thread)


def render_latest(multiprocess_dir: str | None = None, accept: str = "") -> tuple[bytes, str]:
    """The exposition the scraper's ``accept`` header asks for (Prometheus text
    format by default, OpenMetrics when asked) and its content type.

    With ``multiprocess_dir`` (PROMETHEUS_MULTIPROC_DIR, when the gateway runs
    several uvicorn workers) every worker writes its samples to files there and a
    scrape of any worker merges all of them, so the counts are those of the whole
    gateway rather than of whichever worker answered. prometheus_client decides
    at import time whether to write such files: the variable must be set in the
    environment before the workers start, and the directory emptied at each start.
    """
    encode, content_type = choose_encoder(accept)
    if multiprocess_dir:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=multiprocess_dir)
        return encode(registry), content_type
    return encode(REGISTRY), content_type
