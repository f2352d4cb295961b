"""An in-memory ClientStore that counts calls, for domain and cache tests."""

from __future__ import annotations

from collections import Counter

from common.errors import Conflict, NotFound
from services.clients.domain.model import Client
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
