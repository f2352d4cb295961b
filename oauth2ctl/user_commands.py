"""The ``user`` commands over ``/admin/api/users``.

A user is named by its user_id or its username (case-insensitive); a value
shaped like a UUID is tried as a user_id first.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import uuid
from typing import Any

from common.errors import InvalidRequest, NotFound
from oauth2ctl.api import AdminApi
from oauth2ctl.commands import emit, segment
from oauth2ctl.render import user_summary, user_table
from oauth2ctl.settings import CtlSettings


def password_from(args: argparse.Namespace) -> str:
    """--password, or the first line of standard input with --password-stdin (which
    keeps the password out of the shell history and the process list); asked for
    without echo when standard input is a terminal."""
    if args.password_stdin:
        if sys.stdin.isatty():
            return getpass.getpass("Password: ")
        line = sys.stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
        password = password[:-1] if password.endswith("\r") else password
        if not password:
            raise InvalidRequest("No password on standard input")
        return password
    return str(args.password)


async def resolve(api: AdminApi, id_or_username: str) -> dict[str, Any]:
    """The user of that user_id or, else, that username (``GET /users?username=``,
    one call whatever the number of users)."""
    if not id_or_username:
        raise InvalidRequest("Give a user id or a username")
    if is_uuid(id_or_username):
        try:
            user: dict[str, Any] = await api.get(f"/users/{segment(id_or_username)}")
            return user
        except NotFound:
            pass
    found = (await api.get("/users", username=id_or_username))["items"]
    if found:
        named: dict[str, Any] = found[0]
        return named
    raise NotFound(f"No user '{id_or_username}'")


async def resolve_id(api: AdminApi, id_or_username: str) -> str:
    """The user_id of a user named by either (grants, audit targets)."""
    return str((await resolve(api, id_or_username))["user_id"])


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


async def create(api: AdminApi, args: argparse.Namespace, settings: CtlSettings) -> None:
    body = {"username": args.username, "password": password_from(args)}
    for name in ("email", "given_name", "family_name"):
        if getattr(args, name):
            body[name] = getattr(args, name)
    user = await api.post("/users", body)
    emit(user, args, user_summary(user))


async def list_users(api: AdminApi, args: argparse.Namespace, settings: CtlSettings) -> None:
    found = await api.all_pages("/users", search=args.search)
    emit(found, args, user_table(found))


async def show(api: AdminApi, args: argparse.Namespace, settings: CtlSettings) -> None:
    user = await resolve(api, args.user)
    emit(user, args, user_summary(user))


async def update(api: AdminApi, args: argparse.Namespace, settings: CtlSettings) -> None:
    body: dict[str, Any] = {
        name: getattr(args, name)
        for name in ("email", "given_name", "family_name", "name")
        if getattr(args, name) is not None
    }
    if args.email_verified is not None:
        body["email_verified"] = args.email_verified
    if not body:
        raise InvalidRequest("Nothing to update: give at least one option")
    user = await resolve(api, args.user)
    updated = await api.patch(f"/users/{segment(user['user_id'])}", body)
    emit(updated, args, user_summary(updated))


async def _set_enabled(api: AdminApi, args: argparse.Namespace, enabled: bool) -> None:
    user = await resolve(api, args.user)
    updated = await api.patch(f"/users/{segment(user['user_id'])}", {"enabled": enabled})
    text = f"{'enabled' if enabled else 'disabled'} user {user['username']} ({user['user_id']})"
    emit(updated, args, text)


async def disable(api: AdminApi, args: argparse.Namespace, settings: CtlSettings) -> None:
    await _set_enabled(api, args, enabled=False)


async def enable(api: AdminApi, args: argparse.Namespace, settings: CtlSettings) -> None:
    await _set_enabled(api, args, enabled=True)


async def set_password(api: AdminApi, args: argparse.Namespace, settings: CtlSettings) -> None:
    password = password_from(args)
    user = await resolve(api, args.user)
    await api.post(f"/users/{segment(user['user_id'])}/password", {"password": password})
    emit(
        {"user_id": user["user_id"], "username": user["username"], "password_set": True},
        args,
        f"password set for user {user['username']} ({user['user_id']})",
    )


async def delete(api: AdminApi, args: argparse.Namespace, settings: CtlSettings) -> None:
    user = await resolve(api, args.user)
    await api.delete(f"/users/{segment(user['user_id'])}")
    emit(
        {"user_id": user["user_id"], "username": user["username"], "deleted": True},
        args,
        f"deleted user {user['username']} ({user['user_id']})",
    )
