"""The command line every service shares: ``python -m services.<name> [serve|migrate]``.

Both commands first wait for the database (``startup_timeout_seconds``); an expected
failure to start (that wait, a port in use) is one line on stderr and exit code 2
(common/startup.py).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from common.db import wait_for_database
from common.logs import configure_logging
from common.migrations import (
    describe_status,
    migration_status,
    revisions_from_a_newer_release,
    status_exit_code,
    upgrade,
)
from common.runtime import run, settle_heap
from common.settings import ServiceSettings, load_settings
from common.startup import exit_on_startup_error
from common.telemetry import setup_telemetry

S = TypeVar("S", bound=ServiceSettings)

log = logging.getLogger(__name__)


def run_service(
    settings_cls: type[S],
    migrations_dir: Path | None,
    serve: Callable[[S], Coroutine[Any, Any, None]],
    argv: list[str] | None = None,
) -> None:
    parser = argparse.ArgumentParser(prog=f"oauth2-{settings_cls.PROCESS}")
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "migrate"])
    parser.add_argument("--config", type=Path, default=None, help="TOML settings file")
    parser.add_argument(
        "--status", action="store_true", help="with migrate: report only (exit 0 at head)"
    )
    args = parser.parse_args(argv)
    if args.status and args.command != "migrate":
        parser.error("--status goes with migrate")
    settings = load_settings(settings_cls, args.config)
    configure_logging(settings)
    with exit_on_startup_error():
        if args.command == "migrate" and args.status and migrations_dir is not None:
            # Answers at once, also when the database is away (it says so).
            status = asyncio.run(migration_status(settings, migrations_dir))
            print(f"{settings.PROCESS}: {describe_status(status)} ({status.location})")
            raise SystemExit(status_exit_code([status]))
        asyncio.run(wait_for_database(settings))
        if args.command == "migrate" or settings.migrate_on_start:
            newer = (
                revisions_from_a_newer_release(settings, migrations_dir) if migrations_dir else ()
            )
            if newer:
                # A rollback: the previous version runs on the newer schema, which its
                # migrations kept compatible (deploy/README.md, "Upgrading").
                log.warning(
                    "%s schema is at %s, newer than this version knows: left as it is",
                    settings.service_name,
                    ", ".join(newer),
                )
            elif migrations_dir is not None:
                upgrade(settings, migrations_dir)
                log.info("%s schema is at head", settings.service_name)
            if args.command == "migrate":
                return
        telemetry = setup_telemetry(settings)
        settle_heap()
        try:
            run(serve(settings))
        except KeyboardInterrupt:
            pass
        finally:
            telemetry.shutdown()  # flushes the spans still queued for export
