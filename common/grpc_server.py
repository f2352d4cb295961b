"""Running a grpc.aio server the same way in every service.

Every server gets: the error interceptor (OAuthError -> google.rpc.Status,
anything else -> server_error with nothing leaked), the standard health service
(SERVING per service name; NOT_SERVING while draining), reflection, and a
graceful drain on SIGTERM/SIGINT: health flips to NOT_SERVING so balancers stop
sending (clients watch it: common.grpc_client), and after ``drain_delay_seconds``
in-flight calls get ``drain_seconds`` to finish.

With the ``grpc_tls_*`` settings the port requires a client certificate from the CA
and each call is checked against the caller allow-list (common.grpc_callers);
``grpc_health_port`` adds a plaintext port with the health service alone, for probes.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from oauth2.v1 import mux_pb2_grpc

from common.deadline import budget
from common.dependencies import Dependency, DependencyWatch
from common.errors import OAuthError, ServerError, Unimplemented
from common.grpc_callers import CALLERS, PROCESS_NAMES, CallerAllowListInterceptor, ServicePolicy
from common.grpc_errors import to_status
from common.grpc_mux import MUX_SERVICE, HandlerRegistry, MultiplexServicer, recording_server
from common.grpc_tls import TlsFiles
from common.grpc_types import Req, Resp
from common.metrics import MetricsServer, ServerMetricsInterceptor, start_metrics_server
from common.settings import ServiceSettings
from common.startup import StartupError, check_port, listen_error, setting_hint
from common.telemetry import grpc_server_interceptors

log = logging.getLogger(__name__)


class ErrorInterceptor(grpc.aio.ServerInterceptor):
    """Turns exceptions raised by unary servicer methods into RPC statuses."""

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
        method = handler_call_details.method

        async def guarded(request: Any, context: grpc.aio.ServicerContext[Req, Resp]) -> Any:
            try:
                # The caller's deadline is this call's budget (common.deadline): the
                # calls and Redis commands it makes end when the caller stops waiting.
                with budget(context.time_remaining()):
                    result = inner(request, context)
                    if inspect.isawaitable(result):
                        result = await result
                return result
            except asyncio.CancelledError:
                raise
            except OAuthError as exc:
                if exc.status_code >= 500:
                    log.warning(
                        "%s failed: %s %s", method, exc.error, exc.detail or exc.description
                    )
                await context.abort_with_status(to_status(exc))
            except NotImplementedError:
                await context.abort_with_status(
                    to_status(Unimplemented(f"{method} is not implemented in this release"))
                )
            except Exception as exc:
                if _is_abort(exc):
                    raise
                log.exception("%s failed with an unexpected error", method)
                await context.abort_with_status(to_status(ServerError()))

        return grpc.unary_unary_rpc_method_handler(
            guarded,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


def _is_abort(exc: BaseException) -> bool:
    # context.abort() raises grpc.aio.AbortError; it must travel up untouched.
    return isinstance(exc, grpc.aio.AbortError)


AddServicers = Callable[[grpc.aio.Server], None]


def server_keepalive_options(keepalive_seconds: float) -> list[tuple[str, Any]]:
    """What a server accepts from clients that ping every ``keepalive_seconds``
    (common.grpc_client.keepalive_options): pings on idle connections, as often as
    half that interval (timers drift), so an idle channel is never sent GOAWAY
    too_many_pings; a client pinging faster still earns strikes."""
    interval_ms = int(keepalive_seconds * 1000)
    return [
        ("grpc.keepalive_permit_without_calls", 1),
        # With the gRPC core installed here a server's ping-abuse policy follows this
        # name, not only the documented min_recv one below (without it an idle channel
        # still gets GOAWAY: common/tests/test_grpc_mtls.py); both are set.
        ("grpc.http2.min_ping_interval_without_data_ms", interval_ms // 2),
        ("grpc.http2.min_recv_ping_interval_without_data_ms", interval_ms // 2),
        ("grpc.http2.max_ping_strikes", 2),
    ]


def _health_only_server(
    settings: ServiceSettings, health_servicer: health.aio.HealthServicer
) -> grpc.aio.Server | None:
    """grpc.health.v1 alone on a plaintext port, for probes without a client
    certificate (Kubernetes' native gRPC probes); the same servicer, so it turns
    NOT_SERVING with the main port on SIGTERM."""
    if not settings.grpc_health_port:
        return None
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    _bind(server, settings, "grpc_health_port", None)
    return server


def _bind(
    server: grpc.aio.Server, settings: ServiceSettings, port_field: str, tls: TlsFiles | None
) -> int:
    """Bind ``grpc_host`` and the port in ``port_field``; one that cannot be bound
    is a StartupError naming the port and the settings to change."""
    host, port = settings.grpc_host, int(getattr(settings, port_field))
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    hint = setting_hint(settings.PROCESS, port_field, per_process=True)
    # Checked first: gRPC would log a taken port in lines of its own, and not say why.
    check_port(settings.PROCESS, host, port, hint)
    try:
        if tls is not None:
            bound = server.add_secure_port(address, tls.server_credentials())
        else:
            bound = server.add_insecure_port(address)
    except RuntimeError:  # grpcio raises "Failed to bind" where it once returned 0
        bound = 0
    if bound:
        return int(bound)
    raise StartupError(f"{settings.PROCESS}: cannot listen on {address} ({hint})")


def start_metrics(settings: ServiceSettings) -> MetricsServer | None:
    """The Prometheus endpoint on ``grpc_host:metrics_port`` (none when it is 0)."""
    if not settings.metrics_port:
        return None
    try:
        return start_metrics_server(settings.grpc_host, settings.metrics_port)
    except OSError as exc:
        hint = setting_hint(settings.PROCESS, "metrics_port", per_process=True)
        raise listen_error(
            settings.PROCESS, settings.grpc_host, settings.metrics_port, exc, hint
        ) from None


@dataclass
class BuiltServer:
    """A server with its port bound, not started yet (:func:`build_server`)."""

    server: grpc.aio.Server
    health: health.aio.HealthServicer
    port: int
    tls: bool
    #: The plaintext health-only server on grpc_health_port, if any.
    health_server: grpc.aio.Server | None
    #: The oauth2.v1.Multiplex servicer (common.grpc_mux), told when the server drains.
    mux: MultiplexServicer | None = None


def build_server(
    settings: ServiceSettings,
    add_servicers: AddServicers,
    service_names: Sequence[str],
    interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
) -> BuiltServer:
    """The server every service runs: interceptors, options, health, reflection,
    its port bound (mutual TLS when configured)."""
    tls = TlsFiles.from_settings(settings)
    if tls is not None and tls.common_name() != settings.PROCESS:
        # The others know this process by its certificate's CN: another name means
        # their allow-lists refuse its calls, and its events are recorded under it.
        log.warning(
            "%s: the gRPC certificate's CN is %r, not %r",
            settings.service_name,
            tls.common_name(),
            settings.PROCESS,
        )
    # With mTLS the caller's certificate says who it is: each service then accepts only
    # the callers common.grpc_callers names (no identity, no allow-list, without it).
    # The multiplexed stream is open to every certificate: each of its items is checked
    # against the table under its own method (common.grpc_mux).
    callers = {**CALLERS, MUX_SERVICE: ServicePolicy(PROCESS_NAMES)}
    allow_list = [CallerAllowListInterceptor(callers)] if tls is not None else []
    # Outermost first: the span, then the metrics (which see the final status code).
    chain = [
        *grpc_server_interceptors(),
        ServerMetricsInterceptor(),
        *allow_list,
        *interceptors,
        ErrorInterceptor(),
    ]
    server = grpc.aio.server(
        interceptors=chain,
        options=[
            ("grpc.so_reuseport", 0),
            ("grpc.max_receive_message_length", 4 * 1024 * 1024),
            # Clients re-resolve a headless Service only when a connection ends: ending
            # each one after a few minutes lets new replicas (an HPA scale-up) get traffic.
            ("grpc.max_connection_age_ms", 300_000),
            ("grpc.max_connection_age_grace_ms", 30_000),
            *server_keepalive_options(settings.grpc_keepalive_seconds),
        ],
    )
    # Every method the services register can also be called as an item of a
    # multiplexed stream, through the same interceptor objects as a unary call.
    registry = HandlerRegistry()
    add_servicers(recording_server(server, registry))
    mux = MultiplexServicer(registry, chain)
    mux_pb2_grpc.add_MultiplexServicer_to_server(mux, server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        [*service_names, health.SERVICE_NAME, reflection.SERVICE_NAME], server
    )
    port = _bind(server, settings, "grpc_port", tls)
    return BuiltServer(
        server,
        health_servicer,
        port,
        tls is not None,
        _health_only_server(settings, health_servicer),
        mux,
    )


async def start_server(built: BuiltServer, service_names: Sequence[str]) -> None:
    """Start it and report every service SERVING."""
    await built.server.start()
    if built.health_server is not None:
        await built.health_server.start()
    for name in ["", *service_names]:
        await built.health.set(name, health_pb2.HealthCheckResponse.SERVING)


async def serve(
    settings: ServiceSettings,
    add_servicers: AddServicers,
    service_names: Sequence[str],
    *,
    on_stop: Callable[[], Awaitable[None]] | None = None,
    interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
    ready: asyncio.Event | None = None,
    dependencies: Sequence[Dependency] = (),
) -> None:
    """Serve until SIGTERM/SIGINT, then drain and return. While one of
    ``dependencies`` does not answer, the services are NOT_SERVING
    (common/dependencies.py)."""
    built = build_server(settings, add_servicers, service_names, interceptors)
    server, health_servicer, health_server = built.server, built.health, built.health_server
    # Bound before the gRPC server starts: a taken port stops start-up before any call.
    metrics = start_metrics(settings)
    await start_server(built, service_names)
    watch_task = None
    if dependencies:
        watch = DependencyWatch(
            health_servicer,
            service_names,
            dependencies,
            interval=settings.dependency_check_seconds,
            timeout=min(1.0, settings.dependency_check_seconds),
        )
        watch_task = asyncio.create_task(watch.run(), name="dependency-watch")
    log.info(
        "%s listening on %s:%d (%s)",
        settings.service_name,
        settings.grpc_host,
        built.port,
        "mutual TLS" if built.tls else "plaintext",
    )
    if metrics is not None:
        log.info("%s serves /metrics on port %d", settings.service_name, metrics.port)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        if watch_task is not None:
            watch_task.cancel()
        if metrics is not None:
            metrics.stop_in_background()
        log.info("%s draining for up to %.1fs", settings.service_name, settings.drain_seconds)
        await health_servicer.enter_graceful_shutdown()
        if built.mux is not None:
            # Multiplexed streams outlive calls: their clients are told to open new
            # ones (on the replicas still serving) and to end these.
            built.mux.drain()
        # A grpc.aio server cancels calls that arrive once it is stopping: first let
        # the clients, which watch health, stop sending here.
        await asyncio.sleep(settings.drain_delay_seconds)
        await server.stop(settings.drain_seconds)
        if health_server is not None:
            await health_server.stop(0)
        if on_stop is not None:
            await on_stop()
        log.info("%s stopped", settings.service_name)
