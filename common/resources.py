"""Resource indicators (RFC 8707): the rules both the authorize service (the
authorization request) and the token service (the token request) apply to a
``resource`` parameter, and the registry's answer they apply them to.

A resource is a registered resource server (the clients service keeps them:
``oauth2ctl resource create``). A ``resource`` value must be an absolute URI without
a fragment (section 2), name a registered resource, and be one the client may use:
its registered scope shares at least one scope with the resource's. Each failure is
``invalid_target``. The access token for it has ``aud`` = the identifier and only
the resource's scopes among those granted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final, Protocol
from urllib.parse import urlsplit

from oauth2.v1 import clients_pb2

from common.errors import InvalidScope, InvalidTarget, NotFound
from common.services import ClientsClient

#: The longest identifier the registry keeps.
MAX_IDENTIFIER: Final = 512
#: RFC 8707 section 2: several resource parameters may be sent; this server takes
#: one per request (the token's one audience).
ONE_RESOURCE: Final = "Request one resource at a time"


@dataclass(frozen=True, slots=True)
class ResourceInfo:
    """A registered resource server, as the token rules need it."""

    identifier: str
    scopes: tuple[str, ...]
    # 0: the server's access_token_ttl_seconds.
    access_token_ttl_seconds: int = 0
    # The client it introspects with ("" none).
    introspection_client_id: str = ""


class ResourceDirectory(Protocol):
    async def get(self, identifier: str) -> ResourceInfo | None: ...


def is_resource_uri(value: str) -> bool:
    """RFC 8707 section 2: an absolute URI, no fragment."""
    if not value or len(value) > MAX_IDENTIFIER or "#" in value or any(c.isspace() for c in value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return bool(parts.scheme) and bool(parts.netloc)


def single_resource(values: Iterable[str]) -> str:
    """The one resource of a request ("" for none); invalid_target for several or
    for a value that is not an absolute URI without a fragment."""
    given = [value for value in values if value]
    if len(set(given)) > 1:
        raise InvalidTarget(ONE_RESOURCE)
    if not given:
        return ""
    if not is_resource_uri(given[0]):
        raise InvalidTarget("'resource' must be an absolute URI without a fragment (RFC 8707)")
    return given[0]


async def usable_resource(
    directory: ResourceDirectory, identifier: str, client_scope: Iterable[str]
) -> ResourceInfo:
    """The registered resource, if the client may use it; invalid_target otherwise."""
    resource = await directory.get(identifier)
    if resource is None:
        raise InvalidTarget(f"Unknown resource {identifier[:100]!r}")
    if not set(resource.scopes) & set(client_scope):
        raise InvalidTarget(f"The client may not use the resource {identifier[:100]!r}")
    return resource


def scopes_for(resource: ResourceInfo, granted: Iterable[str]) -> list[str]:
    """The granted scopes that belong to the resource; invalid_scope when none do."""
    kept = [scope for scope in granted if scope in resource.scopes]
    if not kept:
        raise InvalidScope(
            f"None of the scopes asked for belong to the resource {resource.identifier[:100]!r}"
        )
    return kept


def resource_of(message: clients_pb2.Resource) -> ResourceInfo:
    return ResourceInfo(
        identifier=message.identifier,
        scopes=tuple(message.scopes),
        access_token_ttl_seconds=message.access_token_ttl_seconds,
        introspection_client_id=message.introspection_client_id,
    )


class GrpcResourceDirectory:
    """ResourceDirectory over ClientsService.GetResource, each answer (a miss too)
    kept ``ttl_seconds``: a resource deleted or changed is seen within that."""

    def __init__(
        self,
        clients: ClientsClient,
        *,
        ttl_seconds: float = 10.0,
        max_entries: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clients = clients
        self._ttl = ttl_seconds
        self._max = max_entries
        self._clock = clock
        self._cache: dict[str, tuple[float, ResourceInfo | None]] = {}

    async def get(self, identifier: str) -> ResourceInfo | None:
        now = self._clock()
        cached = self._cache.get(identifier)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        try:
            found: ResourceInfo | None = resource_of(
                await self._clients.call.GetResource(
                    clients_pb2.GetResourceRequest(identifier=identifier)
                )
            )
        except NotFound:
            found = None
        if len(self._cache) >= self._max:
            self._cache.clear()
        self._cache[identifier] = (now, found)
        return found
