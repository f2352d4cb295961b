"""``python -m gateway [--config FILE]``: the HTTP gateway on uvicorn."""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn

from common.logs import configure_logging
from common.settings import load_settings
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
    telemetry = setup_telemetry(settings)
    try:
        uvicorn.run(
            shutting_down_telemetry(create_app(settings), telemetry),
            host=settings.host,
            port=settings.port,
            log_config=None,  # keep common.logs' JSON handler
            access_log=False,  # GatewayMiddleware writes the access log
            server_header=False,
            timeout_graceful_shutdown=max(1, round(settings.drain_seconds)),
            lifespan="on",
        )
    finally:
        telemetry.shutdown()


if __name__ == "__main__":
    main()
