"""``oauth2ctl migrate status``: where each service's database stands against the
migrations this version ships, so that an upgrade script can gate on it.

It reads each database with the settings that service reads (``--config`` /
``OAUTH2_CONFIG``, ``DATABASE_URL``, ``<SERVICE>_DATABASE_URL``, else the embedded
default's SQLite file under ``data_dir``) and talks to no service: it works
before anything is started. It never prints a password.

Exit codes, the first that applies: 1 a database could not be read; 4 one is
ahead (a newer release migrated it); 3 one is behind or was never migrated;
0 every one is up to date. 2 is a usage or settings error, as everywhere.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from common.settings import CommonSettings, ConfigError
from oauth2ctl.api import AdminApi
from oauth2ctl.settings import CtlSettings

if TYPE_CHECKING:
    # Alembic and SQLAlchemy are imported by the command itself, not by every oauth2ctl.
    from common.migrations import MigrationStatus

#: The services that own a database, in the order they are reported.
SERVICES = ("clients", "token", "authorize", "admin")


def add_migrate_commands(groups: Any) -> None:
    migrate = groups.add_parser("migrate", help="database migrations of the services")
    actions = migrate.add_subparsers(dest="action", required=True)
    status = actions.add_parser(
        "status",
        help="each service's database revision against this version's head "
        "(exit 0 when all are up to date)",
    )
    status.add_argument(
        "--service",
        dest="services",
        action="append",
        choices=SERVICES,
        help="only this service (repeatable; default: all four)",
    )
    status.set_defaults(command=status_command)


async def status_command(api: AdminApi, args: argparse.Namespace, settings: CtlSettings) -> None:
    """The admin API is not used: the databases are read directly."""
    from common.migrations import status_exit_code

    statuses = await read_statuses(args.services or list(SERVICES), args.config)
    if args.output == "json":
        print(json.dumps([as_json(status) for status in statuses], indent=2))
    else:
        print(status_table(statuses))
    code = status_exit_code(statuses)
    if code:
        raise SystemExit(code)


async def read_statuses(services: list[str], config_file: Path | None) -> list[MigrationStatus]:
    from common.migrations import migration_status

    loaded = [(service, service_settings(service, config_file)) for service in services]
    return list(
        await asyncio.gather(
            *(migration_status(settings, migrations_dir(service)) for service, settings in loaded)
        )
    )


def service_settings(service: str, config_file: Path | None) -> CommonSettings:
    """The service's own settings class, so that its database URL resolves as the
    service resolves it. A bad setting exits 2 with one line that, unlike the
    services' own message, never repeats the value: it may be a URL with a password."""
    module = importlib.import_module(f"services.{service}.settings")
    cls: type[CommonSettings] = getattr(module, f"{service.capitalize()}Settings")
    cls._config_file = config_file
    try:
        return cls()
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(part) for part in err["loc"]) or "?"
        print(f"oauth2ctl: {service}: invalid setting '{key}': {err['msg']}", file=sys.stderr)
    except ConfigError as exc:
        print(f"oauth2ctl: {service}: {exc}", file=sys.stderr)
    raise SystemExit(2)


def migrations_dir(service: str) -> Path:
    package = importlib.import_module(f"services.{service}")
    return Path(str(package.__file__)).parent / "migrations"


def status_table(statuses: list[MigrationStatus]) -> str:
    from common.migrations import describe_status

    rows = [("SERVICE", "CURRENT", "HEAD", "STATE", "DATABASE")]
    for status in statuses:
        rows.append(
            (
                status.service,
                ",".join(status.current) or "-",
                ",".join(status.heads),
                describe_status(status),
                status.location,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True))
        + "  "
        + row[4]
        for row in rows
    )


def as_json(status: MigrationStatus) -> dict[str, Any]:
    return {
        "service": status.service,
        "state": str(status.state),
        "current": list(status.current),
        "heads": list(status.heads),
        "pending": list(status.pending),
        "unknown": list(status.unknown),
        "database": status.location,
        "error": status.error,
    }
