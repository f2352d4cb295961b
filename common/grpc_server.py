"""Running a grpc.aio server the same way in every service.

Every server gets: the error interceptor (OAuthError -> google.rpc.Status,
anything else -> server_error with nothing leaked), the standard health service
(SERVING per service name; NOT_SERVING while draining), reflection, and a
graceful drain on SIGTERM/SIGINT: health flips to NOT_SERVING so balancers stop
sending (clients watch it: common.grpc_client), and after ``drain_delay_seconds``
in-flight calls get ``drain_seconds`` to finish.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from common.errors import OAuthError, ServerError, Unimplemented
from common.grpc_errors import to_status
from common.grpc_types import Req, Resp
from common.metrics import ServerMetricsInterceptor, start_metrics_server
from common.settings import ServiceSettings
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


async def serve(
    settings: ServiceSettings,
    add_servicers: AddServicers,
    service_names: Sequence[str],
    *,
    on_stop: Callable[[], Awaitable[None]] | None = None,
    interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
    ready: asyncio.Event | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT, then drain and return."""
    server = grpc.aio.server(
        # Outermost first: the span, then the metrics (which see the final status code).
        interceptors=[
            *grpc_server_interceptors(),
            ServerMetricsInterceptor(),
            *interceptors,
            ErrorInterceptor(),
        ],
        options=[
            ("grpc.so_reuseport", 0),
            ("grpc.max_receive_message_length", 4 * 1024 * 1024),
            # Clients re-resolve a headless Service only when a connection ends: ending
            # each one after a few minutes lets new replicas (an HPA scale-up) get traffic.
            ("grpc.max_connection_age_ms", 300_000),
            ("grpc.max_connection_age_grace_ms", 30_000),
        ],
    )
    add_servicers(server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        [*service_names, health.SERVICE_NAME, reflection.SERVICE_NAME], server
    )
    address = f"{settings.grpc_host}:{settings.grpc_port}"
    port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"cannot listen on {address}")
    await server.start()
    for name in ["", *service_names]:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info("%s listening on %s:%d", settings.service_name, settings.grpc_host, port)
    metrics = None
    if settings.metrics_port:
        metrics = start_metrics_server(settings.grpc_host, settings.metrics_port)
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
        if metrics is not None:
            metrics.stop_in_background()
        log.info("%s draining for up to %.1fs", settings.service_name, settings.drain_seconds)
        await health_servicer.enter_graceful_shutdown()
        # A grpc.aio server cancels calls that arrive once it is stopping: first let
        # the clients, which watch health, stop sending here.
        await asyncio.sleep(settings.drain_delay_seconds)
        await server.stop(settings.drain_seconds)
        if on_stop is not None:
            await on_stop()
        log.info("%s stopped", settings.service_name)
