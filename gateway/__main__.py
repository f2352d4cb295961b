"""``python -m gateway [--config FILE]``: the HTTP gateway on uvicorn."""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn

from common.logs import configure_logging
from common.settings import load_settings
from gateway.app import create_app
from gateway.settings import GatewaySettings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="oauth2-gateway")
    parser.add_argument("--config", type=Path, default=None, help="TOML settings file")
    args = parser.parse_args(argv)
    settings = load_settings(GatewaySettings, args.config)
    configure_logging(settings)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,  # keep common.logs' JSON handler
        access_log=False,  # GatewayMiddleware writes the access log
        server_header=False,
        timeout_graceful_shutdown=max(1, round(settings.drain_seconds)),
        lifespan="on",
    )


if __name__ == "__main__":
    main()
