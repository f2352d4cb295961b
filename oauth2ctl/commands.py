"""The ``client`` commands, each one call to the clients service.

For now oauth2ctl talks to ClientsService directly over gRPC; a later release
moves it behind the admin API (and its audit trail).
"""

from __future__ import annotations

import argparse
import base64
import json
from typing import Any
from urllib.parse import quote_plus

import httpx
from oauth2.v1 import clients_pb2, common_pb2

from common.errors import ERRORS_BY_CODE, InvalidRequest, ServerError, TemporarilyUnavailable
from oauth2ctl.render import client_summary, client_table, client_to_dict
from oauth2ctl.settings import CtlSettings

ACTOR = common_pb2.Actor(id="cli")
PAGE_SIZE = 200


def emit(value: Any, as_json: bool, text: str) -> None:
    print(json.dumps(value, indent=2) if as_json else text)


async def create(clients: Any, args: argparse.Namespace, settings: CtlSettings) -> None:
    metadata = clients_pb2.ClientMetadata(
        client_name=args.name,
        grant_types=args.grant_types or [],
        redirect_uris=args.redirect_uris or [],
        scope=args.scope or "",
        token_endpoint_auth_method=args.auth_method or "",
        post_logout_redirect_uris=args.post_logout_redirect_uris or [],
        always_issue_refresh_token=args.always_issue_refresh_token,
    )
    if not args.require_pkce:
        metadata.require_pkce = False
    created = await clients.call.CreateClient(
        clients_pb2.CreateClientRequest(metadata=metadata, actor=ACTOR)
    )
    body = client_to_dict(created.client, created.client_secret)
    text = client_summary(created.client, created.client_secret)
    if args.get_token:
        token = get_token(settings, created.client, created.client_secret)
        body["token_response"] = token
        text += "\n\nPOST /oauth/token answered:\n" + json.dumps(token, indent=2)
    emit(body, args.json, text)


def get_token(
    settings: CtlSettings, client: clients_pb2.Client, client_secret: str
) -> dict[str, Any]:
    """A client_credentials grant (RFC 6749 section 4.4) through the gateway, the
    way the new client itself would ask."""
    if not client_secret:
        raise InvalidRequest("--get-token needs a confidential client")
    form = {"grant_type": "client_credentials"}
    headers = {}
    if client.token_endpoint_auth_method == "client_secret_post":  # noqa: S105
        form |= {"client_id": client.client_id, "client_secret": client_secret}
    else:
        headers["Authorization"] = basic_authorization(client.client_id, client_secret)
    try:
        response = httpx.post(
            f"{settings.issuer}/oauth/token", data=form, headers=headers, timeout=10
        )
        body: dict[str, Any] = response.json()
    except (httpx.HTTPError, ValueError):
        raise TemporarilyUnavailable(f"the gateway at {settings.issuer} did not answer") from None
    if response.status_code != 200:
        cls = ERRORS_BY_CODE.get(str(body.get("error")), ServerError)
        raise cls(str(body.get("error_description", "")))
    return body


def basic_authorization(client_id: str, client_secret: str) -> str:
    """RFC 6749 section 2.3.1: each part form-urlencoded before Base64 (httpx's
    BasicAuth skips that step)."""
    raw = f"{quote_plus(client_id)}:{quote_plus(client_secret)}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


async def list_clients(clients: Any, args: argparse.Namespace, settings: CtlSettings) -> None:
    found: list[clients_pb2.Client] = []
    page_token = ""
    while True:
        page = await clients.call.ListClients(
            clients_pb2.ListClientsRequest(
                page=common_pb2.PageRequest(page_size=PAGE_SIZE, page_token=page_token),
                search=args.search or "",
            )
        )
        found.extend(page.clients)
        page_token = page.page.next_page_token
        if not page_token:
            break
    emit([client_to_dict(c) for c in found], args.json, client_table(found))


async def show(clients: Any, args: argparse.Namespace, settings: CtlSettings) -> None:
    client = await clients.call.GetClient(clients_pb2.GetClientRequest(client_id=args.client_id))
    emit(client_to_dict(client), args.json, client_summary(client))


async def delete(clients: Any, args: argparse.Namespace, settings: CtlSettings) -> None:
    await clients.call.DeleteClient(
        clients_pb2.DeleteClientRequest(client_id=args.client_id, actor=ACTOR)
    )
    print(f"deleted client {args.client_id}")


async def rotate_secret(clients: Any, args: argparse.Namespace, settings: CtlSettings) -> None:
    rotated = await clients.call.RotateClientSecret(
        clients_pb2.RotateClientSecretRequest(client_id=args.client_id, actor=ACTOR)
    )
    emit(
        client_to_dict(rotated.client, rotated.client_secret),
        args.json,
        client_summary(rotated.client, rotated.client_secret),
    )
