"""The ``user`` commands, each one or two calls to the authorize service.

A user is named by its user_id or its username (case-insensitive); a value
shaped like a UUID is tried as a user_id first.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import uuid
from typing import Any

from oauth2.v1 import authorize_pb2

from common.errors import InvalidRequest, NotFound
from oauth2ctl.commands import ACTOR, PAGE_SIZE, emit
from oauth2ctl.render import user_summary, user_table, user_to_dict
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


async def resolve(authorize: Any, id_or_username: str) -> authorize_pb2.User:
    if _is_uuid(id_or_username):
        try:
            return await authorize.call.GetUser(  # type: ignore[no-any-return]
                authorize_pb2.GetUserRequest(user_id=id_or_username)
            )
        except NotFound:
            pass
    return await authorize.call.GetUser(  # type: ignore[no-any-return]
        authorize_pb2.GetUserRequest(username=id_or_username)
    )


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


async def create(authorize: Any, args: argparse.Namespace, settings: CtlSettings) -> None:
    user = await authorize.call.CreateUser(
        authorize_pb2.CreateUserRequest(
            username=args.username,
            password=password_from(args),
            email=args.email or "",
            given_name=args.given_name or "",
            family_name=args.family_name or "",
            actor=ACTOR,
        )
    )
    emit(user_to_dict(user), args.json, user_summary(user))


async def list_users(authorize: Any, args: argparse.Namespace, settings: CtlSettings) -> None:
    found: list[authorize_pb2.User] = []
    page_token = ""
    while True:
        page = await authorize.call.ListUsers(
            authorize_pb2.ListUsersRequest(
                page={"page_size": PAGE_SIZE, "page_token": page_token},
                search=args.search or "",
            )
        )
        found.extend(page.users)
        page_token = page.page.next_page_token
        if not page_token:
            break
    emit([user_to_dict(u) for u in found], args.json, user_table(found))


async def show(authorize: Any, args: argparse.Namespace, settings: CtlSettings) -> None:
    user = await resolve(authorize, args.user)
    emit(user_to_dict(user), args.json, user_summary(user))


async def _set_enabled(authorize: Any, args: argparse.Namespace, enabled: bool) -> None:
    user = await resolve(authorize, args.user)
    await authorize.call.UpdateUser(
        authorize_pb2.UpdateUserRequest(
            user_id=user.user_id,
            user=authorize_pb2.User(enabled=enabled),
            update_mask=["enabled"],
            actor=ACTOR,
        )
    )
    print(f"{'enabled' if enabled else 'disabled'} user {user.username} ({user.user_id})")


async def disable(authorize: Any, args: argparse.Namespace, settings: CtlSettings) -> None:
    await _set_enabled(authorize, args, enabled=False)


async def enable(authorize: Any, args: argparse.Namespace, settings: CtlSettings) -> None:
    await _set_enabled(authorize, args, enabled=True)


async def set_password(authorize: Any, args: argparse.Namespace, settings: CtlSettings) -> None:
    password = password_from(args)
    user = await resolve(authorize, args.user)
    await authorize.call.SetPassword(
        authorize_pb2.SetPasswordRequest(user_id=user.user_id, password=password, actor=ACTOR)
    )
    print(f"password set for user {user.username} ({user.user_id})")


async def delete(authorize: Any, args: argparse.Namespace, settings: CtlSettings) -> None:
    user = await resolve(authorize, args.user)
    await authorize.call.DeleteUser(
        authorize_pb2.DeleteUserRequest(user_id=user.user_id, actor=ACTOR)
    )
    print(f"deleted user {user.username} ({user.user_id})")
