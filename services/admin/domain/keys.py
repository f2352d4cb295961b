"""Signing keys (RFC 7517) and counters, from TokenService; rotations and
retirements are audited here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from oauth2.v1 import authorize_pb2, clients_pb2, common_pb2, token_pb2

from common.timeutil import from_timestamp
from services.admin.domain.audit import AuditLog
from services.admin.domain.model import KEY_RETIRED, KEY_ROTATED
from services.admin.domain.ports import ClientRegistry, TokenAuthority, UserDirectory


class KeyAdministration:
    """Signing keys (RFC 7517, RFC 9068 section 4) through TokenService, audited."""

    def __init__(self, tokens: TokenAuthority, audit: AuditLog) -> None:
        self._tokens = tokens
        self._audit = audit

    async def list(self) -> list[token_pb2.SigningKey]:
        return await self._tokens.list_signing_keys()

    async def rotate(self, request: token_pb2.RotateSigningKeyRequest) -> token_pb2.SigningKey:
        """A new active key; the former one stays published as ``previous``."""
        async with self._audit.audited(
            KEY_ROTATED, request.actor.id, remote_addr=request.actor.remote_addr
        ) as entry:
            if request.alg:
                entry.details["alg"] = request.alg
            key = await self._tokens.rotate_signing_key(request)
            entry.target = f"key:{key.kid}"
            entry.details["alg"] = key.alg
            return key

    async def retire(self, request: token_pb2.RetireSigningKeyRequest) -> token_pb2.SigningKey:
        """Retire at once: tokens the key signed stop verifying; it leaves the JWKS."""
        async with self._audit.audited(
            KEY_RETIRED,
            request.actor.id,
            f"key:{request.kid}",
            remote_addr=request.actor.remote_addr,
        ):
            return await self._tokens.retire_signing_key(request)


@dataclass(frozen=True, slots=True)
class Stats:
    clients: int
    users: int
    active_grants: int
    tokens_issued_by_grant_type: dict[str, int]
    #: Since when the token counters count (the token replica's start).
    since: datetime | None


class StatsReader:
    """Counts from the owners: ClientsService and AuthorizeService answer list
    calls with ``total_size``, so one row each is enough."""

    def __init__(
        self, clients: ClientRegistry, users: UserDirectory, tokens: TokenAuthority
    ) -> None:
        self._clients = clients
        self._users = users
        self._tokens = tokens

    async def read(self) -> Stats:
        one = common_pb2.PageRequest(page_size=1)
        clients = await self._clients.list_clients(clients_pb2.ListClientsRequest(page=one))
        users = await self._users.list_users(authorize_pb2.ListUsersRequest(page=one))
        tokens = await self._tokens.token_stats()
        return Stats(
            clients=clients.page.total_size,
            users=users.page.total_size,
            active_grants=tokens.active_grants,
            tokens_issued_by_grant_type=dict(tokens.issued_by_grant_type),
            since=from_timestamp(tokens.since) if tokens.HasField("since") else None,
        )
