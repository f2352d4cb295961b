"""The registry of resource servers (RFC 8707): the APIs a ``resource`` parameter
may name, each the audience of the access tokens issued for it.

Every refusal is an invalid_request naming its field:

* ``identifier``: an absolute URI (RFC 3986 section 4.3) with a scheme and a host
  and without a fragment (RFC 8707 section 2), at most 512 characters of the URI
  syntax (ASCII; no whitespace or control characters: percent-encode them). It is
  the key and is kept exactly as given: an ``aud`` is compared as a string.
* ``name``: at most 200 characters, no control characters (surrounding spaces go).
* ``scopes``: 1 to 50 scope tokens (RFC 6749 section 3.3), one per item; repeats
  are dropped, the order is kept.
* ``access_token_ttl_seconds``: 0 (the server's default) or 60 to 86400.
* ``introspection_client_id``: "" or the client_id of a registered client.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Final
from urllib.parse import urlsplit

from common.errors import InvalidRequest, NotFound
from common.paging import decode_page_token, encode_page_token, page_size
from common.scopes import parse_scope
from common.timeutil import utcnow
from services.clients.domain.metadata import MAX_CLIENT_ID_LENGTH
from services.clients.domain.model import RESOURCE_FIELDS, Resource, ResourceFields
from services.clients.domain.ports import ClientStore, ResourcePage, ResourceStore

MAX_IDENTIFIER_LENGTH: Final = 512
MAX_NAME_LENGTH: Final = 200
MAX_SCOPES: Final = 50
MIN_ACCESS_TOKEN_TTL_SECONDS: Final = 60
MAX_ACCESS_TOKEN_TTL_SECONDS: Final = 86_400

# RFC 3986 section 2: unreserved, reserved and "%" (of a pct-encoded triplet).
_URI_CHARACTERS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*")
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
# RFC 3986 section 3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

IDENTIFIER_EXAMPLE: Final = "https://api.example.com/orders"


def validate_identifier(identifier: str) -> str:
    """A resource identifier as RFC 8707 section 2 describes it, or InvalidRequest."""
    if not identifier:
        raise InvalidRequest("Missing 'identifier'")
    if len(identifier) > MAX_IDENTIFIER_LENGTH:
        raise InvalidRequest(f"Invalid 'identifier': at most {MAX_IDENTIFIER_LENGTH} characters")
    if not identifier.isascii() or any(c.isspace() or not c.isprintable() for c in identifier):
        raise InvalidRequest(
            "Invalid 'identifier': whitespace, control and non-ASCII characters must be "
            "percent-encoded"
        )
    if "#" in identifier:
        raise InvalidRequest("Invalid 'identifier': it must not include a fragment (RFC 8707)")
    refused = InvalidRequest(
        "Invalid 'identifier': an absolute URI with a scheme and a host, such as "
        f"{IDENTIFIER_EXAMPLE} (RFC 8707 section 2)"
    )
    if not _URI_CHARACTERS.fullmatch(identifier) or _BAD_PERCENT.search(identifier):
        raise refused
    try:
        parts = urlsplit(identifier)
        hostname, _ = parts.hostname, parts.port
    except ValueError:
        raise refused from None
    scheme = identifier.partition(":")[0]
    if not _SCHEME.fullmatch(scheme) or not parts.netloc or not hostname:
        raise refused
    return identifier


def validate_name(name: str) -> str:
    name = name.strip()
    if len(name) > MAX_NAME_LENGTH or _CONTROL.search(name):
        raise InvalidRequest(
            f"Invalid 'name': at most {MAX_NAME_LENGTH} characters, no control characters"
        )
    return name


def validate_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    """One scope token per item (RFC 6749 section 3.3), first-seen order, no repeats."""
    unique = tuple(dict.fromkeys(scopes))
    if not unique:
        raise InvalidRequest("'scopes' must name at least one scope")
    if len(unique) > MAX_SCOPES:
        raise InvalidRequest(f"Too many 'scopes' (at most {MAX_SCOPES})")
    for scope in unique:
        try:
            valid = parse_scope(scope, InvalidRequest) == [scope]
        except InvalidRequest:
            valid = False
        if not valid:
            raise InvalidRequest(
                f"Invalid scope token {scope[:100]!r} in 'scopes' (RFC 6749 section 3.3)"
            )
    return unique


def validate_access_token_ttl(seconds: int) -> int:
    if seconds != 0 and not MIN_ACCESS_TOKEN_TTL_SECONDS <= seconds <= MAX_ACCESS_TOKEN_TTL_SECONDS:
        raise InvalidRequest(
            "'access_token_ttl_seconds' must be 0 (the server default) or from "
            f"{MIN_ACCESS_TOKEN_TTL_SECONDS} to {MAX_ACCESS_TOKEN_TTL_SECONDS}"
        )
    return seconds


class ResourceRegistry:
    """Registered resource servers, by identifier (RFC 8707 section 2)."""

    def __init__(
        self,
        store: ResourceStore,
        clients: ClientStore,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        """``clients``: where ``introspection_client_id`` is looked up."""
        self._store = store
        self._clients = clients
        self._clock = clock

    async def validate(self, fields: ResourceFields) -> ResourceFields:
        """``fields`` as stored, or InvalidRequest naming the first field at fault."""
        return ResourceFields(
            name=validate_name(fields.name),
            scopes=validate_scopes(fields.scopes),
            access_token_ttl_seconds=validate_access_token_ttl(fields.access_token_ttl_seconds),
            introspection_client_id=await self._introspection_client(
                fields.introspection_client_id
            ),
        )

    async def _introspection_client(self, client_id: str) -> str:
        if not client_id:
            return ""
        if len(client_id) > MAX_CLIENT_ID_LENGTH or await self._clients.get(client_id) is None:
            raise InvalidRequest(f"Unknown client {client_id[:100]!r} in 'introspection_client_id'")
        return client_id

    async def create(self, identifier: str, fields: ResourceFields) -> Resource:
        """Register a resource server; Conflict when its identifier is taken."""
        identifier = validate_identifier(identifier)
        validated = await self.validate(fields)
        now = self._clock()
        resource = Resource(
            identifier=identifier,
            **_fields_of(validated),
            created_at=now,
            updated_at=now,
            revision=1,
        )
        await self._store.create(resource)
        return resource

    async def get(self, identifier: str) -> Resource:
        _required_identifier(identifier)
        resource = await self._store.get(identifier) if _may_exist(identifier) else None
        if resource is None:
            raise NotFound(f"Resource {identifier[:MAX_IDENTIFIER_LENGTH]!r} not found")
        return resource

    async def list(self, *, page_size_requested: int = 0, page_token: str = "") -> ResourcePage:
        limit = page_size(page_size_requested)
        after = decode_page_token(page_token)
        # One extra row tells whether another page follows without a second query.
        resources, total = await self._store.list(after=after, limit=limit + 1)
        next_token = (
            encode_page_token(resources[limit - 1].identifier) if len(resources) > limit else ""
        )
        return ResourcePage(
            resources=resources[:limit], next_page_token=next_token, total_size=total
        )

    async def update(
        self, identifier: str, fields: ResourceFields, update_mask: Iterable[str] = ()
    ) -> Resource:
        """Replace the fields named in ``update_mask`` (every field when empty)."""
        current = await self.get(identifier)
        mask = set(update_mask)
        unknown = sorted(mask - set(RESOURCE_FIELDS))
        if unknown:
            raise InvalidRequest(f"Unknown field {unknown[0][:100]!r} in 'update_mask'")
        if mask:
            merged = dataclasses.replace(
                current.fields(), **{name: getattr(fields, name) for name in mask}
            )
        else:
            merged = fields
        validated = await self.validate(merged)
        updated = dataclasses.replace(
            current,
            **_fields_of(validated),
            updated_at=self._clock(),
            revision=current.revision + 1,
        )
        await self._store.update(updated, expected_revision=current.revision)
        return updated

    async def delete(self, identifier: str) -> None:
        _required_identifier(identifier)
        if not _may_exist(identifier) or not await self._store.delete(identifier):
            raise NotFound(f"Resource {identifier[:MAX_IDENTIFIER_LENGTH]!r} not found")


def _required_identifier(identifier: str) -> str:
    if not identifier:
        raise InvalidRequest("Missing 'identifier'")
    return identifier


def _may_exist(identifier: str) -> bool:
    """False for a string no registered identifier can be (too long, or with a
    character the database may refuse to compare, such as NUL): not found without
    asking the database."""
    return len(identifier) <= MAX_IDENTIFIER_LENGTH and not _CONTROL.search(identifier)


def _fields_of(fields: ResourceFields) -> dict[str, Any]:
    return {name: getattr(fields, name) for name in RESOURCE_FIELDS}
