"""What the token domain needs from the outside world, as Protocols.

The clients service answers :class:`ClientAuthenticator` over gRPC
(``services/token/clients_adapter.py``), the authorize service answers
:class:`CodeConsumer` and :class:`UserDirectory`
(``services/token/authorize_adapter.py``); the SQL store answers the store
Protocols (``services/token/store/sql.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from common.vocabulary import CONFIDENTIAL_AUTH_METHODS


@dataclass(frozen=True)
class ClientCredentials:
    """What a client presented at an endpoint (RFC 6749 section 2.3)."""

    client_id: str
    client_secret: str = field(default="", repr=False)
    auth_method: str = ""
    #: private_key_jwt: the client assertion (RFC 7523 section 2.2), good once.
    client_assertion: str = field(default="", repr=False)
    #: RFC 8705: the TLS client certificate (DER) of the request; b"" none.
    client_certificate: bytes = field(default=b"", repr=False)


@dataclass(frozen=True)
class AuthenticatedClient:
    """A client whose credentials the registry accepted (RFC 6749 section 2.3)."""

    client_id: str
    token_endpoint_auth_method: str
    grant_types: tuple[str, ...] = ()
    scope: tuple[str, ...] = ()
    # Empty means the server default.
    access_token_signing_alg: str = ""
    # Refresh tokens even without the offline_access scope (docs/signin.md).
    always_issue_refresh_token: bool = False
    # May introspect tokens issued to other clients (RFC 7662 section 2.1).
    introspection: bool = False
    # When the presented secret expires (RFC 7591 client_secret_expires_at), if it
    # does: a cache of authentications keeps this one no longer.
    credentials_expire_at: datetime | None = None
    # RFC 8693: the audiences it may exchange tokens for (an operator's list).
    token_exchange_audiences: tuple[str, ...] = ()
    # RFC 9449 section 5.2: its token requests must carry a DPoP proof.
    dpop_bound_access_tokens: bool = False
    # RFC 8705 section 3.4: its access tokens are bound to its TLS certificate.
    tls_client_certificate_bound_access_tokens: bool = False

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
    # Set when the key becomes ``previous``: once every token it signed has expired.
    retire_after: datetime | None = None


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

    async def rotate_key(self, key: StoredSigningKey, retire_after: datetime) -> None:
        """In one transaction: the active key of ``key.alg`` (if any) becomes ``previous``
        with ``retire_after``, and ``key`` becomes the active one. Concurrent rotations
        run one after the other: there is never more than one active key per alg."""
        ...

    async def retire_key(self, kid: str, now: datetime) -> bool:
        """Mark a ``previous`` key retired; False when it is not ``previous``."""
        ...

    async def retire_due(self, now: datetime) -> int:
        """Retire the ``previous`` keys whose retire_after has passed; returns how many."""
        ...


@dataclass(frozen=True)
class RevokedToken:
    """A denylist entry (RFC 7009 section 2): the jti of a revoked JWT access token."""

    jti: str
    client_id: str
    expires_at: datetime
    revoked_at: datetime


@dataclass(frozen=True)
class RevokedFamily:
    """A denylist entry for a whole grant family: every access token carrying this
    ``grant_id`` is dead (RFC 6749 section 4.1.2, RFC 9700 section 4.5)."""

    family_id: str
    # No access token of the family outlives this; the entry may go afterwards.
    expires_at: datetime
    revoked_at: datetime


PrincipalKind = Literal["subject", "client"]


@dataclass(frozen=True)
class RevokedPrincipal:
    """A not-before entry (docs/operators.md): every access token of this subject or
    client issued at or before ``not_before`` is dead."""

    kind: PrincipalKind
    principal_id: str
    not_before: datetime
    # No access token issued before not_before outlives this; the entry may go afterwards.
    expires_at: datetime


class DenylistStore(Protocol):
    """The durable revocation list: jtis of access tokens, ids of grant families, and
    not-before times of subjects and clients."""

    async def add(self, entry: RevokedToken) -> None:
        """Idempotent: revoking a revoked jti again changes nothing."""
        ...

    async def is_revoked(self, jti: str, now: datetime) -> bool: ...

    async def list_unexpired(
        self, now: datetime, revoked_since: datetime | None = None
    ) -> list[RevokedToken]: ...

    async def add_family(self, entry: RevokedFamily) -> None:
        """Idempotent: revoking a revoked family again changes nothing."""
        ...

    async def is_family_revoked(self, family_id: str, now: datetime) -> bool: ...

    async def list_unexpired_families(
        self, now: datetime, revoked_since: datetime | None = None
    ) -> list[RevokedFamily]: ...

    async def add_principal(self, entry: RevokedPrincipal) -> RevokedPrincipal:
        """Insert, or move an existing entry's not_before and expires_at forward (never
        back); returns the entry as stored afterwards."""
        ...

    async def principal_not_before(
        self, kind: PrincipalKind, principal_id: str, now: datetime
    ) -> datetime | None: ...

    async def list_unexpired_principals(
        self, now: datetime, revoked_since: datetime | None = None
    ) -> list[RevokedPrincipal]: ...

    async def delete_expired(self, now: datetime) -> int:
        """Delete expired entries of every kind; returns how many."""
        ...


# -- people: the authorize service ------------------------------------------------------


@dataclass(frozen=True)
class ConsumedCode:
    """What a consumed authorization code stood for (RFC 6749 section 4.1.2, RFC 7636 4.4),
    as ``AuthorizeService.ConsumeAuthorizationCode`` returns it."""

    code_id: str
    client_id: str
    user_id: str
    redirect_uri: str
    # The authorization request carried redirect_uri, so the token request must repeat it.
    redirect_uri_in_request: bool
    scopes: tuple[str, ...]
    code_challenge: str = ""
    code_challenge_method: str = ""
    nonce: str = ""
    auth_time: datetime | None = None
    amr: tuple[str, ...] = ()
    # RFC 8707: the resource of the authorization request ("" none).
    resource: str = ""
    # The browser session that approved it (Back-Channel Logout 1.0; "" none, a device).
    sid: str = ""
    # RFC 9449 section 10: the DPoP key (RFC 7638 thumbprint) the code is bound to.
    dpop_jkt: str = ""


class CodeConsumer(Protocol):
    """Consumes an authorization code atomically; raises common.errors.InvalidGrant when
    it is unknown, expired, used already or issued to another client."""

    async def consume(self, code: str, client_id: str) -> ConsumedCode: ...


class DeviceCodeConsumer(Protocol):
    """Redeems a device_code (RFC 8628 section 3.4, 3.5) at the authorize service: the
    grant once approved; else authorization_pending, slow_down, access_denied,
    expired_token, or invalid_grant (unknown, used, another client's)."""

    async def consume_device_code(self, device_code: str, client_id: str) -> ConsumedCode: ...


class UserDirectory(Protocol):
    async def claims(self, user_id: str, scopes: list[str]) -> tuple[dict[str, Any], bool]:
        """The user's OpenID Connect claims for ``scopes`` (Core section 5.4) and whether the
        account is enabled. An unknown user is ``({}, False)``."""
        ...


# -- grant families and refresh tokens --------------------------------------------------


@dataclass(frozen=True)
class GrantFamily:
    """Every token issued from one authorization code (docs/signin.md, Grant families).

    ``family_id`` is the code's ``sha256_hex``, so the family can be named even when
    consuming the code fails.
    """

    family_id: str
    client_id: str
    subject: str
    scope: tuple[str, ...]
    created_at: datetime
    expires_at: datetime
    auth_time: datetime | None = None
    amr: tuple[str, ...] = ()
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
    revoke_reason: str = ""
    # RFC 8707: the resource its access tokens are for ("": the default audience).
    resource: str = ""
    # The browser session of the sign-in (Back-Channel Logout 1.0 section 2.4, the ID
    # tokens' ``sid``); "" none, as for a device.
    sid: str = ""
    # RFC 9449 section 5: a public client's refresh tokens are bound to this DPoP key
    # (RFC 7638 thumbprint); every refresh must prove it. "" unbound.
    dpop_jkt: str = ""


@dataclass(frozen=True)
class StoredRefreshToken:
    """A refresh token as stored: its SHA-256 only (RFC 6749 section 10.4, RFC 9700 4.14)."""

    token_hash: str
    family_id: str
    client_id: str
    subject: str
    scope: tuple[str, ...]
    issued_at: datetime
    expires_at: datetime
    used_at: datetime | None = None


class GrantStore(Protocol):
    async def create_family(
        self, family: GrantFamily, refresh_token: StoredRefreshToken | None = None
    ) -> None:
        """Record the family and its first refresh token together (both or neither);
        InvalidGrant when the family exists."""
        ...

    async def get_family(self, family_id: str) -> GrantFamily | None: ...

    async def revoke_family(self, family_id: str, reason: str, now: datetime) -> bool:
        """Mark the family revoked; False when it is unknown or revoked already."""
        ...

    async def add_refresh_token(self, token: StoredRefreshToken) -> None: ...

    async def get_refresh_token(self, token_hash: str) -> StoredRefreshToken | None: ...

    async def get_refresh_token_with_family(
        self, token_hash: str
    ) -> tuple[StoredRefreshToken, GrantFamily] | None:
        """The refresh token and its family in one read; None when either is unknown."""
        ...

    async def rotate_refresh_token(
        self, used_hash: str, successor: StoredRefreshToken, now: datetime
    ) -> bool:
        """In one transaction: mark ``used_hash`` used if it is unused, store ``successor``
        and touch the family's last_used_at. False (and nothing written) when the token
        was used already: of two concurrent rotations exactly one wins."""
        ...

    async def list_families(
        self,
        now: datetime,
        *,
        subject: str = "",
        client_id: str = "",
        after: tuple[datetime, str] | None = None,
        limit: int,
    ) -> tuple[list[GrantFamily], int]:
        """Families neither revoked nor expired of ``subject`` and/or ``client_id``, newest
        first (created_at, family_id descending), after the cursor ``after``; and how many
        match without the cursor and limit."""
        ...

    async def revoke_families(
        self, *, subject: str = "", client_id: str = "", reason: str, now: datetime
    ) -> list[str]:
        """Mark every family of ``subject`` or ``client_id`` that is neither revoked nor
        expired revoked; returns their ids."""
        ...

    async def count_active_families(self, now: datetime) -> int:
        """Families neither revoked nor expired."""
        ...

    async def families_of_session(self, sid: str) -> list[GrantFamily]:
        """The families of the browser session ``sid`` that are not revoked, expired
        ones included (the client's session may outlive its tokens)."""
        ...


# -- audit ------------------------------------------------------------------------------
