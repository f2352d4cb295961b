"""What the registry needs from storage; implemented by ``store.sql`` and ``store.cache``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from services.clients.domain.model import Client, InitialAccessToken, Resource


@dataclass(frozen=True, slots=True)
class ClientPage:
    clients: list[Client]
    #: Opaque cursor of the next page; empty on the last page.
    next_page_token: str
    #: How many clients match the search, over all pages.
    total_size: int


class ClientStore(Protocol):
    """Persistence of clients. Implementations raise ``common.errors`` classes:
    Conflict for a taken client_id or a lost update race, NotFound for a client
    that is gone, TemporarilyUnavailable when the database cannot be reached."""

    async def create(self, client: Client) -> None: ...

    async def get(self, client_id: str) -> Client | None: ...

    async def list(self, *, after: str | None, limit: int, search: str) -> tuple[list[Client], int]:
        """Up to ``limit`` clients ordered by client_id, strictly after ``after``,
        whose client_id or client_name contains ``search`` (case-insensitive);
        plus the total number of matches."""
        ...

    async def update(self, client: Client, *, expected_revision: int) -> None:
        """Replace the stored client if its revision is still ``expected_revision``."""
        ...

    async def delete(self, client_id: str) -> bool:
        """True when a client was deleted."""
        ...


class InitialAccessTokenStore(Protocol):
    """Persistence of RFC 7591 initial access tokens, by the SHA-256 of the token.
    Raises TemporarilyUnavailable when the database cannot be reached."""

    async def create(self, token: InitialAccessToken) -> None: ...

    async def consume(self, token_hash: str, *, now: datetime) -> bool:
        """Use the token once, atomically: True when it existed, had not expired at
        ``now`` and had a use left; concurrent callers never overspend it."""
        ...

    async def get(self, token_hash: str) -> InitialAccessToken | None: ...

    async def delete_expired(self, *, now: datetime) -> int:
        """Remove tokens that expired before ``now``; how many went."""
        ...


@dataclass(frozen=True, slots=True)
class ResourcePage:
    resources: list[Resource]
    #: Opaque cursor of the next page; empty on the last page.
    next_page_token: str
    #: How many resources there are, over all pages.
    total_size: int


class ResourceStore(Protocol):
    """Persistence of resource servers (RFC 8707), by identifier. Implementations
    raise ``common.errors`` classes: Conflict for a taken identifier or a lost update
    race, NotFound for a resource that is gone, TemporarilyUnavailable when the
    database cannot be reached."""

    async def create(self, resource: Resource) -> None: ...

    async def get(self, identifier: str) -> Resource | None: ...

    async def list(self, *, after: str | None, limit: int) -> tuple[list[Resource], int]:
        """Up to ``limit`` resources ordered by identifier, strictly after ``after``;
        plus how many there are in all."""
        ...

    async def update(self, resource: Resource, *, expected_revision: int) -> None:
        """Replace the stored resource if its revision is still ``expected_revision``."""
        ...

    async def delete(self, identifier: str) -> bool:
        """True when a resource was deleted."""
        ...
