"""``python -m gateway [--config FILE]``: the HTTP gateway on uvicorn."""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp

from common.logs import configure_logging
from common.settings import CONFIG_ENV, load_settings
from common.telemetry import setup_telemetry
from gateway.app import create_app
from gateway.observability import shutting_down_telemetry
from gateway.settings import GatewaySettings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="oauth2-gateway")
    parser.add_argument("--config", type=Path, default=None, help="TOML settings file")
    args = parser.parse_args(argv)
    settings = load_settings(GatewaySettings, args.config)
    configure_logging(settings)
    if settings.workers > 1:
        run_workers(settings, args.config)
        return
    telemetry = setup_telemetry(settings)
    try:
        uvicorn.run(
            shutting_down_telemetry(create_app(settings), telemetry),
            host=settings.host,
            port=settings.port,
            log_config=None,  # keep common.logs' JSON handler
            access_log=False,  # GatewayMiddleware writes the access log
            server_header=False,
            # gateway/client_address.py alone decides the client address (trusted_proxies).
            proxy_headers=False,
            timeout_graceful_shutdown=max(1, round(settings.drain_seconds)),
            lifespan="on",
        )
    finally:
        telemetry.shutdown()


def run_workers(settings: GatewaySettings, config: Path | None) -> None:
    """Several uvicorn workers: each builds its app in :func:`worker_app`. Workers are
    spawned processes, so what they need travels in the environment they inherit."""
    if config is not None:
        os.environ[CONFIG_ENV] = str(config)
    if not settings.prometheus_multiproc_dir:
        # Every worker writes its samples here; GET /metrics adds them up.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="oauth2-metrics-")
    uvicorn.run(
        "gateway.__main__:worker_app",
        factory=True,
        workers=settings.workers,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        server_header=False,
        # gateway/client_address.py alone decides the client address (trusted_proxies).
        proxy_headers=False,
        timeout_graceful_shutdown=max(1, round(settings.drain_seconds)),
        lifespan="on",
    )


def worker_app() -> ASGIApp:
    """The app of one worker process (uvicorn calls it after spawning the worker)."""
    settings = load_settings(GatewaySettings)
    configure_logging(settings)
    return shutting_down_telemetry(create_app(settings), setup_telemetry(settings))


if __name__ == "__main__":
    main()
