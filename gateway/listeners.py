"""The gateway's two listeners as uvicorn servers: the public one and the admin
one (``admin_host:admin_port``), either beside the public one on its event loop
(:class:`CompanionServer`, :func:`with_companion`) or in a process of its own
when uvicorn runs several workers (:func:`serve_admin`)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common.logs import configure_logging
from common.settings import load_settings
from common.startup import bind_socket, exit_on_startup_error, setting_hint
from common.telemetry import setup_telemetry
from gateway.app import create_admin_app
from gateway.http_timeouts import slow_client_protocol
from gateway.observability import shutting_down_telemetry
from gateway.settings import GatewaySettings
from gateway.tls import uvicorn_tls


def uvicorn_config(
    app: Any, settings: GatewaySettings, *, admin: bool, **extra: Any
) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=settings.admin_host if admin else settings.host,
        port=settings.admin_port if admin else settings.port,
        # httptools, named rather than uvicorn's "auto": the slow-client deadlines
        # live in its protocol, and "auto" would fall back to h11 without them.
        http=slow_client_protocol(settings),
        timeout_keep_alive=settings.keep_alive_timeout_seconds,
        log_config=None,  # keep common.logs' JSON handler
        access_log=False,  # GatewayMiddleware writes the access log
        server_header=False,
        # gateway/client_address.py alone decides the client address (trusted_proxies).
        proxy_headers=False,
        timeout_graceful_shutdown=max(1, round(settings.drain_seconds)),
        lifespan="on",
        **uvicorn_tls(settings.admin_tls if admin else settings.public_tls),
        **extra,
    )


class CompanionServer(uvicorn.Server):
    """A uvicorn server that leaves the signals to the server it runs beside;
    ``listening`` is set once it accepts connections."""

    def __init__(self, config: uvicorn.Config, sockets: list[socket.socket] | None = None) -> None:
        super().__init__(config)
        self.listening = asyncio.Event()
        #: Bound by the caller beforehand (a taken port is found before start-up).
        self.sockets = sockets

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        await super().serve(sockets or self.sockets)

    async def startup(self, sockets: list[Any] | None = None) -> None:
        await super().startup(sockets)
        self.listening.set()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def with_companion(app: ASGIApp, companion: CompanionServer) -> ASGIApp:
    """``app`` that starts ``companion`` once its own start-up is done and stops
    it (and waits for it) when its own shutdown begins. A companion that cannot
    start (its port is taken) ends the process, as uvicorn does for its own."""
    running: list[asyncio.Task[None]] = []

    async def lifespan(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await app(scope, receive, send)
            return

        async def receive_stopping_companion() -> Message:
            message = await receive()
            if message["type"] == "lifespan.shutdown" and running:
                companion.should_exit = True
                await running.pop()
            return message

        async def send_starting_companion(message: Message) -> None:
            if message["type"] == "lifespan.startup.complete":
                serving = asyncio.get_running_loop().create_task(companion.serve())
                running.append(serving)
                listening = asyncio.get_running_loop().create_task(companion.listening.wait())
                await asyncio.wait([serving, listening], return_when=asyncio.FIRST_COMPLETED)
                listening.cancel()
                if serving.done():
                    running.pop().result()  # re-raise why it could not start
            await send(message)

        await app(scope, receive_stopping_companion, send_starting_companion)

    return lifespan


def serve_admin() -> None:
    """The admin listener of a gateway with several workers, in a process of its own."""
    settings = load_settings(GatewaySettings)
    configure_logging(settings)
    with exit_on_startup_error():
        sock = bind_admin_socket(settings)
    telemetry = setup_telemetry(settings)
    try:
        app = shutting_down_telemetry(create_admin_app(settings), telemetry)
        uvicorn.Server(uvicorn_config(app, settings, admin=True)).run(sockets=[sock])
    finally:
        telemetry.shutdown()


def bind_public_socket(settings: GatewaySettings) -> socket.socket:
    """The public listener's socket, bound: a taken port is one line (common/startup.py)."""
    hint = setting_hint("gateway", "port")
    return bind_socket("gateway", settings.host, settings.port, hint)


def bind_admin_socket(settings: GatewaySettings) -> socket.socket:
    """The admin listener's socket, bound (admin_port must not be 0)."""
    hint = setting_hint("gateway", "admin_port")
    return bind_socket("gateway", settings.admin_host, settings.admin_port, hint)
