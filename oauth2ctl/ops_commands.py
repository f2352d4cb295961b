"""Grants, signing keys, the audit log, counts and registration tokens over the
admin API; and ``bootstrap``, the one command that talks gRPC.

``bootstrap`` calls ``AdminService.Bootstrap`` at ``admin_target``: reaching the
internal network is the trust boundary (like ``kubectl exec``). It creates the
first admin client, prints its secret once and writes the credentials file
(mode 0600) that every other command then uses.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from oauth2.v1 import admin_pb2, common_pb2

from common.errors import InvalidRequest
from common.files import private_directory
from common.grpc_client import ChannelSecurity
from common.services import admin_client
from oauth2ctl.api import AdminApi
from oauth2ctl.commands import emit, segment
from oauth2ctl.render import (
    SECRET_WARNING,
    event_table,
    grants_text,
    key_summary,
    key_table,
    stats_text,
    summary,
)
from oauth2ctl.settings import CtlSettings

BOOTSTRAP_CLIENT_NAME = "oauth2ctl"


# --- grants ---------------------------------------------------------------------------


async def list_grants(api: AdminApi, args: argparse.Namespace, settings: CtlSettings) -> None:
    params = {"user_id": args.user, "client_id": args.client}
    first = await api.get("/grants", **params, page_size=200)
    grants = {"consents": first["consents"], "items": list(first["items"])}
    token = first.get("next_page_token", "")
    while token:
        page = await api.get("/grants", **params, page_size=200, page_token=token)
        grants["items"].extend(page["items"])
        token = page.get("next_page_token", "")
    emit(grants, args.json, grants_text(grants))


async def revoke_grants(api: AdminApi, args: argparse.Namespace, settings: CtlSettings) -> None:
    chosen = [value for value in (args.family_id, args.user, args.client) if value]
    if len(chosen) != 1:
        raise InvalidRequest("Give exactly one of FAMILY_ID, --user and --client")
    if args.family_id:
        await api.delete(f"/grants/{segment(args.family_id)}")
        print(f"revoked grant {args.family_id}")
        return
    answer = await api.delete("/grants", user_id=args.user, client_id=args.client)
    who = f"user {args.user}" if args.user else f"client {args.client}"
    print(f"revoked {answer['revoked']} grant(s) of {who}")


# --- keys ----------------------------------------------------------------------------------


async def list_keys(api: AdminApi, args: argparse.Namespace, settings: CtlSettings) -> None:
    keys = (await api.get("/keys"))["items"]
    emit(keys, args.json, key_table(keys))


async def rotate_key(api: AdminApi, args: argparse.Namespace, settings: CtlSettings) -> None:
    key = await api.post("/keys/rotate", {"alg": args.alg} if args.alg else {})
    emit(key, args.json, key_summary(key))


async def retire_key(api: AdminApi, args: argparse.Namespace, settings: CtlSettings) -> None:
    key = await api.post(f"/keys/{segment(args.kid)}/retire")
    emit(key, args.json, key_summary(key))


# --- audit, stats, registration tokens --------------------------------------------------------


async def list_events(api: AdminApi, args: argparse.Namespace, settings: CtlSettings) -> None:
    params = {
        name: getattr(args, name) for name in ("actor", "target", "outcome", "since", "until")
    }
    params["action"] = args.action_filter
    if args.limit:
        events = (await api.get("/audit", **params, page_size=args.limit))["items"]
    else:
        events = await api.all_pages("/audit", **params)
    emit(events, args.json, event_table(events))


async def stats(api: AdminApi, args: argparse.Namespace, settings: CtlSettings) -> None:
    found = await api.get("/stats")
    emit(found, args.json, stats_text(found))


async def create_registration_token(
    api: AdminApi, args: argparse.Namespace, settings: CtlSettings
) -> None:
    body: dict[str, Any] = {}
    if args.expires_in is not None:
        body["expires_in"] = args.expires_in
    if args.max_uses is not None:
        body["max_uses"] = args.max_uses
    created = await api.post("/registration-tokens", body)
    text = summary(
        [
            ("initial_access_token", created["initial_access_token"]),
            ("expires_at", created.get("expires_at", "")),
        ]
    )
    emit(created, args.json, text + "\n\nThe token is shown only once: keep it now.")


# --- bootstrap ----------------------------------------------------------------------------------


def write_credentials(path: Path, credentials: dict[str, str]) -> None:
    """Mode 0600 from the first byte: the file holds a secret."""
    private_directory(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(credentials, out, indent=2)
        out.write("\n")
    os.chmod(path, 0o600)  # an existing file keeps its old mode through os.open


async def bootstrap(args: argparse.Namespace, settings: CtlSettings) -> None:
    path = settings.credentials_file
    if args.if_needed and path.exists():
        if not args.json:
            print(f"already bootstrapped: {path} exists")
        return
    admin = admin_client(
        settings.admin_target,
        settings.grpc_deadline_seconds,
        ChannelSecurity.from_settings(settings),
    )
    try:
        created = await admin.call.Bootstrap(
            admin_pb2.BootstrapRequest(
                client_name=BOOTSTRAP_CLIENT_NAME, actor=common_pb2.Actor(id="cli")
            )
        )
    finally:
        await admin.close()
    credentials = {
        "client_id": created.client.client_id,
        "client_secret": created.client_secret,
        "url": settings.api_url,
    }
    write_credentials(path, credentials)
    body = {**credentials, "credentials_file": str(path)}
    text = summary(
        [
            ("client_id", created.client.client_id),
            ("client_secret", created.client_secret),
            ("credentials", str(path)),
        ]
    )
    emit(body, args.json, f"{text}\n\n{SECRET_WARNING}")
