"""What the admin domain needs: its own storage, and the three services it composes.

The downstream ports speak the owners' contract messages (oauth2.v1): the admin
service passes clients, users, grants and keys through without interpreting
them, so converting them to dataclasses and back would only add copies. The
gRPC adapters are in :mod:`services.admin.downstream`; tests use in-memory fakes.
Every method raises ``common.errors`` classes, as the owner answered them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from oauth2.v1 import authorize_pb2, clients_pb2, common_pb2, token_pb2

from services.admin.domain.model import AuditCursor, AuditFilter, AuditRecord, StateEntry


class AuditStore(Protocol):
    """The audit trail. ``append`` raises Conflict for an event_id already stored."""

    async def append(self, record: AuditRecord) -> None: ...

    async def list(
        self, query: AuditFilter, *, after: AuditCursor | None, limit: int
    ) -> list[AuditRecord]:
        """Up to ``limit`` matching events, newest first (time, then event_id,
        descending), strictly older than ``after``."""
        ...


class AdminStateStore(Protocol):
    """Small keyed facts with compare-and-set, atomic across replicas."""

    async def get(self, key: str) -> StateEntry | None: ...

    async def insert(self, key: str, value: str, *, now: datetime) -> bool:
        """False when ``key`` exists already (whoever inserts first wins)."""
        ...

    async def replace(self, key: str, *, expected: str, value: str, now: datetime) -> bool:
        """Set ``value`` if the stored value is still ``expected``."""
        ...

    async def delete(self, key: str, *, expected: str) -> bool:
        """Delete ``key`` if its value is still ``expected``."""
        ...


class ClientRegistry(Protocol):
    """ClientsService: the client registry (RFC 6749 section 2, RFC 7591 section 3) and
    the resource servers (RFC 8707)."""

    async def create_client(
        self, request: clients_pb2.CreateClientRequest
    ) -> clients_pb2.CreateClientResponse: ...

    async def get_client(self, client_id: str) -> clients_pb2.Client: ...

    async def list_clients(
        self, request: clients_pb2.ListClientsRequest
    ) -> clients_pb2.ListClientsResponse: ...

    async def update_client(
        self, request: clients_pb2.UpdateClientRequest
    ) -> clients_pb2.Client: ...

    async def delete_client(self, client_id: str, actor: common_pb2.Actor) -> None: ...

    async def delete_registration(self, request: clients_pb2.RegistrationAccessRequest) -> None:
        """RFC 7592 section 2.3; InvalidToken unless the registration access token
        is the client's."""
        ...

    async def get_registration(
        self, request: clients_pb2.RegistrationAccessRequest
    ) -> clients_pb2.RegisterClientResponse:
        """RFC 7592 section 2.1; InvalidToken unless the token is the client's."""
        ...

    async def update_registration(
        self, request: clients_pb2.UpdateRegistrationRequest
    ) -> clients_pb2.RegisterClientResponse:
        """RFC 7592 section 2.2; InvalidToken unless the token is the client's."""
        ...

    async def rotate_client_secret(
        self, client_id: str, actor: common_pb2.Actor
    ) -> clients_pb2.RotateClientSecretResponse: ...

    async def create_initial_access_token(
        self, request: clients_pb2.CreateInitialAccessTokenRequest
    ) -> clients_pb2.CreateInitialAccessTokenResponse: ...

    # Resource servers (RFC 8707).

    async def create_resource(
        self, request: clients_pb2.CreateResourceRequest
    ) -> clients_pb2.Resource: ...

    async def get_resource(self, identifier: str) -> clients_pb2.Resource: ...

    async def list_resources(
        self, request: clients_pb2.ListResourcesRequest
    ) -> clients_pb2.ListResourcesResponse: ...

    async def update_resource(
        self, request: clients_pb2.UpdateResourceRequest
    ) -> clients_pb2.Resource: ...

    async def delete_resource(self, identifier: str, actor: common_pb2.Actor) -> None: ...


class UserDirectory(Protocol):
    """AuthorizeService: users and their consents."""

    async def create_user(self, request: authorize_pb2.CreateUserRequest) -> authorize_pb2.User: ...

    async def get_user(self, request: authorize_pb2.GetUserRequest) -> authorize_pb2.User: ...

    async def list_users(
        self, request: authorize_pb2.ListUsersRequest
    ) -> authorize_pb2.ListUsersResponse: ...

    async def update_user(self, request: authorize_pb2.UpdateUserRequest) -> authorize_pb2.User: ...

    async def set_password(self, request: authorize_pb2.SetPasswordRequest) -> None: ...

    async def delete_user(self, user_id: str, actor: common_pb2.Actor) -> None: ...

    async def list_consents(
        self, *, user_id: str, client_id: str, page: common_pb2.PageRequest
    ) -> authorize_pb2.ListConsentsResponse: ...

    async def revoke_consents(
        self, *, user_id: str, client_id: str, actor: common_pb2.Actor
    ) -> int:
        """Every consent of the user and/or the client; how many were revoked."""
        ...


class TokenAuthority(Protocol):
    """TokenService: refresh-token families, signing keys and counters."""

    async def list_grants(
        self, request: token_pb2.ListGrantsRequest
    ) -> token_pb2.ListGrantsResponse: ...

    async def revoke_grants(self, request: token_pb2.RevokeGrantsRequest) -> int:
        """How many refresh-token families were revoked."""
        ...

    async def list_signing_keys(self) -> list[token_pb2.SigningKey]: ...

    async def rotate_signing_key(
        self, request: token_pb2.RotateSigningKeyRequest
    ) -> token_pb2.SigningKey: ...

    async def retire_signing_key(
        self, request: token_pb2.RetireSigningKeyRequest
    ) -> token_pb2.SigningKey: ...

    async def token_stats(self) -> token_pb2.TokenStats: ...
