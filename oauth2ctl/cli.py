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

from oauth2.v1 import authorize_pb2_grpc, clients_pb2_grpc

from common.errors import OAuthError, TemporarilyUnavailable
from common.grpc_client import ServiceClient
from common.settings import load_settings
from oauth2ctl import commands, user_commands
from oauth2ctl.settings import CtlSettings

Command = Callable[[Any, argparse.Namespace, CtlSettings], Awaitable[None]]

AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="oauth2ctl", description="Manage the OAuth 2.1 authorization server."
    )
    parser.add_argument("--config", type=Path, default=None, help="TOML settings file")
    groups = parser.add_subparsers(dest="group", required=True, metavar="{client,user}")
    client = groups.add_parser("client", help="OAuth clients (RFC 6749 section 2)")
    client.set_defaults(service="clients")
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
        "--post-logout-redirect-uri",
        dest="post_logout_redirect_uris",
        action="append",
        metavar="URI",
        help="an exact post_logout_redirect_uri (repeatable)",
    )
    create.add_argument(
        "--no-require-pkce",
        dest="require_pkce",
        action="store_false",
        help="let this confidential client omit PKCE (public clients always need it)",
    )
    create.add_argument(
        "--always-issue-refresh-token",
        action="store_true",
        help="issue refresh tokens even without the offline_access scope",
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

    add_user_commands(groups)
    return parser


def add_password_options(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--password", help="the password (at least 8 characters)")
    source.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input",
    )


def add_user_commands(groups: Any) -> None:
    user = groups.add_parser("user", help="people who sign in")
    user.set_defaults(service="authorize")
    actions = user.add_subparsers(dest="action", required=True)

    create = actions.add_parser("create", help="create a user")
    create.add_argument("--username", required=True)
    add_password_options(create)
    create.add_argument("--email")
    create.add_argument("--given-name")
    create.add_argument("--family-name")
    create.add_argument("--json", action="store_true", help="print JSON")
    create.set_defaults(command=user_commands.create)

    listing = actions.add_parser("list", help="list users")
    listing.add_argument("--search", help="substring of username or email")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(command=user_commands.list_users)

    show = actions.add_parser("show", help="show one user")
    show.add_argument("user", metavar="ID_OR_USERNAME")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(command=user_commands.show)

    for name, command, help_text in [
        ("disable", user_commands.disable, "stop a user from signing in"),
        ("enable", user_commands.enable, "let a disabled user sign in again"),
        ("delete", user_commands.delete, "delete a user and their consents"),
    ]:
        action = actions.add_parser(name, help=help_text)
        action.add_argument("user", metavar="ID_OR_USERNAME")
        action.set_defaults(command=command)

    set_password = actions.add_parser(
        "set-password", help="replace a user's password (also lifts a sign-in lockout)"
    )
    set_password.add_argument("user", metavar="ID_OR_USERNAME")
    add_password_options(set_password)
    set_password.set_defaults(command=user_commands.set_password)


def service_client(name: str, settings: CtlSettings) -> tuple[ServiceClient[Any], str]:
    """The client of the service a command group talks to, and its target."""
    if name == "authorize":
        stub: Any = authorize_pb2_grpc.AuthorizeServiceStub
        target, service = settings.authorize_target, "oauth2.v1.AuthorizeService"
    else:
        stub = clients_pb2_grpc.ClientsServiceStub
        target, service = settings.clients_target, "oauth2.v1.ClientsService"
    client = ServiceClient(stub, target, service, deadline=settings.grpc_deadline_seconds)
    return client, target


async def run(command: Command, args: argparse.Namespace, settings: CtlSettings) -> None:
    name = getattr(args, "service", "clients")
    client, target = service_client(name, settings)
    try:
        await command(client, args, settings)
    except TemporarilyUnavailable as exc:
        if exc.detail:  # it came from the gRPC channel, not from the gateway
            raise TemporarilyUnavailable(
                f"the {name} service at {target} did not answer; is the system running (make run)?"
            ) from None
        raise
    finally:
        await client.close()


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
