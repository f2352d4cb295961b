"""The ``resource`` commands over ``/admin/api/resources``: resource servers (RFC
8707), named by their identifier, a URI. It travels percent-encoded as one path
segment (``https%3A%2F%2Fapi.example.com%2Forders``), so any URI reaches the admin
API as it was typed."""

from __future__ import annotations

import argparse
from typing import Any

from common.errors import InvalidRequest
from oauth2ctl.api import AdminApi
from oauth2ctl.commands import emit, segment
from oauth2ctl.render import resource_summary, resource_table
from oauth2ctl.settings import CtlSettings


def scopes_from(values: list[str]) -> list[str]:
    """Every ``--scope``; one may hold several separated by spaces ("a b")."""
    return [scope for value in values for scope in value.split()]


def fields_from(args: argparse.Namespace) -> dict[str, Any]:
    """The resource fields the flags set; what they leave out is not sent."""
    body: dict[str, Any] = {}
    if args.name is not None:
        body["name"] = args.name
    if args.scopes is not None:
        body["scopes"] = scopes_from(args.scopes)
    if args.access_token_ttl is not None:
        body["access_token_ttl_seconds"] = args.access_token_ttl
    if args.introspection_client is not None:
        body["introspection_client_id"] = args.introspection_client
    return body


def path_of(identifier: str) -> str:
    return f"/resources/{segment(identifier)}"


async def create(api: AdminApi, args: argparse.Namespace, settings: CtlSettings) -> None:
    body = {"identifier": args.identifier, **fields_from(args)}
    resource = await api.post("/resources", body)
    emit(resource, args, resource_summary(resource))


async def list_resources(api: AdminApi, args: argparse.Namespace, settings: CtlSettings) -> None:
    found = await api.all_pages("/resources")
    emit(found, args, resource_table(found))


async def get(api: AdminApi, args: argparse.Namespace, settings: CtlSettings) -> None:
    resource = await api.get(path_of(args.identifier))
    emit(resource, args, resource_summary(resource))


async def update(api: AdminApi, args: argparse.Namespace, settings: CtlSettings) -> None:
    body = fields_from(args)
    if not body:
        raise InvalidRequest("Nothing to update: give at least one option")
    resource = await api.patch(path_of(args.identifier), body)
    emit(resource, args, resource_summary(resource))


async def delete(api: AdminApi, args: argparse.Namespace, settings: CtlSettings) -> None:
    await api.delete(path_of(args.identifier))
    emit(
        {"identifier": args.identifier, "deleted": True},
        args,
        f"deleted resource {args.identifier}",
    )
