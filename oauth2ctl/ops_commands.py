"""Grants, signing keys, the audit log, counts and registration tokens over the
admin API; and ``bootstrap``, the one command that talks gRPC.

``bootstrap`` calls ``AdminService.Bootstrap`` at ``admin_target``: reaching the
internal network is the trust boundary (like ``kubectl exec``; with mTLS on, the
admin service takes the call only with the ``ctl`` or ``admin`` certificate). It
creates the first admin client, prints its secret once and writes the
credentials file (mode 0600) that every other command then uses. ``bootstrap
--recover`` is the same call with ``recover`` set, for an operator who lost that
file: the admin client gets a new secret (or a new admin client is made), audited
as ``admin.recovered``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from oauth2.v1 import admin_pb2, common_pb2

from common.errors import InvalidRequest, NotFound
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
from oauth2ctl.user_commands import is_uuid, resolve_id

BOOTSTRAP_CLIENT_NAME = "oauth2ctl"
USER_TARGET = "user:"


async def user_id_of(api: AdminApi, value: str | None) -> str | None:
    """A user named by id or username, as the user_id the admin API filters on: a
    value shaped like a user_id is taken as it is, and so is a value no user has
    as username (the user may be gone: its grants and audit events are still
    worth listing)."""
    if not value or is_uuid(value):
        return value
    try:
        return await resolve_id(api, value)
    except NotFound:
        return value


# --- grants ---------------------------------------------------------------------------


async def list_grants(api: AdminApi, args: argparse.Namespace, settings: CtlSettings) -> None:
    params = {"user_id": await user_id_of(api, args.user), "client_id": args.client}
    first = await api.get("/grants", **params, page_size=200)
    grants = {"consents": first["consents"], "items": list(first["items"])}
    token = first.get("next_page_token", "")
    while token:
        page = await api.get("/grants", **params, page_size=200, page_token=token)
        grants["items"].extend(page["items"])
        token = page.get("next_page_token", "")
    emit(grants, args, grants_text(grants))


async def revoke_grants(api: AdminApi, args: argparse.Namespace, settings: CtlSettings) -> None:
    chosen = [value for value in (args.family_id, args.user, args.client) if value]
    if len(chosen) != 1:
        raise InvalidRequest("Give exactly one of FAMILY_ID, --user and --client")
    if args.family_id:
        await api.delete(f"/grants/{segment(args.family_id)}")
        emit({"family_id": args.family_id, "revoked": 1}, args, f"revoked grant {args.family_id}")
        return
    user_id = await user_id_of(api, args.user)
    answer = await api.delete("/grants", user_id=user_id, client_id=args.client)
    who = f"user {args.user}" if args.user else f"client {args.client}"
    body = {"user_id": user_id} if user_id else {"client_id": args.client}
    emit(
        {**body, "revoked": answer["revoked"]},
        args,
        f"revoked {answer['revoked']} grant(s) of {who}",
    )


# --- keys ----------------------------------------------------------------------------------


async def list_keys(api: AdminApi, args: argparse.Namespace, settings: CtlSettings) -> None:
    keys = (await api.get("/keys"))["items"]
    emit(keys, args, key_table(keys))


async def rotate_key(api: AdminApi, args: argparse.Namespace, settings: CtlSettings) -> None:
    key = await api.post("/keys/rotate", {"alg": args.alg} if args.alg else {})
    emit(key, args, key_summary(key))


async def retire_key(api: AdminApi, args: argparse.Namespace, settings: CtlSettings) -> None:
    key = await api.post(f"/keys/{segment(args.kid)}/retire")
    emit(key, args, key_summary(key))


# --- audit, stats, registration tokens --------------------------------------------------------


async def list_events(api: AdminApi, args: argparse.Namespace, settings: CtlSettings) -> None:
    params = {
        name: getattr(args, name) for name in ("actor", "target", "outcome", "since", "until")
    }
    params["action"] = args.action_filter
    if args.target and args.target.startswith(USER_TARGET):
        user = args.target.removeprefix(USER_TARGET)
        params["target"] = USER_TARGET + (await user_id_of(api, user) or "")
    if args.limit:
        events = (await api.get("/audit", **params, page_size=args.limit))["items"]
    else:
        events = await api.all_pages("/audit", **params)
    emit(events, args, event_table(events))


async def stats(api: AdminApi, args: argparse.Namespace, settings: CtlSettings) -> None:
    found = await api.get("/stats")
    emit(found, args, stats_text(found))


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
    emit(created, args, text + "\n\nThe token is shown only once: keep it now.")


# --- bootstrap ----------------------------------------------------------------------------------


def write_credentials(
    path: Path, credentials: dict[str, str], *, private_parent: bool = True
) -> None:
    """Mode 0600 from the first byte: the file holds a secret. Its directory (the
    data directory, oauth2ctl's configuration directory) is made private too,
    unless it is one the operator chose with ctl_credentials_file."""
    if private_parent:
        private_directory(path.parent)
    else:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(credentials, out, indent=2)
        out.write("\n")
    os.chmod(path, 0o600)  # an existing file keeps its old mode through os.open


async def bootstrap(args: argparse.Namespace, settings: CtlSettings) -> None:
    path = settings.credentials_file
    if args.if_needed and path.exists():
        emit(
            {"credentials_file": str(path), "already_bootstrapped": True},
            args,
            f"already bootstrapped: {path} exists",
        )
        return
    admin = admin_client(
        settings.admin_target,
        settings.grpc_deadline_seconds,
        ChannelSecurity.from_settings(settings),
    )
    try:
        created = await admin.call.Bootstrap(
            admin_pb2.BootstrapRequest(
                client_name=BOOTSTRAP_CLIENT_NAME,
                actor=common_pb2.Actor(id="cli"),
                recover=args.recover,
            )
        )
    finally:
        await admin.close()
    credentials = {
        "client_id": created.client.client_id,
        "client_secret": created.client_secret,
        "url": settings.api_url,
    }
    write_credentials(path, credentials, private_parent=settings.ctl_credentials_file is None)
    body: dict[str, Any] = {**credentials, "credentials_file": str(path)}
    if args.recover:
        body["recovered"] = True
    text = summary(
        [
            ("client_id", created.client.client_id),
            ("client_secret", created.client_secret),
            ("credentials", str(path)),
        ]
    )
    if args.recover:
        text += "\n\nRecovered (audited as admin.recovered): any earlier secret no longer works."
    emit(body, args, f"{text}\n\n{SECRET_WARNING}")
