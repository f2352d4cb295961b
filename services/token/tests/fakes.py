"""In-memory implementations of the token domain's Protocols, for unit tests; the
authorize and clients services' ports are their real domains
(:class:`AuthorizeStandIn`, :class:`ClientsStandIn`)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import fields, replace
from datetime import datetime
from typing import Any

from common.errors import InvalidClient, InvalidGrant, NotFound
from common.timeutil import utcnow
from services.authorize.domain import Argon2PasswordHasher, AuthorizationCodes, UserDirectory
from services.authorize.domain.model import CodeRequest, User
from services.authorize.tests.fakes import MemoryCodeStore, MemoryUserStore
from services.clients.domain import ClientRegistry
from services.clients.domain.client_secret import generate_secret
from services.clients.domain.model import Client, ClientMetadata
from services.clients.servicer import client_to_proto
from services.clients.tests.fakes import MemoryClientStore
from services.token.clients_adapter import to_authenticated_client
from services.token.domain.ports import (
    AuthenticatedClient,
    ClientCredentials,
    ConsumedCode,
    GrantFamily,
    PrincipalKind,
    RevokedFamily,
    RevokedPrincipal,
    RevokedToken,
    StoredRefreshToken,
    StoredSigningKey,
)

#: The redirect URI the tests' code-flow clients register.
REDIRECT_URI = "https://app.example.test/callback"


class ClientsStandIn:
    """The clients service's own domain (its registry on its in-memory store)
    behind the token service's ClientAuthenticator port, the way
    services/token/clients_adapter.py presents the gRPC service: a second
    implementation of client authentication would drift from the real one."""

    def __init__(self) -> None:
        self.store = MemoryClientStore()
        self.registry = ClientRegistry(self.store)
        self.registered: dict[str, ClientCredentials] = {}
        self.calls = 0

    async def register(
        self,
        client_id: str,
        *,
        auth_method: str = "client_secret_basic",
        grant_types: tuple[str, ...] = ("client_credentials",),
        scope: tuple[str, ...] = ("read", "write"),
        alg: str = "",
        always_issue_refresh_token: bool = False,
        introspection: bool = False,
        token_exchange_audiences: tuple[str, ...] = (),
        dpop_bound_access_tokens: bool = False,
        tls_client_certificate_bound_access_tokens: bool = False,
    ) -> ClientCredentials:
        """Registers through the real registry, which validates the metadata and
        generates the secret of a confidential client; code-flow clients get the
        tests' REDIRECT_URI."""
        code_flow = "authorization_code" in grant_types
        client, secret = await self.registry.create(
            ClientMetadata(
                redirect_uris=(REDIRECT_URI,) if code_flow else (),
                grant_types=grant_types,
                scope=" ".join(scope),
                token_endpoint_auth_method=auth_method,
                access_token_signing_alg=alg,
                always_issue_refresh_token=always_issue_refresh_token,
                introspection=introspection,
                token_exchange_audiences=token_exchange_audiences,
                dpop_bound_access_tokens=dpop_bound_access_tokens,
                tls_client_certificate_bound_access_tokens=(
                    tls_client_certificate_bound_access_tokens
                ),
            ),
            client_id=client_id,
        )
        credentials = ClientCredentials(
            client_id=client.client_id, client_secret=secret, auth_method=auth_method
        )
        self.registered[client_id] = credentials
        return credentials

    async def register_once(self, client_id: str, **options: Any) -> ClientCredentials:
        """The credentials of ``client_id``, registering it first if it is new
        (the registry refuses a second client of the same id)."""
        known = self.registered.get(client_id)
        if known is not None:
            return known
        return await self.register(client_id, **options)

    def plant(
        self,
        client_id: str,
        *,
        auth_method: str = "client_secret_basic",
        grant_types: tuple[str, ...] = ("client_credentials",),
        alg: str = "",
    ) -> ClientCredentials:
        """A stored client the registry's validation never saw (a row written by
        an older release or by hand), for the token service's own checks of
        registrations the registry refuses today."""
        secret, secret_hash = generate_secret() if auth_method != "none" else ("", None)
        now = utcnow()
        self.store.clients[client_id] = Client(
            client_id=client_id,
            client_name=client_id,
            redirect_uris=(),
            grant_types=grant_types,
            response_types=(),
            scope="read write",
            token_endpoint_auth_method=auth_method,
            require_pkce=True,
            post_logout_redirect_uris=(),
            access_token_signing_alg=alg,
            always_issue_refresh_token=False,
            contacts=(),
            client_uri="",
            logo_uri="",
            created_at=now,
            updated_at=now,
            client_secret_hash=secret_hash,
        )
        credentials = ClientCredentials(client_id, secret, auth_method)
        self.registered[client_id] = credentials
        return credentials

    async def authenticate(self, credentials: ClientCredentials) -> AuthenticatedClient:
        self.calls += 1
        try:
            client = await self.registry.authenticate(
                credentials.client_id, credentials.client_secret, credentials.auth_method
            )
        except (InvalidClient, NotFound):
            # One answer for every failure, as the gRPC adapter hands it on.
            raise InvalidClient("Client authentication failed") from None
        # Through the contract's Client, exactly as GrpcClientAuthenticator sees it.
        return to_authenticated_client(client_to_proto(client))


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

    async def rotate_key(self, key: StoredSigningKey, retire_after: datetime) -> None:
        active = await self.active_key(key.alg)
        if active is not None:
            self.keys[active.kid] = replace(active, status="previous", retire_after=retire_after)
        self.keys[key.kid] = key

    async def retire_key(self, kid: str, now: datetime) -> bool:
        key = self.keys.get(kid)
        if key is None or key.status != "previous":
            return False
        self.keys[kid] = replace(key, status="retired", retired_at=now)
        return True

    async def retire_due(self, now: datetime) -> int:
        due = [
            k
            for k in self.keys.values()
            if k.status == "previous" and k.retire_after is not None and k.retire_after <= now
        ]
        for key in due:
            self.keys[key.kid] = replace(key, status="retired", retired_at=key.retire_after)
        return len(due)

    def set_status(self, kid: str, status: str) -> None:
        self.keys[kid] = replace(self.keys[kid], status=status)


class MemoryDenylistStore:
    def __init__(self) -> None:
        self.entries: dict[str, RevokedToken] = {}
        self.families: dict[str, RevokedFamily] = {}
        self.principals: dict[tuple[str, str], RevokedPrincipal] = {}

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

    async def add_family(self, entry: RevokedFamily) -> None:
        self.families.setdefault(entry.family_id, entry)

    async def is_family_revoked(self, family_id: str, now: datetime) -> bool:
        entry = self.families.get(family_id)
        return entry is not None and entry.expires_at > now

    async def list_unexpired_families(
        self, now: datetime, revoked_since: datetime | None = None
    ) -> list[RevokedFamily]:
        return [
            e
            for e in self.families.values()
            if e.expires_at > now and (revoked_since is None or e.revoked_at >= revoked_since)
        ]

    async def add_principal(self, entry: RevokedPrincipal) -> RevokedPrincipal:
        key = (entry.kind, entry.principal_id)
        known = self.principals.get(key)
        if known is not None:
            entry = replace(
                entry,
                not_before=max(entry.not_before, known.not_before),
                expires_at=max(entry.expires_at, known.expires_at),
            )
        self.principals[key] = entry
        return entry

    async def principal_not_before(
        self, kind: PrincipalKind, principal_id: str, now: datetime
    ) -> datetime | None:
        entry = self.principals.get((kind, principal_id))
        return entry.not_before if entry is not None and entry.expires_at > now else None

    async def list_unexpired_principals(
        self, now: datetime, revoked_since: datetime | None = None
    ) -> list[RevokedPrincipal]:
        return [
            e
            for e in self.principals.values()
            if e.expires_at > now and (revoked_since is None or e.not_before >= revoked_since)
        ]

    async def delete_expired(self, now: datetime) -> int:
        expired = [jti for jti, e in self.entries.items() if e.expires_at <= now]
        for jti in expired:
            del self.entries[jti]
        families = [fid for fid, e in self.families.items() if e.expires_at <= now]
        for fid in families:
            del self.families[fid]
        principals = [key for key, e in self.principals.items() if e.expires_at <= now]
        for key in principals:
            del self.principals[key]
        return len(expired) + len(families) + len(principals)


class AuthorizeStandIn:
    """The authorize service's own domain (its codes and users on its in-memory
    stores) behind the token service's CodeConsumer and UserDirectory ports, the
    way services/token/authorize_adapter.py presents the gRPC service: a second
    implementation of code consumption would drift from the real one."""

    def __init__(self) -> None:
        self.user_store = MemoryUserStore()
        self.code_store = MemoryCodeStore()
        self.codes = AuthorizationCodes(self.code_store, self.user_store)
        self.users = UserDirectory(
            self.user_store, Argon2PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
        )

    def add_user(self, user_id: str, name: str, email: str) -> None:
        now = utcnow()
        self.user_store.users[user_id] = User(
            user_id=user_id,
            username=user_id,
            email=email,
            email_verified=True,
            enabled=True,
            given_name="",
            family_name="",
            name=name,
            created_at=now,
            updated_at=now,
        )

    def set_enabled(self, user_id: str, enabled: bool) -> None:
        users = self.user_store.users
        users[user_id] = replace(users[user_id], enabled=enabled)

    async def issue(self, request: CodeRequest) -> str:
        return (await self.codes.issue(request)).code

    async def consume(self, code: str, client_id: str) -> ConsumedCode:
        stored = await self.codes.consume(code, client_id)
        return ConsumedCode(**{name: getattr(stored, name) for name in _CONSUMED_FIELDS})

    async def claims(self, user_id: str, scopes: list[str]) -> tuple[dict[str, Any], bool]:
        try:
            found = await self.users.claims(user_id, scopes)
        except NotFound:
            return {}, False  # as the gRPC adapter answers for a deleted user
        return dict(found.claims), found.enabled


_CONSUMED_FIELDS = [field.name for field in fields(ConsumedCode)]


class MemoryGrantStore:
    def __init__(self) -> None:
        self.families: dict[str, GrantFamily] = {}
        self.refresh_tokens: dict[str, StoredRefreshToken] = {}
        self._lock = asyncio.Lock()

    async def create_family(
        self, family: GrantFamily, refresh_token: StoredRefreshToken | None = None
    ) -> None:
        if family.family_id in self.families:
            raise InvalidGrant("The authorization code was used already")
        self.families[family.family_id] = family
        if refresh_token is not None:
            self.refresh_tokens[refresh_token.token_hash] = refresh_token

    async def get_family(self, family_id: str) -> GrantFamily | None:
        return self.families.get(family_id)

    async def revoke_family(self, family_id: str, reason: str, now: datetime) -> bool:
        family = self.families.get(family_id)
        if family is None or family.revoked_at is not None:
            return False
        self.families[family_id] = replace(family, revoked_at=now, revoke_reason=reason)
        return True

    async def add_refresh_token(self, token: StoredRefreshToken) -> None:
        self.refresh_tokens[token.token_hash] = token

    async def get_refresh_token(self, token_hash: str) -> StoredRefreshToken | None:
        return self.refresh_tokens.get(token_hash)

    async def get_refresh_token_with_family(
        self, token_hash: str
    ) -> tuple[StoredRefreshToken, GrantFamily] | None:
        token = self.refresh_tokens.get(token_hash)
        family = None if token is None else self.families.get(token.family_id)
        return None if token is None or family is None else (token, family)

    async def rotate_refresh_token(
        self, used_hash: str, successor: StoredRefreshToken, now: datetime
    ) -> bool:
        async with self._lock:
            used = self.refresh_tokens.get(used_hash)
            if used is None or used.used_at is not None:
                return False
            self.refresh_tokens[used_hash] = replace(used, used_at=now)
            self.refresh_tokens[successor.token_hash] = successor
            family = self.families.get(successor.family_id)
            if family is not None:
                self.families[family.family_id] = replace(family, last_used_at=now)
            return True

    async def list_families(
        self,
        now: datetime,
        *,
        subject: str = "",
        client_id: str = "",
        after: tuple[datetime, str] | None = None,
        limit: int,
    ) -> tuple[list[GrantFamily], int]:
        matching = sorted(
            (
                f
                for f in self.families.values()
                if f.revoked_at is None
                and f.expires_at > now
                and (not subject or f.subject == subject)
                and (not client_id or f.client_id == client_id)
            ),
            key=lambda f: (f.created_at, f.family_id),
            reverse=True,
        )
        page = [f for f in matching if after is None or (f.created_at, f.family_id) < after]
        return page[:limit], len(matching)

    async def revoke_families(
        self, *, subject: str = "", client_id: str = "", reason: str, now: datetime
    ) -> list[str]:
        ids = [
            f.family_id
            for f in self.families.values()
            if f.revoked_at is None
            and f.expires_at > now
            and (f.subject == subject if subject else f.client_id == client_id)
        ]
        for family_id in ids:
            self.families[family_id] = replace(
                self.families[family_id], revoked_at=now, revoke_reason=reason
            )
        return ids

    async def count_active_families(self, now: datetime) -> int:
        return sum(1 for f in self.families.values() if f.revoked_at is None and f.expires_at > now)

    async def families_of_session(self, sid: str) -> list[GrantFamily]:
        return sorted(
            (f for f in self.families.values() if f.sid == sid and f.revoked_at is None),
            key=lambda f: (f.created_at, f.family_id),
        )


class RecordingAuditReporter:
    """Keeps what the domain reports (docs/operators.md, Audit events)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

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
        self.events.append(
            {
                "action": action,
                "target": target,
                "outcome": outcome,
                "actor": actor,
                "details": dict(details or {}),
            }
        )
