"""In-memory implementations of the token domain's Protocols, for unit tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from common.errors import InvalidClient
from services.token.domain.ports import (
    AuthenticatedClient,
    ClientCredentials,
    RevokedToken,
    StoredSigningKey,
)


class FakeClientAuthenticator:
    """Registered clients and their secrets; "none" clients need no secret."""

    def __init__(self) -> None:
        self.clients: dict[str, tuple[AuthenticatedClient, str]] = {}
        self.calls = 0

    def register(
        self,
        client_id: str,
        *,
        secret: str = "s3cret",  # noqa: S107 - a test fixture value
        auth_method: str = "client_secret_basic",
        grant_types: tuple[str, ...] = ("client_credentials",),
        scope: tuple[str, ...] = ("read", "write"),
        alg: str = "",
    ) -> ClientCredentials:
        client = AuthenticatedClient(
            client_id=client_id,
            token_endpoint_auth_method=auth_method,
            grant_types=grant_types,
            scope=scope,
            access_token_signing_alg=alg,
        )
        self.clients[client_id] = (client, secret if auth_method != "none" else "")
        return ClientCredentials(
            client_id=client_id,
            client_secret=secret if auth_method != "none" else "",
            auth_method=auth_method,
        )

    async def authenticate(self, credentials: ClientCredentials) -> AuthenticatedClient:
        self.calls += 1
        found = self.clients.get(credentials.client_id)
        if found is None or found[1] != credentials.client_secret:
            raise InvalidClient("Client authentication failed")
        return found[0]


class MemorySigningKeyStore:
    def __init__(self) -> None:
        self.keys: dict[str, StoredSigningKey] = {}
        self.list_calls = 0

    async def list_keys(self) -> list[StoredSigningKey]:
        self.list_calls += 1
        return sorted(self.keys.values(), key=lambda k: k.created_at)

    async def get_key(self, kid: str) -> StoredSigningKey | None:
        return self.keys.get(kid)

    async def active_key(self, alg: str) -> StoredSigningKey | None:
        return next((k for k in self.keys.values() if k.alg == alg and k.status == "active"), None)

    async def add_active_key(self, key: StoredSigningKey) -> StoredSigningKey:
        existing = await self.active_key(key.alg)
        if existing is not None:
            return existing
        self.keys[key.kid] = key
        return key

    def set_status(self, kid: str, status: str) -> None:
        self.keys[kid] = replace(self.keys[kid], status=status)


class MemoryDenylistStore:
    def __init__(self) -> None:
        self.entries: dict[str, RevokedToken] = {}

    async def add(self, entry: RevokedToken) -> None:
        self.entries.setdefault(entry.jti, entry)

    async def is_revoked(self, jti: str, now: datetime) -> bool:
        entry = self.entries.get(jti)
        return entry is not None and entry.expires_at > now

    async def list_unexpired(
        self, now: datetime, revoked_since: datetime | None = None
    ) -> list[RevokedToken]:
        return [
            e
            for e in self.entries.values()
            if e.expires_at > now and (revoked_since is None or e.revoked_at >= revoked_since)
        ]

    async def delete_expired(self, now: datetime) -> int:
        expired = [jti for jti, e in self.entries.items() if e.expires_at <= now]
        for jti in expired:
            del self.entries[jti]
        return len(expired)
