"""``python -m gateway [--config FILE]``: the HTTP gateway on uvicorn.

Two listeners: the public one (``host:port``) and the admin one
(``admin_host:admin_port``, the admin API and /metrics; off when the port is
0). In one process both are uvicorn servers on one event loop: the admin server
starts with the public app and stops when it drains (SIGTERM reaches the
public server, which owns the signal handlers). With several workers the
workers serve the public listener and one more process, started beside them,
the admin listener.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import shutil
import tempfile
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp

from common.logs import configure_logging
from common.runtime import settle_heap
from common.settings import CONFIG_ENV, load_settings
from common.startup import exit_on_startup_error, wait_for_redis
from common.telemetry import setup_telemetry
from gateway.app import create_admin_app, create_app
from gateway.listeners import (
    CompanionServer,
    bind_admin_socket,
    bind_public_socket,
    serve_admin,
    uvicorn_config,
    with_companion,
)
from gateway.observability import shutting_down_telemetry
from gateway.settings import GatewaySettings
from gateway.tls import uvicorn_tls


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="oauth2-gateway")
    parser.add_argument("--config", type=Path, default=None, help="TOML settings file")
    args = parser.parse_args(argv)
    settings = load_settings(GatewaySettings, args.config)
    configure_logging(settings)
    with exit_on_startup_error():
        # Bound first: a taken port is one line (common/startup.py), and is held while
        # Redis is waited for.
        public = bind_public_socket(settings)
        admin_socket = bind_admin_socket(settings) if settings.admin_port else None
        asyncio.run(wait_for_redis(settings))
    if settings.workers > 1:
        # uvicorn's supervisor and the admin process bind their own: both were free.
        public.close()
        if admin_socket is not None:
            admin_socket.close()
        run_workers(settings, args.config)
        return
    telemetry = setup_telemetry(settings)
    try:
        app = shutting_down_telemetry(create_app(settings), telemetry)
        if admin_socket is not None:
            admin = CompanionServer(
                uvicorn_config(create_admin_app(settings), settings, admin=True),
                sockets=[admin_socket],
            )
            app = with_companion(app, admin)
        server = uvicorn.Server(uvicorn_config(app, settings, admin=False))
        settle_heap()
        server.run(sockets=[public])
    finally:
        telemetry.shutdown()


def run_workers(settings: GatewaySettings, config: Path | None) -> None:
    """Several uvicorn workers: each builds its app in :func:`worker_app`. Workers are
    spawned processes, so what they need travels in the environment they inherit.
    The admin listener is one more spawned process (:func:`serve_admin`)."""
    if config is not None:
        os.environ[CONFIG_ENV] = str(config)
    made_dir = None
    if not settings.prometheus_multiproc_dir:
        # Every worker writes its samples here; GET /metrics adds them up. Ours,
        # so removed on stop (one given in the settings is the operator's).
        made_dir = tempfile.mkdtemp(prefix="oauth2-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = made_dir
    admin = None
    if settings.admin_port:
        admin = multiprocessing.get_context("spawn").Process(
            target=serve_admin, name="oauth2-gateway-admin"
        )
        admin.start()
    try:
        uvicorn.run(
            "gateway.__main__:worker_app",
            factory=True,
            workers=settings.workers,
            host=settings.host,
            port=settings.port,
            # The class travels to the spawned workers by name (gateway/http_timeouts.py).
            http="gateway.http_timeouts:WorkerSlowClientProtocol",
            timeout_keep_alive=settings.keep_alive_timeout_seconds,
            log_config=None,
            access_log=False,
            server_header=False,
            # gateway/client_address.py alone decides the client address (trusted_proxies).
            proxy_headers=False,
            timeout_graceful_shutdown=max(1, round(settings.drain_seconds)),
            lifespan="on",
            # Each worker loads (and reloads) the certificate itself.
            **uvicorn_tls(settings.public_tls),
        )
    finally:
        if admin is not None:
            admin.terminate()  # SIGTERM: it drains like the workers did
            admin.join(timeout=max(2.0, settings.drain_seconds + 1))
            if admin.is_alive():
                admin.kill()
        if made_dir is not None:
            shutil.rmtree(made_dir, ignore_errors=True)


def worker_app() -> ASGIApp:
    """The app of one worker process (uvicorn calls it after spawning the worker)."""
    settings = load_settings(GatewaySettings)
    configure_logging(settings)
    app = shutting_down_telemetry(create_app(settings), setup_telemetry(settings))
    settle_heap()
    return app


if __name__ == "__main__":
    main()
