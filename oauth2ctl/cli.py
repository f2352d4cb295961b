"""``oauth2ctl``: manage the authorization server from a terminal.

Every command but ``bootstrap`` goes through the gateway's admin API
(``/admin/api``, audited by the admin service) with a bearer token: ``--token``
/ ``OAUTH2_CTL_TOKEN``, or a client_credentials token for ``ctl_client_id`` /
``ctl_client_secret`` or for the client in the credentials file ``oauth2ctl
bootstrap`` writes (an absolute path: :attr:`CtlSettings.credentials_file`).
It reads the same settings as the services (``--config`` / ``OAUTH2_CONFIG``,
then ``OAUTH2_*`` variables), so with no flags it reaches a default ``make
run``, from any directory. ``--output json`` (or a command's ``--json``) prints
one JSON document on stdout for scripts; ``--output table``, the default,
prints for people. Failures are one line on stderr, ``oauth2ctl: <error>:
<description>``, and exit code 1; usage errors exit 2 (argparse).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx

from common.errors import AccessDenied, OAuthError, TemporarilyUnavailable
from common.settings import load_settings
from common.vocabulary import AuditOutcome, ClientAuthMethod, ClientSigningAlg, SigningAlg
from oauth2ctl import commands, ops_commands, resource_commands, user_commands
from oauth2ctl.api import AdminApi
from oauth2ctl.migrate_commands import add_migrate_commands
from oauth2ctl.perform_commands import add_perform_commands
from oauth2ctl.settings import CtlSettings

Command = Callable[[AdminApi, argparse.Namespace, CtlSettings], Awaitable[None]]

AUTH_METHODS = list(ClientAuthMethod)
CLIENT_SIGNING_ALGS = list(ClientSigningAlg)
OUTPUTS = ("table", "json")
#: How a gRPC refusal of the caller's certificate shows in an error's detail.
REFUSED_BY_CHANNEL = ("gRPC PERMISSION_DENIED", "gRPC UNAUTHENTICATED")
#: The distribution oauth2ctl comes in (pyproject.toml).
DISTRIBUTION = "oauth2-server"
#: How long ``--version`` waits for the gateway before it says it did not answer.
VERSION_TIMEOUT_SECONDS = 2.0


def package_version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def server_version(settings: CtlSettings) -> str | None:
    """The admin API's version from the admin listener's OpenAPI document (no
    token needed), or None when the gateway does not answer in time."""
    try:
        response = httpx.get(settings.api_url + "/openapi.json", timeout=VERSION_TIMEOUT_SECONDS)
        version = response.json()["info"]["version"] if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None
    return str(version) if version else None


class VersionAction(argparse.Action):
    """``--version``: this package's version and, when the gateway answers, its admin
    API's; in the ``--output`` given before it."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        settings = load_settings(CtlSettings, getattr(namespace, "config", None))
        if getattr(namespace, "url", None):
            settings.ctl_url = namespace.url
        server = server_version(settings)
        if getattr(namespace, "output", "table") == "json":
            body = {"oauth2ctl": package_version(), "admin_api": server, "url": settings.api_url}
            print(json.dumps(body, indent=2))
        else:
            print(f"oauth2ctl {package_version()}")
            shown = server or "did not answer"
            print(f"admin API {shown} ({settings.api_url})")
        parser.exit()


def add_output_options(parser: argparse.ArgumentParser, *, top: bool = False) -> None:
    """``--output json|table``, and ``--json`` for ``--output json``. A command's own
    options leave the value alone unless given (SUPPRESS), so that ``oauth2ctl
    --output json user list`` and ``oauth2ctl user list --output json`` agree."""
    default = "table" if top else argparse.SUPPRESS
    parser.add_argument(
        "--output",
        "-o",
        choices=OUTPUTS,
        default=default,
        help="json: one JSON document on stdout, for scripts; table (default): for people",
    )
    parser.add_argument(
        "--json",
        dest="output",
        action="store_const",
        const="json",
        default=default,
        help="the same as --output json",
    )


def leaf_parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """Every parser of a command (one that has no subcommands) under ``parser``."""
    groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not groups:
        return [parser]
    found: list[argparse.ArgumentParser] = []
    for group in groups:
        for child in dict.fromkeys(group.choices.values()):
            found.extend(leaf_parsers(child))
    return found


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="oauth2ctl", description="Manage the OAuth 2.1 authorization server."
    )
    parser.add_argument("--config", type=Path, default=None, help="TOML settings file")
    parser.add_argument(
        "--url",
        help="the base URL of the gateway's admin listener"
        " (default: ctl_url, else http://admin_host:admin_port)",
    )
    parser.add_argument("--token", help="a bearer access token with the admin scope")
    add_output_options(parser, top=True)
    parser.add_argument(
        "--version",
        action=VersionAction,
        help="print oauth2ctl's version and the admin API's (when the gateway answers)",
    )
    groups = parser.add_subparsers(
        dest="group",
        required=True,
        metavar=(
            "{client,user,resource,grant,key,audit,stats,registration-token,bootstrap,migrate,"
            "perform}"
        ),
    )
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
        "--introspection",
        action="store_true",
        help="let this client introspect tokens issued to other clients (RFC 7662)",
    )
    create.add_argument(
        "--require-par",
        dest="require_par",
        action="store_true",
        help="accept only pushed authorization requests from it (RFC 9126, POST /oauth/par)",
    )
    keys = create.add_mutually_exclusive_group()
    keys.add_argument(
        "--jwks-file",
        metavar="FILE",
        help='its public keys: a JSON file holding a JWK Set {"keys": [...]} (RFC 7591 jwks)',
    )
    keys.add_argument("--jwks-uri", metavar="URI", help="the https URL of its JWK Set")
    create.add_argument(
        "--require-signed-request-object",
        action="store_true",
        help="accept only signed request objects from it (RFC 9101 section 10.5)",
    )
    create.add_argument(
        "--request-object-signing-alg",
        choices=CLIENT_SIGNING_ALGS,
        metavar="ALG",
        help=f"the one JWS alg of its request objects: {', '.join(CLIENT_SIGNING_ALGS)} "
        "(default: any of them)",
    )
    create.add_argument(
        "--backchannel-logout-uri",
        metavar="URI",
        help="the https URL logout tokens are POSTed to when a session it took part in "
        "ends (OpenID Connect Back-Channel Logout)",
    )
    create.add_argument(
        "--backchannel-logout-session-required",
        action="store_true",
        help="its logout tokens must carry the session's sid",
    )
    create.add_argument(
        "--dpop-bound-access-tokens",
        action="store_true",
        help="its access tokens must be DPoP-bound: token requests without a DPoP proof "
        "are refused (RFC 9449 section 5.2)",
    )
    add_tls_options(create, replaces=False)
    create.add_argument(
        "--token-exchange-audience",
        dest="token_exchange_audiences",
        action="append",
        metavar="AUD",
        help="an audience (a resource identifier, a client_id) it may exchange tokens for "
        "with grant type urn:ietf:params:oauth:grant-type:token-exchange (repeatable)",
    )
    create.add_argument(
        "--cors-origin",
        dest="cors_origins",
        action="append",
        metavar="ORIGIN",
        help="a browser origin scheme://host[:port] allowed for CORS (repeatable)",
    )
    create.add_argument(
        "--get-token",
        action="store_true",
        help="then get an access token with client_credentials through the gateway",
    )
    create.set_defaults(command=commands.create)

    listing = actions.add_parser("list", help="list clients")
    listing.add_argument("--search", help="substring of client_id or client_name")
    listing.set_defaults(command=commands.list_clients)

    show = actions.add_parser("show", help="show one client")
    show.add_argument("client_id")
    show.set_defaults(command=commands.show)

    delete = actions.add_parser("delete", help="delete a client")
    delete.add_argument("client_id")
    delete.set_defaults(command=commands.delete)

    rotate = actions.add_parser("rotate-secret", help="replace a client's secret")
    rotate.add_argument("client_id")
    rotate.set_defaults(command=commands.rotate_secret)

    update = actions.add_parser("update", help="replace the metadata fields given")
    update.add_argument("client_id")
    update.add_argument("--name", help="client_name")
    add_list_option(update, "--grant-type", "grant_types", "G", "a grant type (replaces the list)")
    add_list_option(update, "--redirect-uri", "redirect_uris", "URI", "a redirect URI (replaces)")
    add_list_option(
        update,
        "--post-logout-redirect-uri",
        "post_logout_redirect_uris",
        "URI",
        "a post_logout_redirect_uri (replaces the list)",
    )
    update.add_argument("--scope", help='space-separated scopes: "a b"')
    update.add_argument("--auth-method", choices=AUTH_METHODS, help="token_endpoint_auth_method")
    update.add_argument(
        "--require-pkce", action=argparse.BooleanOptionalAction, help="require PKCE"
    )
    update.add_argument(
        "--always-issue-refresh-token",
        action=argparse.BooleanOptionalAction,
        help="issue refresh tokens even without offline_access",
    )
    update.add_argument(
        "--introspection",
        action=argparse.BooleanOptionalAction,
        help="may introspect tokens issued to other clients",
    )
    update.add_argument(
        "--require-par",
        dest="require_par",
        action=argparse.BooleanOptionalAction,
        help="accept only pushed authorization requests (RFC 9126)",
    )
    keys = update.add_mutually_exclusive_group()
    keys.add_argument(
        "--jwks-file",
        metavar="FILE",
        help="replace its public keys with the JWK Set in this JSON file (drops a jwks_uri)",
    )
    keys.add_argument(
        "--jwks-uri", metavar="URI", help="fetch its keys from this https URL (drops a jwks)"
    )
    keys.add_argument(
        "--no-jwks",
        dest="clear_jwks",
        action="store_true",
        help="remove its public keys: both jwks and jwks_uri",
    )
    update.add_argument(
        "--require-signed-request-object",
        action=argparse.BooleanOptionalAction,
        help="accept only signed request objects (RFC 9101 section 10.5)",
    )
    update.add_argument(
        "--request-object-signing-alg",
        choices=CLIENT_SIGNING_ALGS,
        metavar="ALG",
        help=f"the one JWS alg of its request objects: {', '.join(CLIENT_SIGNING_ALGS)}",
    )
    update.add_argument(
        "--backchannel-logout-uri",
        metavar="URI",
        help='where logout tokens are POSTed ("" for nowhere)',
    )
    update.add_argument(
        "--backchannel-logout-session-required",
        action=argparse.BooleanOptionalAction,
        help="its logout tokens must carry the session's sid",
    )
    update.add_argument(
        "--dpop-bound-access-tokens",
        action=argparse.BooleanOptionalAction,
        help="its access tokens must be DPoP-bound (RFC 9449 section 5.2)",
    )
    add_tls_options(update, replaces=True)
    add_list_option(
        update,
        "--token-exchange-audience",
        "token_exchange_audiences",
        "AUD",
        "an audience it may exchange tokens for (replaces the list)",
    )
    update.add_argument(
        "--no-token-exchange-audiences",
        dest="clear_token_exchange_audiences",
        action="store_true",
        help="remove every token exchange audience",
    )
    add_list_option(
        update,
        "--cors-origin",
        "cors_origins",
        "ORIGIN",
        "a CORS origin scheme://host[:port] (replaces the list)",
    )
    update.add_argument(
        "--no-cors-origins",
        dest="clear_cors_origins",
        action="store_true",
        help="remove every CORS origin",
    )
    update.set_defaults(command=commands.update)

    disable = actions.add_parser(
        "disable", help="stop a client from authenticating; revokes its tokens"
    )
    disable.add_argument("client_id")
    disable.set_defaults(command=commands.disable)

    enable = actions.add_parser("enable", help="let a disabled client authenticate again")
    enable.add_argument("client_id")
    enable.set_defaults(command=commands.enable)

    add_user_commands(groups)
    add_resource_commands(groups)
    add_operator_commands(groups)
    add_migrate_commands(groups)
    add_perform_commands(groups)
    for command in leaf_parsers(parser):
        add_output_options(command)
    return parser


#: RFC 8705 section 2.1.2: the flags of a tls_client_auth client's one subject
#: attribute, and the metadata each sets.
TLS_SUBJECT_FLAGS = (
    ("--tls-subject-dn", "tls_client_auth_subject_dn", "DN", "its subject DN, RFC 4514 text"),
    ("--tls-san-dns", "tls_client_auth_san_dns", "NAME", "a DNS name among its SANs"),
    ("--tls-san-uri", "tls_client_auth_san_uri", "URI", "a URI among its SANs"),
    ("--tls-san-ip", "tls_client_auth_san_ip", "IP", "an IP address among its SANs"),
    ("--tls-san-email", "tls_client_auth_san_email", "ADDR", "an e-mail address among its SANs"),
)


def add_tls_options(parser: argparse.ArgumentParser, *, replaces: bool) -> None:
    """Mutual-TLS client authentication (RFC 8705): the one subject attribute a
    tls_client_auth client's certificate must carry, and certificate-bound tokens."""
    subject = parser.add_mutually_exclusive_group()
    for flag, dest, metavar, what in TLS_SUBJECT_FLAGS:
        subject.add_argument(
            flag,
            dest=dest,
            metavar=metavar,
            help=f"--auth-method tls_client_auth: the certificate's {what}"
            + (" (replaces the attribute registered before)" if replaces else ""),
        )
    parser.add_argument(
        "--tls-client-certificate-bound-access-tokens",
        action=argparse.BooleanOptionalAction,
        help="bind its access tokens to its TLS client certificate (RFC 8705 section 3; "
        "always so for tls_client_auth and self_signed_tls_client_auth)",
    )


def add_list_option(
    parser: argparse.ArgumentParser, flag: str, dest: str, metavar: str, help_text: str
) -> None:
    parser.add_argument(flag, dest=dest, action="append", metavar=metavar, help=help_text)


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
    actions = user.add_subparsers(dest="action", required=True)

    create = actions.add_parser("create", help="create a user")
    create.add_argument("--username", required=True)
    add_password_options(create)
    create.add_argument("--email")
    create.add_argument("--given-name")
    create.add_argument("--family-name")
    create.set_defaults(command=user_commands.create)

    listing = actions.add_parser("list", help="list users")
    listing.add_argument("--search", help="substring of username or email")
    listing.set_defaults(command=user_commands.list_users)

    show = actions.add_parser("show", help="show one user")
    show.add_argument("user", metavar="ID_OR_USERNAME")
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
        "set-password",
        help="replace a user's password (also lifts a sign-in lockout, ends the user's "
        "sessions and revokes their grants)",
    )
    set_password.add_argument("user", metavar="ID_OR_USERNAME")
    add_password_options(set_password)
    set_password.set_defaults(command=user_commands.set_password)

    update = actions.add_parser("update", help="replace the profile fields given")
    update.add_argument("user", metavar="ID_OR_USERNAME")
    update.add_argument("--email")
    update.add_argument("--email-verified", action=argparse.BooleanOptionalAction)
    update.add_argument("--given-name")
    update.add_argument("--family-name")
    update.add_argument("--name", help="full name")
    update.set_defaults(command=user_commands.update)


def add_resource_options(parser: argparse.ArgumentParser, *, creating: bool) -> None:
    parser.add_argument("--name", help="a name for people (at most 200 characters)")
    parser.add_argument(
        "--scope",
        dest="scopes",
        action="append",
        required=creating,
        metavar="S",
        help='a scope it defines (repeatable; "a b" gives two)'
        + ("" if creating else "; replaces the list"),
    )
    parser.add_argument(
        "--access-token-ttl",
        type=int,
        metavar="SECONDS",
        help="lifetime of its access tokens: 60 to 86400 (0: the server's default)",
    )
    parser.add_argument(
        "--introspection-client",
        metavar="ID",
        help="the client_id it introspects with"
        + (" (default: none)" if creating else ' ("" for none)'),
    )


def add_resource_commands(groups: Any) -> None:
    resource = groups.add_parser(
        "resource", help="resource servers (RFC 8707): the APIs a token may be asked for"
    )
    actions = resource.add_subparsers(dest="action", required=True)

    create = actions.add_parser("create", help="register a resource server")
    create.add_argument(
        "--identifier",
        required=True,
        metavar="URI",
        help="an absolute URI without a fragment, e.g. https://api.example.com/orders: "
        "the aud of its access tokens",
    )
    add_resource_options(create, creating=True)
    create.set_defaults(command=resource_commands.create)

    listing = actions.add_parser("list", help="list resource servers")
    listing.set_defaults(command=resource_commands.list_resources)

    get = actions.add_parser("get", help="show one resource server")
    get.add_argument("identifier", metavar="URI")
    get.set_defaults(command=resource_commands.get)

    update = actions.add_parser("update", help="replace the fields given")
    update.add_argument("identifier", metavar="URI")
    add_resource_options(update, creating=False)
    update.set_defaults(command=resource_commands.update)

    delete = actions.add_parser("delete", help="delete a resource server")
    delete.add_argument("identifier", metavar="URI")
    delete.set_defaults(command=resource_commands.delete)


def add_operator_commands(groups: Any) -> None:
    grant = groups.add_parser("grant", help="consents and refresh-token families")
    actions = grant.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="a user's or a client's grants")
    whose = listing.add_mutually_exclusive_group(required=True)
    whose.add_argument("--user", metavar="ID_OR_USERNAME")
    whose.add_argument("--client", metavar="CLIENT_ID")
    listing.set_defaults(command=ops_commands.list_grants)
    revoke = actions.add_parser(
        "revoke", help="revoke one family, or everything of a user or a client"
    )
    revoke.add_argument("family_id", nargs="?", metavar="FAMILY_ID")
    revoke.add_argument("--user", metavar="ID_OR_USERNAME")
    revoke.add_argument("--client", metavar="CLIENT_ID")
    revoke.set_defaults(command=ops_commands.revoke_grants)

    key = groups.add_parser("key", help="token signing keys")
    actions = key.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="list the signing keys")
    listing.set_defaults(command=ops_commands.list_keys)
    rotate = actions.add_parser("rotate", help="make a new active key now")
    rotate.add_argument("--alg", choices=list(SigningAlg), help="default: the server's")
    rotate.set_defaults(command=ops_commands.rotate_key)
    retire = actions.add_parser("retire", help="retire a key now (its tokens stop working)")
    retire.add_argument("kid", metavar="KID")
    retire.set_defaults(command=ops_commands.retire_key)

    audit = groups.add_parser("audit", help="the audit log")
    actions = audit.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="events, newest first")
    listing.add_argument("--action", dest="action_filter", metavar="ACTION")
    listing.add_argument("--actor", help="e.g. client:<client_id>, cli, system")
    listing.add_argument(
        "--target", help="e.g. client:<client_id>, user:<user_id> (or user:<username>)"
    )
    listing.add_argument("--outcome", choices=list(AuditOutcome))
    listing.add_argument("--since", help="RFC 3339, e.g. 2024-05-01T00:00:00Z")
    listing.add_argument("--until", help="RFC 3339")
    listing.add_argument("--limit", type=int, default=0, help="only the newest N events")
    listing.set_defaults(command=ops_commands.list_events)

    stats = groups.add_parser("stats", help="counts of clients, users, grants and tokens")
    stats.set_defaults(command=ops_commands.stats)

    registration = groups.add_parser(
        "registration-token", help="initial access tokens for dynamic registration (RFC 7591)"
    )
    actions = registration.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="issue an initial access token")
    create.add_argument("--expires-in", type=int, metavar="S", help="lifetime in seconds")
    create.add_argument("--max-uses", type=int, metavar="N", help="registrations it allows")
    create.set_defaults(command=ops_commands.create_registration_token)

    bootstrap = groups.add_parser(
        "bootstrap",
        help="create the first admin client (once) and save its credentials; "
        "--recover: new credentials when they are lost",
    )
    how = bootstrap.add_mutually_exclusive_group()
    how.add_argument(
        "--if-needed",
        action="store_true",
        help="do nothing when the credentials file already exists",
    )
    how.add_argument(
        "--recover",
        action="store_true",
        help="the credentials are lost: give the admin client a new secret (or make a new "
        "admin client) over gRPC at admin_target, audited as admin.recovered",
    )
    bootstrap.set_defaults(command=None)


async def run(
    args: argparse.Namespace,
    settings: CtlSettings,
    transport: httpx.AsyncBaseTransport | None = None,
) -> None:
    if args.group == "perform":
        # A client of the public endpoints: no admin token.
        await args.perform(args, settings, transport)
        return
    if args.group == "bootstrap":
        try:
            await ops_commands.bootstrap(args, settings)
        except OAuthError as exc:
            # The caller allow-list (common/grpc_callers.py) answers with a bare code,
            # which the channel reports as the service being unavailable.
            if exc.detail.startswith(REFUSED_BY_CHANNEL):
                raise AccessDenied(
                    f"the admin service at {settings.admin_target} refused the call "
                    f"({exc.detail.removeprefix('gRPC ')}); bootstrap needs oauth2ctl's "
                    "certificate (CN ctl) in grpc_tls_cert_file and grpc_tls_key_file"
                ) from None
            if isinstance(exc, TemporarilyUnavailable) and exc.detail:  # from the channel
                raise TemporarilyUnavailable(
                    f"the admin service at {settings.admin_target} did not answer; "
                    "is the system running (make run)?"
                ) from None
            raise
        return
    api = AdminApi(settings, token=args.token, transport=transport)
    try:
        await args.command(api, args, settings)
    finally:
        await api.close()


def main(argv: list[str] | None = None, transport: httpx.AsyncBaseTransport | None = None) -> int:
    """``transport`` is for tests: where the admin API's HTTP requests go."""
    args = build_parser().parse_args(argv)
    settings = load_settings(CtlSettings, args.config)
    if args.url:
        settings.ctl_url = args.url
    try:
        asyncio.run(run(args, settings, transport))
    except OAuthError as exc:
        message = f"{exc.error}: {exc.description}" if exc.description else exc.error
        print(f"oauth2ctl: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
