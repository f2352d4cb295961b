"""``oauth2ctl``: manage the authorization server from a terminal.

It reads the same settings as the services (``--config`` / ``OAUTH2_CONFIG``,
then ``OAUTH2_*`` variables), so with no flags it reaches a default
``make run``. Failures are one line on stderr and exit code 1; usage errors
exit 2 (argparse).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from oauth2.v1 import clients_pb2_grpc

from common.errors import OAuthError, TemporarilyUnavailable
from common.grpc_client import ServiceClient
from common.settings import load_settings
from oauth2ctl import commands
from oauth2ctl.settings import CtlSettings

Command = Callable[[Any, argparse.Namespace, CtlSettings], Awaitable[None]]

AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="oauth2ctl", description="Manage the OAuth 2.1 authorization server."
    )
    parser.add_argument("--config", type=Path, default=None, help="TOML settings file")
    groups = parser.add_subparsers(dest="group", required=True, metavar="{client}")
    client = groups.add_parser("client", help="OAuth clients (RFC 6749 section 2)")
    actions = client.add_subparsers(dest="action", required=True)

    create = actions.add_parser("create", help="register a client")
    create.add_argument("--name", required=True, help="client_name")
    create.add_argument(
        "--grant-type",
        dest="grant_types",
        action="append",
        metavar="G",
        help="a grant type the client may use (repeatable)",
    )
    create.add_argument(
        "--redirect-uri",
        dest="redirect_uris",
        action="append",
        metavar="URI",
        help="an exact redirect URI (repeatable)",
    )
    create.add_argument("--scope", help='space-separated scopes the client may ask for: "a b"')
    create.add_argument(
        "--auth-method",
        choices=AUTH_METHODS,
        help="token_endpoint_auth_method (default: client_secret_basic)",
    )
    create.add_argument(
        "--get-token",
        action="store_true",
        help="then get an access token with client_credentials through the gateway",
    )
    create.add_argument("--json", action="store_true", help="print JSON")
    create.set_defaults(command=commands.create)

    listing = actions.add_parser("list", help="list clients")
    listing.add_argument("--search", help="substring of client_id or client_name")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(command=commands.list_clients)

    show = actions.add_parser("show", help="show one client")
    show.add_argument("client_id")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(command=commands.show)

    delete = actions.add_parser("delete", help="delete a client")
    delete.add_argument("client_id")
    delete.set_defaults(command=commands.delete)

    rotate = actions.add_parser("rotate-secret", help="replace a client's secret")
    rotate.add_argument("client_id")
    rotate.add_argument("--json", action="store_true", help="print JSON")
    rotate.set_defaults(command=commands.rotate_secret)
    return parser


async def run(command: Command, args: argparse.Namespace, settings: CtlSettings) -> None:
    clients = ServiceClient(
        clients_pb2_grpc.ClientsServiceStub,
        settings.clients_target,
        "oauth2.v1.ClientsService",
        deadline=settings.grpc_deadline_seconds,
    )
    try:
        await command(clients, args, settings)
    except TemporarilyUnavailable as exc:
        if exc.detail:  # it came from the gRPC channel, not from the gateway
            raise TemporarilyUnavailable(
                f"the clients service at {settings.clients_target} did not answer; "
                "is the system running (make run)?"
            ) from None
        raise
    finally:
        await clients.close()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = load_settings(CtlSettings, args.config)
    try:
        asyncio.run(run(args.command, args, settings))
    except OAuthError as exc:
        message = f"{exc.error}: {exc.description}" if exc.description else exc.error
        print(f"oauth2ctl: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
