"""What the token domain needs from the outside world, as Protocols.

The clients service answers :class:`ClientAuthenticator` over gRPC
(``services/token/clients_adapter.py``); the SQL store answers the store
Protocols (``services/token/store/sql.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

# Token endpoint authentication methods of confidential clients (RFC 6749 section 2.3.1).
CONFIDENTIAL_AUTH_METHODS = ("client_secret_basic", "client_secret_post")
PUBLIC_AUTH_METHOD = "none"


@dataclass(frozen=True)
class ClientCredentials:
    """What a client presented at an endpoint (RFC 6749 section 2.3)."""

    client_id: str
    client_secret: str = field(default="", repr=False)
    auth_method: str = ""


@dataclass(frozen=True)
class AuthenticatedClient:
    """A client whose credentials the registry accepted (RFC 6749 section 2.3)."""

    client_id: str
    token_endpoint_auth_method: str
    grant_types: tuple[str, ...] = ()
    scope: tuple[str, ...] = ()
    # Empty means the server default.
    access_token_signing_alg: str = ""

    @property
    def is_confidential(self) -> bool:
        return self.token_endpoint_auth_method in CONFIDENTIAL_AUTH_METHODS


class ClientAuthenticator(Protocol):
    """Checks client credentials; raises common.errors.InvalidClient when they are wrong
    and TemporarilyUnavailable when the registry cannot be reached."""

    async def authenticate(self, credentials: ClientCredentials) -> AuthenticatedClient: ...


@dataclass(frozen=True)
class StoredSigningKey:
    """A signing key as stored: public JWK in the clear, private key encrypted (RFC 7517)."""

    kid: str
    alg: str
    # active | previous | retired
    status: str
    public_jwk: dict[str, str]
    private_key_enc: bytes = field(repr=False)
    created_at: datetime
    retired_at: datetime | None = None


class SigningKeyStore(Protocol):
    async def list_keys(self) -> list[StoredSigningKey]: ...

    async def get_key(self, kid: str) -> StoredSigningKey | None: ...

    async def active_key(self, alg: str) -> StoredSigningKey | None: ...

    async def add_active_key(self, key: StoredSigningKey) -> StoredSigningKey:
        """Store ``key`` as the active key of its alg unless one exists already.

        Returns the active key of that alg afterwards: ``key``, or the one another
        replica created first. Concurrent callers create exactly one.
        """
        ...


@dataclass(frozen=True)
class RevokedToken:
    """A denylist entry (RFC 7009 section 2): the jti of a revoked JWT access token."""

    jti: str
    client_id: str
    expires_at: datetime
    revoked_at: datetime


class DenylistStore(Protocol):
    async def add(self, entry: RevokedToken) -> None:
        """Idempotent: revoking a revoked jti again changes nothing."""
        ...

    async def is_revoked(self, jti: str, now: datetime) -> bool: ...

    async def list_unexpired(
        self, now: datetime, revoked_since: datetime | None = None
    ) -> list[RevokedToken]: ...

    async def delete_expired(self, now: datetime) -> int: ...
