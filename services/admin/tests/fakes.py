"""The services the admin service composes, as they are: the clients, authorize and
token services' own domains and servicers on their in-memory stores, reached
through the admin service's real gRPC adapters (services/admin/downstream.py) over
an in-process stand-in for the channel. Nothing here re-implements a service: an
orchestration that works here works against the owners' rules, paging and errors.

Every call that reaches a downstream servicer is written to one shared
:class:`Journal`, in order, so that tests can check an orchestration;
``downstream.token.failures["RevokeGrants"] = SomeError()`` makes the next such
call fail. The admin service's own two stores are in-memory ones here too.
"""

from __future__ import annotations

import asyncio
import builtins
import itertools
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from google.protobuf.message import Message

from common.errors import Conflict, OAuthError
from common.kv import MemoryKeyValue
from services.admin.domain.model import AuditCursor, AuditFilter, AuditRecord, StateEntry
from services.admin.downstream import GrpcClientRegistry, GrpcTokenAuthority, GrpcUserDirectory
from services.authorize.domain import (
    Argon2PasswordHasher,
    AuthorizationCodes,
    AuthorizationRequestValidator,
    ConsentRegistry,
    LoginPolicy,
    LoginThrottle,
    PasswordLogin,
    SignIn,
    UserDirectory,
)
from services.authorize.domain.model import NewUser, User
from services.authorize.servicer import AuthorizeDomain, AuthorizeServicer
from services.authorize.store.client_directory import GrpcClientDirectory
from services.authorize.tests.fakes import (
    MemoryCodeStore,
    MemoryConsentStore,
    MemoryInteractionStore,
    MemoryUserStore,
)
from services.clients.domain import (
    ClientRegistration,
    ClientRegistry,
    Registration,
    RegistrationPolicy,
    ResourceRegistry,
)
from services.clients.domain.client_secret import SealedSecrets
from services.clients.domain.model import Client, ClientMetadata, Resource, ResourceFields
from services.clients.servicer import ClientsServicer
from services.clients.tests.fakes import (
    MemoryClientStore,
    MemoryInitialAccessTokenStore,
    MemoryResourceStore,
)
from services.token.app import build_domain as build_token_domain
from services.token.authorize_adapter import GrpcCodeConsumer
from services.token.authorize_adapter import GrpcUserDirectory as TokenUserDirectory
from services.token.clients_adapter import GrpcClientAuthenticator
from services.token.domain.denylist import RevocationList
from services.token.domain.keys import KeyManager
from services.token.domain.ports import GrantFamily, StoredSigningKey
from services.token.servicer import TokenDomain, TokenServicer
from services.token.settings import TokenSettings
from services.token.tests.fakes import (
    MemoryDenylistStore,
    MemoryGrantStore,
    MemorySigningKeyStore,
)

#: The clock of the downstream registries: 2023-11-14T22:13:20Z.
T0 = datetime.fromtimestamp(1_700_000_000, UTC)
ISSUER = "https://auth.example.com"
PASSWORD = "correct horse battery staple"


def fixed_clock() -> datetime:
    return T0


# --- the journal and the in-process channel ----------------------------------------


class Journal:
    """Every call that reached a downstream servicer: (method, request), in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def methods(self) -> builtins.list[str]:
        return [method for method, _ in self.calls]

    def requests(self, method: str) -> builtins.list[Any]:
        return [request for name, request in self.calls if name == method]

    def clear(self) -> None:
        self.calls.clear()


class Recorded:
    """A servicer whose every call is journalled first. ``failures[method]`` is raised
    instead of calling the servicer, once; ``fail_always[method]`` on every call."""

    def __init__(self, servicer: object, journal: Journal) -> None:
        self.servicer = servicer
        self.journal = journal
        self.failures: dict[str, BaseException] = {}
        self.fail_always: dict[str, BaseException] = {}

    def __getattr__(self, method: str) -> Callable[[Any, Any], Awaitable[Any]]:
        if not method[:1].isupper():
            raise AttributeError(method)
        handler = getattr(self.servicer, method)

        async def call(request: Any, context: Any) -> Any:
            await asyncio.sleep(0)  # a real call yields; concurrency tests rely on it
            self.journal.calls.append((method, request))
            if method in self.failures:
                raise self.failures.pop(method)
            if method in self.fail_always:
                raise self.fail_always[method]
            return await handler(request, context)

        return call


class _InProcessCalls:
    def __init__(self, servicer: object) -> None:
        self._servicer = servicer

    def __getattr__(self, method: str) -> Callable[..., Awaitable[Any]]:
        handler = getattr(self._servicer, method)

        async def call(request: Message, *, timeout: float | None = None) -> Any:
            # Copied as the wire copies them: neither side sees the other's objects.
            answer = await handler(type(request).FromString(request.SerializeToString()), None)
            return type(answer).FromString(answer.SerializeToString())

        return call


class InProcessClient:
    """The shape of common.grpc_client.ServiceClient (``call.Method(request)``,
    ``close()``) over a servicer in this process. Errors arrive as the
    common.errors class the servicer raised, as ErrorInterceptor and the client's
    decoding deliver them over a channel."""

    def __init__(self, servicer: object) -> None:
        self.call = _InProcessCalls(servicer)

    async def close(self) -> None:
        return None


def in_process(servicer: object) -> Any:
    """An InProcessClient where a ServiceClient is expected."""
    return cast(Any, InProcessClient(servicer))


# --- signing keys: generated once per run, copied into each system -----------------

_KEK = os.urandom(32)
_TEMPLATE_KEYS: dict[str, StoredSigningKey] = {}


async def signing_key_store() -> MemorySigningKeyStore:
    """A store holding one active ES256 and one RS256 key, created by T0. RSA key
    generation is the slow part of a system, so the keys are made once and copied."""
    if not _TEMPLATE_KEYS:
        template = MemorySigningKeyStore()
        await KeyManager(template, _KEK).start()
        # Listed newest first: ES256 (the access tokens' default) at T0, then RS256.
        for age, (kid, key) in enumerate(template.keys.items()):
            _TEMPLATE_KEYS[kid] = replace(key, created_at=T0 - timedelta(seconds=age))
    store = MemorySigningKeyStore()
    store.keys = dict(_TEMPLATE_KEYS)
    return store


# --- the system -------------------------------------------------------------------


@dataclass
class Downstream:
    """The three services, each its real domain behind its real servicer."""

    journal: Journal
    clients: Recorded
    authorize: Recorded
    token: Recorded
    client_registry: ClientRegistry
    registration: ClientRegistration
    client_store: MemoryClientStore
    resources: ResourceRegistry
    resource_store: MemoryResourceStore
    users_domain: UserDirectory
    hasher: Argon2PasswordHasher
    login: PasswordLogin
    consents: ConsentRegistry
    user_store: MemoryUserStore
    consent_store: MemoryConsentStore
    token_domain: TokenDomain
    grant_store: MemoryGrantStore
    key_store: MemorySigningKeyStore

    # The admin service's ports, as app.py wires them, over the in-process channels.
    def client_registry_port(self) -> GrpcClientRegistry:
        return GrpcClientRegistry(in_process(self.clients))

    def user_directory_port(self) -> GrpcUserDirectory:
        return GrpcUserDirectory(in_process(self.authorize))

    def token_authority_port(self) -> GrpcTokenAuthority:
        return GrpcTokenAuthority(in_process(self.token))

    # Seeding, through each owner's domain (not journalled).
    async def add_client(self, client_id: str, **metadata: Any) -> tuple[Client, str]:
        fields = {"client_name": client_id, "grant_types": ("client_credentials",), **metadata}
        return await self.client_registry.create(ClientMetadata(**fields), client_id=client_id)

    async def add_resource(self, identifier: str, *scopes: str, **fields: Any) -> Resource:
        """A resource server (RFC 8707), through the clients service's registry."""
        return await self.resources.create(
            identifier, ResourceFields(scopes=scopes or ("read",), **fields)
        )

    async def register_client(self) -> Registration:
        """A self-registered client (RFC 7591) and its registration access token."""
        return await self.registration.register(
            ClientMetadata(client_name="self-made", grant_types=("client_credentials",))
        )

    async def add_user(self, username: str, password: str = PASSWORD) -> User:
        return await self.users_domain.create(NewUser(username, password))

    async def add_consent(self, client_id: str, user_id: str, *scopes: str) -> None:
        await self.consents.grant(client_id, user_id, scopes or ("openid",))

    async def add_family(
        self,
        family_id: str,
        client_id: str,
        subject: str,
        scope: str = "openid",
        *,
        created_at: datetime = T0,
    ) -> GrantFamily:
        family = GrantFamily(
            family_id=family_id,
            client_id=client_id,
            subject=subject,
            scope=tuple(scope.split()),
            created_at=created_at,
            expires_at=datetime.now(UTC) + timedelta(days=30),
        )
        await self.grant_store.create_family(family)
        return family

    def revoked_families(self) -> set[str]:
        return {f.family_id for f in self.grant_store.families.values() if f.revoked_at}

    def consent_pairs(self) -> builtins.list[tuple[str, str]]:
        return sorted(self.consent_store.consents)


def client_ids() -> Callable[[], str]:
    counter = itertools.count(1)
    return lambda: f"c-{next(counter)}"


async def start_downstream(*, issuer: str = ISSUER) -> Downstream:
    """The clients, authorize and token services on in-memory stores, wired the way
    their app.py modules wire them, each reaching the others in process."""
    journal = Journal()

    client_store = MemoryClientStore()
    registry = ClientRegistry(
        client_store,
        clock=fixed_clock,
        client_id_factory=client_ids(),
        secrets=SealedSecrets(os.urandom(32)),  # client_secret_jwt clients, as app.py
    )
    registration = ClientRegistration(
        registry,
        MemoryInitialAccessTokenStore(),
        RegistrationPolicy.of(
            grant_types=("authorization_code", "refresh_token", "client_credentials"),
            scopes=("openid", "profile", "email", "offline_access"),
            auth_methods=("client_secret_basic", "client_secret_post", "none"),
        ),
        mode="open",
    )
    resource_store = MemoryResourceStore()
    resources = ResourceRegistry(resource_store, client_store, clock=fixed_clock)
    clients = Recorded(ClientsServicer(registry, registration, resources), journal)

    user_store, consent_store = MemoryUserStore(), MemoryConsentStore()
    # Argon2id at its cheapest: the tests are about what happens, not its cost.
    hasher = Argon2PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    throttle = LoginThrottle(MemoryKeyValue(), LoginPolicy())
    users = UserDirectory(user_store, hasher, throttle=throttle, clock=fixed_clock)
    login = PasswordLogin(user_store, hasher, throttle)
    consents = ConsentRegistry(consent_store, user_store, clock=fixed_clock)
    codes = AuthorizationCodes(MemoryCodeStore(), user_store)
    sign_in = SignIn(
        AuthorizationRequestValidator(GrpcClientDirectory(in_process(clients))),
        MemoryInteractionStore(),
        login,
        consents,
        codes,
        issuer=issuer,
    )
    authorize = Recorded(
        AuthorizeServicer(
            AuthorizeDomain(
                users=users, login=login, sign_in=sign_in, consents=consents, codes=codes
            )
        ),
        journal,
    )

    kv = MemoryKeyValue()
    key_store = await signing_key_store()
    keys = KeyManager(key_store, _KEK, clock=fixed_clock)
    await keys.start()
    grant_store = MemoryGrantStore()
    token_domain = build_token_domain(
        TokenSettings(issuer=issuer),
        authenticator=GrpcClientAuthenticator(in_process(clients)),
        codes=GrpcCodeConsumer(in_process(authorize)),
        users=TokenUserDirectory(in_process(authorize)),
        grant_store=grant_store,
        keys=keys,
        revocations=RevocationList(MemoryDenylistStore(), kv, max_token_ttl_seconds=3600),
        kv=kv,
    )
    token = Recorded(TokenServicer(token_domain), journal)
    return Downstream(
        journal=journal,
        clients=clients,
        authorize=authorize,
        token=token,
        client_registry=registry,
        registration=registration,
        client_store=client_store,
        resources=resources,
        resource_store=resource_store,
        users_domain=users,
        hasher=hasher,
        login=login,
        consents=consents,
        user_store=user_store,
        consent_store=consent_store,
        token_domain=token_domain,
        grant_store=grant_store,
        key_store=key_store,
    )


# --- the admin service's own stores ------------------------------------------------


class MemoryAuditStore:
    """Follows the AuditStore contract the SQL store is tested against."""

    def __init__(self) -> None:
        self.records: list[AuditRecord] = []
        self.failure: OAuthError | None = None

    async def append(self, record: AuditRecord) -> None:
        await asyncio.sleep(0)
        if self.failure is not None:
            raise self.failure
        if any(r.event_id == record.event_id for r in self.records):
            raise Conflict(f"Audit event {record.event_id!r} already recorded")
        self.records.append(record)

    async def list(
        self, query: AuditFilter, *, after: AuditCursor | None, limit: int
    ) -> list[AuditRecord]:
        def keep(r: AuditRecord) -> bool:
            return (
                (not query.action or r.action == query.action)
                and (not query.actor_id or r.actor_id == query.actor_id)
                and (not query.target or r.target == query.target)
                and (not query.outcome or r.outcome == query.outcome)
                and (query.since is None or r.time >= query.since)
                and (query.until is None or r.time < query.until)
                and (after is None or (r.time, r.event_id) < (after.time, after.event_id))
            )

        found = sorted(filter(keep, self.records), key=lambda r: (r.time, r.event_id), reverse=True)
        return found[:limit]

    def actions(self) -> builtins.list[tuple[str, str, str]]:
        return [(r.action, r.target, r.outcome) for r in self.records]


class MemoryStateStore:
    """Follows the AdminStateStore contract the SQL store is tested against."""

    def __init__(self) -> None:
        self.values: dict[str, StateEntry] = {}

    async def get(self, key: str) -> StateEntry | None:
        await asyncio.sleep(0)
        return self.values.get(key)

    async def insert(self, key: str, value: str, *, now: datetime) -> bool:
        await asyncio.sleep(0)
        if key in self.values:
            return False
        self.values[key] = StateEntry(value, now)
        return True

    async def replace(self, key: str, *, expected: str, value: str, now: datetime) -> bool:
        await asyncio.sleep(0)
        current = self.values.get(key)
        if current is None or current.value != expected:
            return False
        self.values[key] = StateEntry(value, now)
        return True

    async def delete(self, key: str, *, expected: str) -> bool:
        await asyncio.sleep(0)
        current = self.values.get(key)
        if current is None or current.value != expected:
            return False
        del self.values[key]
        return True
