"""In-memory stores and an audit recorder, for domain and cache tests."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping
from datetime import datetime

from common.errors import Conflict, NotFound
from services.clients.domain.model import Client, InitialAccessToken, Resource
from services.clients.domain.ports import ClientStore


class MemoryClientStore:
    """Follows the ClientStore contract the SQL store is tested against."""

    def __init__(self) -> None:
        self.clients: dict[str, Client] = {}
        self.calls: Counter[str] = Counter()

    async def create(self, client: Client) -> None:
        self.calls["create"] += 1
        if client.client_id in self.clients:
            raise Conflict(f"Client {client.client_id!r} already exists")
        self.clients[client.client_id] = client

    async def get(self, client_id: str) -> Client | None:
        self.calls["get"] += 1
        return self.clients.get(client_id)

    async def list(self, *, after: str | None, limit: int, search: str) -> tuple[list[Client], int]:
        self.calls["list"] += 1
        needle = search.lower()
        matches = [
            client
            for _, client in sorted(self.clients.items())
            if needle in client.client_id.lower() or needle in client.client_name.lower()
        ]
        page = [client for client in matches if after is None or client.client_id > after]
        return page[:limit], len(matches)

    async def update(self, client: Client, *, expected_revision: int) -> None:
        self.calls["update"] += 1
        current = self.clients.get(client.client_id)
        if current is None:
            raise NotFound(f"Client {client.client_id!r} not found")
        if current.revision != expected_revision:
            raise Conflict("changed concurrently")
        self.clients[client.client_id] = client

    async def delete(self, client_id: str) -> bool:
        self.calls["delete"] += 1
        return self.clients.pop(client_id, None) is not None


class CountingStore:
    """Wraps any ClientStore and counts the calls that reach it."""

    def __init__(self, inner: ClientStore) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()

    async def create(self, client: Client) -> None:
        self.calls["create"] += 1
        await self.inner.create(client)

    async def get(self, client_id: str) -> Client | None:
        self.calls["get"] += 1
        return await self.inner.get(client_id)

    async def list(self, *, after: str | None, limit: int, search: str) -> tuple[list[Client], int]:
        self.calls["list"] += 1
        return await self.inner.list(after=after, limit=limit, search=search)

    async def update(self, client: Client, *, expected_revision: int) -> None:
        self.calls["update"] += 1
        await self.inner.update(client, expected_revision=expected_revision)

    async def delete(self, client_id: str) -> bool:
        self.calls["delete"] += 1
        return await self.inner.delete(client_id)


class MemoryResourceStore:
    """Follows the ResourceStore contract the SQL store is tested against."""

    def __init__(self) -> None:
        self.resources: dict[str, Resource] = {}

    async def create(self, resource: Resource) -> None:
        if resource.identifier in self.resources:
            raise Conflict(f"Resource {resource.identifier!r} already exists")
        self.resources[resource.identifier] = resource

    async def get(self, identifier: str) -> Resource | None:
        return self.resources.get(identifier)

    async def list(self, *, after: str | None, limit: int) -> tuple[list[Resource], int]:
        ordered = [resource for _, resource in sorted(self.resources.items())]
        page = [r for r in ordered if after is None or r.identifier > after]
        return page[:limit], len(ordered)

    async def update(self, resource: Resource, *, expected_revision: int) -> None:
        current = self.resources.get(resource.identifier)
        if current is None:
            raise NotFound(f"Resource {resource.identifier!r} not found")
        if current.revision != expected_revision:
            raise Conflict("changed concurrently")
        self.resources[resource.identifier] = resource

    async def delete(self, identifier: str) -> bool:
        return self.resources.pop(identifier, None) is not None


class MemoryInitialAccessTokenStore:
    """Follows the InitialAccessTokenStore contract the SQL store is tested against."""

    def __init__(self) -> None:
        self.tokens: dict[str, InitialAccessToken] = {}

    async def create(self, token: InitialAccessToken) -> None:
        self.tokens[token.token_hash] = token

    async def get(self, token_hash: str) -> InitialAccessToken | None:
        return self.tokens.get(token_hash)

    async def consume(self, token_hash: str, *, now: datetime) -> bool:
        token = self.tokens.get(token_hash)
        if token is None or token.uses >= token.max_uses or token.expires_at <= now:
            return False
        self.tokens[token_hash] = dataclasses.replace(token, uses=token.uses + 1)
        return True

    async def delete_expired(self, *, now: datetime) -> int:
        expired = [h for h, t in self.tokens.items() if t.expires_at <= now]
        for token_hash in expired:
            del self.tokens[token_hash]
        return len(expired)


@dataclasses.dataclass
class RecordedEvent:
    action: str
    target: str
    actor: str
    remote_addr: str
    details: dict[str, str]


class RecordingAuditReporter:
    """Keeps what would have been sent to the admin service."""

    def __init__(self) -> None:
        self.events: list[RecordedEvent] = []

    def report(
        self,
        action: str,
        *,
        target: str = "",
        outcome: str = "success",
        actor: str = "system",
        remote_addr: str = "",
        details: Mapping[str, str] | None = None,
    ) -> None:
        self.events.append(RecordedEvent(action, target, actor, remote_addr, dict(details or {})))
