"""The ``client`` commands, each one call to the admin API (``/admin/api/clients``),
which the admin service audits with this tool's admin client as the actor."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

from common.errors import InvalidRequest
from common.vocabulary import ClientAuthMethod
from oauth2ctl.api import AdminApi
from oauth2ctl.render import client_summary, client_table
from oauth2ctl.settings import CtlSettings

#: RFC 8705 section 2.1.2: the subject attributes of a tls_client_auth client, one
#: of which it registers (the --tls-subject-dn and --tls-san-* flags).
TLS_SUBJECT_FIELDS = (
    "tls_client_auth_subject_dn",
    "tls_client_auth_san_dns",
    "tls_client_auth_san_uri",
    "tls_client_auth_san_ip",
    "tls_client_auth_san_email",
)


def emit(value: Any, args: argparse.Namespace, text: str) -> None:
    """``value`` as one JSON document with ``--output json``, else ``text``."""
    print(json.dumps(value, indent=2) if wants_json(args) else text)


def wants_json(args: argparse.Namespace) -> bool:
    return getattr(args, "output", "table") == "json"


def metadata_from(args: argparse.Namespace) -> dict[str, Any]:
    """The RFC 7591 metadata the flags set; what they leave out is the server's default."""
    body: dict[str, Any] = {}
    if getattr(args, "name", None) is not None:
        body["client_name"] = args.name
    for flag, name in [
        ("grant_types", "grant_types"),
        ("redirect_uris", "redirect_uris"),
        ("post_logout_redirect_uris", "post_logout_redirect_uris"),
    ]:
        if getattr(args, flag, None):
            body[name] = getattr(args, flag)
    if getattr(args, "scope", None) is not None:
        body["scope"] = args.scope
    if getattr(args, "auth_method", None):
        body["token_endpoint_auth_method"] = args.auth_method
    if getattr(args, "cors_origins", None):
        body["allowed_cors_origins"] = args.cors_origins
    if getattr(args, "jwks_file", None):
        body["jwks"] = read_jwks_file(args.jwks_file)
    if getattr(args, "jwks_uri", None):
        body["jwks_uri"] = args.jwks_uri
    if getattr(args, "request_object_signing_alg", None):
        body["request_object_signing_alg"] = args.request_object_signing_alg
    if getattr(args, "backchannel_logout_uri", None) is not None:
        body["backchannel_logout_uri"] = args.backchannel_logout_uri
    if getattr(args, "token_exchange_audiences", None):
        body["token_exchange_audiences"] = args.token_exchange_audiences
    for name in TLS_SUBJECT_FIELDS:
        if getattr(args, name, None):
            body[name] = getattr(args, name)
    if getattr(args, "tls_client_certificate_bound_access_tokens", None) is not None:
        body["tls_client_certificate_bound_access_tokens"] = (
            args.tls_client_certificate_bound_access_tokens
        )
    return body


def tls_subject_update(body: dict[str, Any]) -> None:
    """RFC 8705 section 2.1.2: a client registers one subject attribute, so setting
    one drops the others, and switching to another method than tls_client_auth
    drops them all."""
    if any(name in body for name in TLS_SUBJECT_FIELDS):
        for name in TLS_SUBJECT_FIELDS:
            body.setdefault(name, "")
    elif body.get("token_endpoint_auth_method") not in (None, ClientAuthMethod.TLS_CLIENT_AUTH):
        for name in TLS_SUBJECT_FIELDS:
            body[name] = ""


def read_jwks_file(name: str) -> Any:
    """The JWK Set in a JSON file, as the object the admin API takes; the clients
    service checks the keys (public, RSA of 2048 bits or more, ...)."""
    path = Path(name)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidRequest(f"--jwks-file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise InvalidRequest(f"--jwks-file {path}: not UTF-8 text") from None
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise InvalidRequest(f"--jwks-file {path}: not JSON ({exc})") from None
    if not isinstance(document, dict):
        raise InvalidRequest(
            f"--jwks-file {path}: not a JWK Set (a JSON object with a 'keys' array)"
        )
    return document


async def create(api: AdminApi, args: argparse.Namespace, settings: CtlSettings) -> None:
    body = metadata_from(args)
    if not args.require_pkce:
        body["require_pkce"] = False
    if args.always_issue_refresh_token:
        body["always_issue_refresh_token"] = True
    if args.introspection:
        body["introspection"] = True
    if args.require_par:
        body["require_pushed_authorization_requests"] = True
    if args.require_signed_request_object:
        body["require_signed_request_object"] = True
    if args.backchannel_logout_session_required:
        body["backchannel_logout_session_required"] = True
    if getattr(args, "dpop_bound_access_tokens", False):
        body["dpop_bound_access_tokens"] = True
    created = await api.post("/clients", body)
    text = client_summary(created)
    if args.get_token:
        secret = created.get("client_secret", "")
        if not secret:
            raise InvalidRequest("--get-token needs a confidential client")
        token = await api.token_for(
            created["client_id"], secret, auth_method=created["token_endpoint_auth_method"]
        )
        created["token_response"] = token
        text += "\n\nPOST /oauth/token answered:\n" + json.dumps(token, indent=2)
    emit(created, args, text)


async def list_clients(api: AdminApi, args: argparse.Namespace, settings: CtlSettings) -> None:
    found = await api.all_pages("/clients", search=args.search)
    emit(found, args, client_table(found))


async def show(api: AdminApi, args: argparse.Namespace, settings: CtlSettings) -> None:
    client = await api.get(f"/clients/{segment(args.client_id)}")
    emit(client, args, client_summary(client))


async def update(api: AdminApi, args: argparse.Namespace, settings: CtlSettings) -> None:
    body = metadata_from(args)
    if args.require_pkce is not None:
        body["require_pkce"] = args.require_pkce
    if args.always_issue_refresh_token is not None:
        body["always_issue_refresh_token"] = args.always_issue_refresh_token
    if args.introspection is not None:
        body["introspection"] = args.introspection
    if args.require_par is not None:
        body["require_pushed_authorization_requests"] = args.require_par
    if args.require_signed_request_object is not None:
        body["require_signed_request_object"] = args.require_signed_request_object
    # jwks and jwks_uri never both (RFC 7591 section 2): setting one drops the other.
    if args.jwks_file:
        body["jwks_uri"] = ""
    if args.jwks_uri:
        body["jwks"] = None
    if args.clear_jwks:
        body["jwks"], body["jwks_uri"] = None, ""
    if args.backchannel_logout_session_required is not None:
        body["backchannel_logout_session_required"] = args.backchannel_logout_session_required
    elif args.backchannel_logout_uri == "":
        # No logout tokens at all: none that must carry a sid either.
        body["backchannel_logout_session_required"] = False
    if getattr(args, "dpop_bound_access_tokens", None) is not None:
        body["dpop_bound_access_tokens"] = args.dpop_bound_access_tokens
    tls_subject_update(body)
    if args.clear_token_exchange_audiences:
        if args.token_exchange_audiences:
            raise InvalidRequest(
                "Give --token-exchange-audience or --no-token-exchange-audiences, not both"
            )
        body["token_exchange_audiences"] = []
    if args.clear_cors_origins:
        if args.cors_origins:
            raise InvalidRequest("Give --cors-origin or --no-cors-origins, not both")
        body["allowed_cors_origins"] = []
    if not body:
        raise InvalidRequest("Nothing to update: give at least one option")
    client = await api.patch(f"/clients/{segment(args.client_id)}", body)
    emit(client, args, client_summary(client))


async def disable(api: AdminApi, args: argparse.Namespace, settings: CtlSettings) -> None:
    """The admin service revokes the client's tokens as it disables it."""
    client = await api.patch(f"/clients/{segment(args.client_id)}", {"enabled": False})
    emit(client, args, f"disabled client {args.client_id}; its tokens are revoked")


async def enable(api: AdminApi, args: argparse.Namespace, settings: CtlSettings) -> None:
    client = await api.patch(f"/clients/{segment(args.client_id)}", {"enabled": True})
    emit(client, args, f"enabled client {args.client_id}")


async def delete(api: AdminApi, args: argparse.Namespace, settings: CtlSettings) -> None:
    await api.delete(f"/clients/{segment(args.client_id)}")
    emit({"client_id": args.client_id, "deleted": True}, args, f"deleted client {args.client_id}")


async def rotate_secret(api: AdminApi, args: argparse.Namespace, settings: CtlSettings) -> None:
    rotated = await api.post(f"/clients/{segment(args.client_id)}/secret")
    emit(rotated, args, client_summary(rotated))


def segment(value: str) -> str:
    """One path segment: a "/" or "?" in an id must not change the route."""
    return quote(value, safe="")
