"""What the authorize domain needs from the outside: its storage (``store.sql``),
the client registry (``store.client_directory``, over gRPC) and a password hasher.

Stores raise ``common.errors`` classes: Conflict for a taken username or email,
TemporarilyUnavailable when the database cannot be reached.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from services.authorize.domain.model import (
    AuthorizationCode,
    ClientInfo,
    Consent,
    DeviceAuthorization,
    PresentedCredentials,
    User,
)

if TYPE_CHECKING:  # sign_in depends on these ports
    from services.authorize.domain.sign_in import Interaction


class UserStore(Protocol):
    async def create(self, user: User) -> None:
        """Conflict when the username or the email (case-insensitively) is taken."""
        ...

    async def get(self, user_id: str) -> User | None: ...

    async def get_by_username(self, username: str) -> User | None:
        """Case-insensitive."""
        ...

    async def list(self, *, after: str | None, limit: int, search: str) -> tuple[list[User], int]:
        """Up to ``limit`` users ordered by lowercased username, strictly after
        ``after`` (a lowercased username), whose username or email contains
        ``search`` (case-insensitive); plus the number of matches over all pages."""
        ...

    async def update(
        self, user_id: str, changes: Mapping[str, object], updated_at: datetime
    ) -> User | None:
        """Set the named User fields; None when the user is gone. Conflict when a
        new email is taken."""
        ...

    async def set_password_hash(
        self, user_id: str, password_hash: str, updated_at: datetime, *, changed: bool = False
    ) -> bool:
        """Store a new hash; ``changed``: a new password (not a rehash of the same
        one), which also sets ``password_changed_at`` to ``updated_at``."""
        ...

    async def delete(self, user_id: str) -> bool:
        """Deletes the user with their consents, authorization codes and device
        authorizations."""
        ...


class ConsentStore(Protocol):
    async def get(self, client_id: str, user_id: str) -> Consent | None: ...

    async def merge(
        self, client_id: str, user_id: str, scopes: tuple[str, ...], now: datetime
    ) -> Consent:
        """Add ``scopes`` to what was granted before (a union, first-granted order),
        creating the record when there is none."""
        ...

    async def list(
        self, *, user_id: str, client_id: str, after: tuple[str, str] | None, limit: int
    ) -> tuple[list[Consent], int]:
        """Consents of a user and/or a client ("" matches any), ordered by
        (client_id, user_id), strictly after ``after``; plus the total."""
        ...

    async def delete(self, client_id: str, user_id: str) -> bool: ...

    async def delete_all(self, *, client_id: str, user_id: str) -> int:
        """Delete the consents of a client and/or a user ("" matches any, but not
        both empty) in one statement; how many went."""
        ...


class AuthorizationCodeStore(Protocol):
    async def create(self, code: AuthorizationCode) -> None: ...

    async def consume(
        self, code_id: str, used_at: datetime
    ) -> tuple[AuthorizationCode | None, bool]:
        """Atomically mark the code used. Returns the stored code (None when unknown)
        and True when this call was the one that marked it."""
        ...

    async def delete_expired(self, before: datetime) -> int:
        """Remove codes that expired before ``before``."""
        ...


class DeviceAuthorizationStore(Protocol):
    """Device authorizations (RFC 8628), keyed by the SHA-256 of the device_code and
    found by the SHA-256 of the normalised user_code. Every change is a compare and
    set on what the caller read, so of two concurrent polls or decisions one wins."""

    async def create(self, authorization: DeviceAuthorization) -> None:
        """Conflict when the user_code is taken by one that has not been purged."""
        ...

    async def get(self, device_key: str) -> DeviceAuthorization | None: ...

    async def get_by_user_code(self, user_code_key: str) -> DeviceAuthorization | None: ...

    async def record_poll(
        self,
        device_key: str,
        *,
        seen: datetime | None,
        interval: int,
        next_poll_at: datetime,
    ) -> bool:
        """Set the interval and the next poll's earliest moment if ``next_poll_at``
        is still ``seen`` and it is pending; False otherwise (a concurrent poll)."""
        ...

    async def decide(
        self,
        device_key: str,
        *,
        approved: bool,
        subject: str,
        auth_time: datetime | None,
        amr: tuple[str, ...],
        scopes: tuple[str, ...],
        now: datetime,
    ) -> bool:
        """Approve or deny it, once, while it is pending and not expired."""
        ...

    async def redeem(self, device_key: str) -> bool:
        """Mark an approved one redeemed: True only for the one call that did."""
        ...

    async def delete_expired(self, before: datetime) -> int:
        """Remove device authorizations that expired before ``before``."""
        ...


class InteractionStore(Protocol):
    """Authorization requests waiting for the login or consent page, keyed by
    the SHA-256 of their id (services.authorize.domain.sign_in)."""

    async def create(self, interaction: Interaction, keep_per_binding: int) -> None:
        """Store it, and finish (as if expired) the oldest unfinished interactions
        of the same binding beyond the newest ``keep_per_binding``, in one
        transaction: one browser session cannot pile up waiting requests."""
        ...

    async def get(self, interaction_key: str) -> Interaction | None: ...

    async def record_login(
        self, interaction_key: str, subject: str, auth_time: datetime, amr: tuple[str, ...]
    ) -> bool:
        """Who signed in on the interaction's login page (it then counts as a fresh
        sign-in); False when the interaction is gone or finished."""
        ...

    async def finish(self, interaction_key: str, finished_at: datetime) -> bool:
        """Atomically mark it finished: True only for the one call that did."""
        ...

    async def delete_expired(self, before: datetime) -> int:
        """Remove interactions that expired before ``before``."""
        ...


class ClientDirectory(Protocol):
    """The client registry, which the clients service owns."""

    async def get_client(self, client_id: str) -> ClientInfo | None: ...


class ClientAuthenticator(Protocol):
    """Client authentication, which the clients service owns (RFC 6749 section 2.3)."""

    async def authenticate(self, credentials: PresentedCredentials) -> str:
        """The authenticated client's client_id; InvalidClient when it is not."""
        ...


class PasswordHashing(Protocol):
    """Argon2id password hashes (PHC strings), computed off the event loop."""

    async def hash(self, password: str) -> str: ...

    async def verify(self, password_hash: str, password: str) -> bool: ...

    async def verify_dummy(self, password: str) -> None:
        """Spend what a verification costs, against no real hash."""
        ...

    def reserved(self) -> AbstractContextManager[None]:
        """Hold a place for the next hash or verification of the task inside, or
        raise Overloaded at once when there is none."""
        ...

    def needs_rehash(self, password_hash: str) -> bool: ...
