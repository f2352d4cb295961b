"""Dynamic client registration (RFC 7591) and its management protocol (RFC 7592).

Steps of a registration (RFC 7591 section 3):

1. the mode: ``closed`` -> ``access_denied``; ``token`` -> an initial access
   token that exists, has not expired and has a use left, else ``invalid_token``;
2. the metadata: :class:`RegistrationPolicy` (RFC 8252 redirect URIs, allowed
   grant types, scopes and auth methods) around the registry's validation
   (:func:`~services.clients.domain.metadata.validate_metadata`);
3. in ``token`` mode, one use of the initial access token, atomically, so that
   concurrent registrations never overspend it;
4. the client, with a generated secret when confidential and a new 256-bit
   registration access token (RFC 7592 section 3) stored as its SHA-256 only;
5. a ``client.registered`` audit event.

Deleting a registration (RFC 7592 section 2.3) is one step of the admin
service's client deletion, which revokes what the client holds and audits it.

The registration access token is shown once, in the registration response; the
management calls (RFC 7592 section 2) require it and echo it back. A missing,
wrong or unknown token, or a client that is gone, is ``invalid_token``
(section 2.1: a deleted client's token answers 401).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

from common.audit import AuditSink, NoAudit
from common.errors import (
    AccessDenied,
    InvalidClientMetadata,
    InvalidRequest,
    InvalidToken,
    NotFound,
)
from common.secrets import constant_time_equals, random_token, sha256_hex
from common.timeutil import utcnow
from services.clients.domain import client_secret as stored_secrets
from services.clients.domain.model import Client, ClientMetadata, InitialAccessToken
from services.clients.domain.ports import InitialAccessTokenStore
from services.clients.domain.registration_policy import OPERATOR_GRANT_TYPES, RegistrationPolicy
from services.clients.domain.registry import ClientRegistry, new_client_id

RegistrationMode = Literal["open", "token", "closed"]

CLIENT_REGISTERED: Final = "client.registered"
CLIENT_UPDATED: Final = "client.updated"

#: Bounds of CreateInitialAccessToken requests.
MAX_INITIAL_ACCESS_TOKEN_SECONDS: Final = 365 * 86_400
MAX_INITIAL_ACCESS_TOKEN_USES: Final = 100_000

INVALID_REGISTRATION_TOKEN = "The registration access token is invalid"  # noqa: S105 - a message
INVALID_INITIAL_TOKEN = "The initial access token is invalid, expired or used up"  # noqa: S105
_DUMMY_HASH: Final = sha256_hex("no-registration-access-token")


@dataclass(frozen=True, slots=True)
class Registration:
    """RFC 7591 section 3.2.1 client information, before rendering.

    ``client_secret`` is the plain secret when this answer issued one, else "".
    """

    client: Client
    client_secret: str
    registration_access_token: str


class ClientRegistration:
    """RFC 7591 registration and RFC 7592 read/update/delete of a registration."""

    def __init__(
        self,
        registry: ClientRegistry,
        initial_access_tokens: InitialAccessTokenStore,
        policy: RegistrationPolicy,
        *,
        mode: RegistrationMode,
        initial_access_token_ttl: timedelta = timedelta(days=1),
        audit: AuditSink | None = None,
        clock: Callable[[], datetime] = utcnow,
        client_id_factory: Callable[[], str] = new_client_id,
    ) -> None:
        self._registry = registry
        self._tokens = initial_access_tokens
        self._policy = policy
        self._mode = mode
        self._ttl = initial_access_token_ttl
        self._audit: AuditSink = audit or NoAudit()
        self._clock = clock
        self._new_client_id = client_id_factory

    @property
    def mode(self) -> RegistrationMode:
        return self._mode

    async def register(
        self, metadata: ClientMetadata, *, initial_access_token: str = "", remote_addr: str = ""
    ) -> Registration:
        if self._mode == "closed":
            raise AccessDenied("Dynamic registration is disabled")
        token_hash = ""
        if self._mode == "token":
            token_hash = await self._check_initial_access_token(initial_access_token)
        client_id = self._new_client_id()
        validated = self._validate(metadata, client_id)
        if token_hash and not await self._tokens.consume(token_hash, now=self._clock()):
            # Another registration took the last use since the check above.
            raise InvalidToken(INVALID_INITIAL_TOKEN, detail="used up concurrently")
        access_token = random_token()
        client, secret = await self._registry.create(
            validated, client_id=client_id, registration_access_token_hash=sha256_hex(access_token)
        )
        self._audit.report(
            CLIENT_REGISTERED,
            target=f"client:{client_id}",
            actor=f"client:{client_id}",
            remote_addr=remote_addr,
            details={
                "registration_mode": self._mode,
                "grant_types": " ".join(client.grant_types),
                "token_endpoint_auth_method": client.token_endpoint_auth_method,
                "scope": client.scope,
            },
        )
        return Registration(client, secret, access_token)

    async def get(self, client_id: str, registration_access_token: str) -> Registration:
        """RFC 7592 section 2.1."""
        client = await self._authorize(client_id, registration_access_token)
        return Registration(client, "", registration_access_token)

    async def update(
        self,
        client_id: str,
        registration_access_token: str,
        metadata: ClientMetadata,
        *,
        client_secret: str = "",
        remote_addr: str = "",
    ) -> Registration:
        """RFC 7592 section 2.2: the metadata is replaced as a whole, under the same
        policy as a registration; omitted fields take their defaults. A client that
        becomes confidential gets a new secret in the answer."""
        current = await self._authorize(client_id, registration_access_token)
        if client_secret and not await stored_secrets.verify_secret(
            client_secret, current.client_secret_hash
        ):
            # The client may echo its secret back but never choose one.
            raise InvalidClientMetadata("'client_secret' does not match the issued secret")
        # What only an operator sets survives the client's replacement of the rest:
        # the operator-only grant types it holds too, named in the update or not.
        held = tuple(g for g in current.grant_types if g in OPERATOR_GRANT_TYPES)
        validated = self._validate(metadata, client_id, held=held)
        validated = dataclasses.replace(
            validated,
            grant_types=tuple(dict.fromkeys((*validated.grant_types, *held))),
            introspection=current.introspection,
            enabled=current.enabled,
            token_exchange_audiences=current.token_exchange_audiences,
        )
        try:
            updated = await self._registry.update(client_id, validated)
            new_secret = ""
            if updated.holds_secret and updated.client_secret_hash is None:
                updated, new_secret = await self._registry.rotate_secret(client_id)
        except NotFound:
            raise InvalidToken(INVALID_REGISTRATION_TOKEN, detail="deleted meanwhile") from None
        self._audit.report(
            CLIENT_UPDATED,
            target=f"client:{client_id}",
            actor=f"client:{client_id}",
            remote_addr=remote_addr,
            details={"via": "rfc7592"},
        )
        return Registration(updated, new_secret, registration_access_token)

    async def delete(self, client_id: str, registration_access_token: str) -> None:
        """RFC 7592 section 2.3. What the client holds (grants, consents) and the
        audit row are the admin service's cascade, which calls this first
        (AdminService.DeleteRegistration, docs/operators.md "Who orchestrates")."""
        await self._authorize(client_id, registration_access_token)
        try:
            await self._registry.delete(client_id)
        except NotFound:
            raise InvalidToken(INVALID_REGISTRATION_TOKEN, detail="deleted meanwhile") from None

    async def create_initial_access_token(
        self, *, expires_in: int = 0, max_uses: int = 0
    ) -> tuple[str, InitialAccessToken]:
        """A new initial access token (RFC 7591 section 3), returned in plain text
        once; ``expires_in`` 0 means the configured lifetime, ``max_uses`` 0 one."""
        if not 0 <= expires_in <= MAX_INITIAL_ACCESS_TOKEN_SECONDS:
            raise InvalidRequest(
                f"'expires_in' must be between 1 and {MAX_INITIAL_ACCESS_TOKEN_SECONDS} seconds"
            )
        if not 0 <= max_uses <= MAX_INITIAL_ACCESS_TOKEN_USES:
            raise InvalidRequest(
                f"'max_uses' must be between 1 and {MAX_INITIAL_ACCESS_TOKEN_USES}"
            )
        now = self._clock()
        plain = random_token()
        token = InitialAccessToken(
            token_hash=sha256_hex(plain),
            created_at=now,
            expires_at=now + (timedelta(seconds=expires_in) if expires_in else self._ttl),
            max_uses=max_uses or 1,
        )
        await self._tokens.delete_expired(now=now)  # housekeeping; tokens are few
        await self._tokens.create(token)
        return plain, token

    def _validate(
        self, metadata: ClientMetadata, client_id: str, *, held: tuple[str, ...] = ()
    ) -> ClientMetadata:
        prepared = self._policy.prepare(metadata, held=held)
        validated = self._registry.validate(prepared, client_id=client_id)
        return self._policy.check(validated, held=held)

    async def _check_initial_access_token(self, plain: str) -> str:
        if not plain:
            raise InvalidToken("An initial access token is required to register")
        token_hash = sha256_hex(plain)
        token = await self._tokens.get(token_hash)
        if token is None:
            raise InvalidToken(INVALID_INITIAL_TOKEN, detail="unknown")
        if token.expires_at <= self._clock():
            raise InvalidToken(INVALID_INITIAL_TOKEN, detail="expired")
        if token.uses >= token.max_uses:
            raise InvalidToken(INVALID_INITIAL_TOKEN, detail="used up")
        return token_hash

    async def _authorize(self, client_id: str, registration_access_token: str) -> Client:
        """The client the token manages, or InvalidToken; compared in constant time."""
        client: Client | None = None
        if client_id and registration_access_token:
            try:
                client = await self._registry.get(client_id)
            except NotFound:
                client = None
        expected = client.registration_access_token_hash if client is not None else None
        matches = constant_time_equals(
            sha256_hex(registration_access_token), expected or _DUMMY_HASH
        )
        if client is None or expected is None or not matches:
            raise InvalidToken(
                INVALID_REGISTRATION_TOKEN,
                detail=f"client {client_id!r}: {'unknown' if client is None else 'wrong token'}",
            )
        return client
