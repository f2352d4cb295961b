"""Fixtures of the token service tests: a domain wired on in-memory fakes."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from common.audit import AuditSink
from common.db import create_engine
from common.kv import KeyValue, MemoryKeyValue
from common.migrations import upgrade
from common.resources import ResourceDirectory
from services.token import MIGRATIONS_DIR
from services.token.app import build_domain
from services.token.domain.backchannel_logout import LogoutReceivers, LogoutSender
from services.token.domain.denylist import RevocationList
from services.token.domain.keys import KeyManager
from services.token.domain.ports import (
    ClientAuthenticator,
    CodeConsumer,
    DenylistStore,
    GrantStore,
    UserDirectory,
)
from services.token.servicer import TokenDomain
from services.token.settings import TokenSettings
from services.token.tests.fakes import (
    AuthorizeStandIn,
    ClientsStandIn,
    MemoryDenylistStore,
    MemoryGrantStore,
    MemorySigningKeyStore,
    RecordingAuditReporter,
)

ISSUER = "https://as.example.test"


@dataclass
class Wired:
    domain: TokenDomain
    clients: ClientsStandIn
    revocations: RevocationList
    keys: KeyManager
    denylist: DenylistStore
    # The authorize service's codes and users (its real domain).
    authorize: AuthorizeStandIn
    grants: MemoryGrantStore
    audit: RecordingAuditReporter
    kv: KeyValue


def wire(
    keys: KeyManager,
    authenticator: ClientAuthenticator,
    revocations: RevocationList,
    *,
    ttl: int = 3600,
    audience: tuple[str, ...] = (),
    codes: CodeConsumer | None = None,
    users: UserDirectory | None = None,
    grant_store: GrantStore | None = None,
    kv: KeyValue | None = None,
    audit: AuditSink | None = None,
    resources: ResourceDirectory | None = None,
    logout_receivers: LogoutReceivers | None = None,
    logout_sender: LogoutSender | None = None,
    **settings: object,
) -> TokenDomain:
    """The domain as app.py builds it, on fakes."""
    return build_domain(
        TokenSettings(
            issuer=ISSUER,
            access_token_ttl_seconds=ttl,
            access_token_audience=list(audience),
            **settings,  # type: ignore[arg-type]
        ),
        authenticator=authenticator,
        codes=codes or AuthorizeStandIn(),
        users=users or AuthorizeStandIn(),
        grant_store=grant_store or MemoryGrantStore(),
        keys=keys,
        revocations=revocations,
        kv=kv,
        audit=audit,
        resources=resources,
        logout_receivers=logout_receivers,
        logout_sender=logout_sender,
    )


@pytest.fixture(scope="session")
def kek() -> bytes:
    return os.urandom(32)


@pytest.fixture(scope="session")
async def key_manager(kek: bytes) -> KeyManager:
    """Started once per run: RSA key generation is the slow part of these tests."""
    keys = KeyManager(MemorySigningKeyStore(), kek)
    await keys.start()
    return keys


async def make_wired(key_manager: KeyManager, **options: Any) -> Wired:
    """The domain on the stand-ins, with ``options`` for :func:`wire` (resources, a
    logout sender, ...); the caller closes ``revocations``."""
    clients = ClientsStandIn()
    denylist = MemoryDenylistStore()
    kv: KeyValue = MemoryKeyValue()
    revocations = RevocationList(denylist, kv, max_token_ttl_seconds=3600)
    await revocations.start()
    authorize, grants = AuthorizeStandIn(), MemoryGrantStore()
    audit = RecordingAuditReporter()
    return Wired(
        domain=wire(
            key_manager,
            clients,
            revocations,
            codes=authorize,
            users=authorize,
            grant_store=grants,
            kv=kv,
            audit=audit,
            **options,
        ),
        clients=clients,
        revocations=revocations,
        keys=key_manager,
        denylist=denylist,
        authorize=authorize,
        grants=grants,
        audit=audit,
        kv=kv,
    )


@pytest.fixture
async def wired(key_manager: KeyManager) -> AsyncIterator[Wired]:
    made = await make_wired(key_manager)
    yield made
    await made.revocations.close()


@pytest.fixture
async def shared_engine(pg_url: str) -> AsyncIterator[AsyncEngine]:
    """A migrated token schema on PostgreSQL that several replicas share."""
    schema = f"s_{uuid.uuid4().hex[:10]}"
    settings = TokenSettings(
        database_url="postgresql+asyncpg://" + pg_url.split("://", 1)[1], database_schema=schema
    )
    await asyncio.to_thread(upgrade, settings, MIGRATIONS_DIR)
    engine = create_engine(settings)
    yield engine
    await engine.dispose()
    conn = await asyncpg.connect(pg_url)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


@pytest.fixture(autouse=True)
def _no_deployment_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings built in these tests must not pick up the developer's environment."""
    for name in list(os.environ):
        if name.startswith("OAUTH2_") or name.endswith(("DATABASE_URL", "REDIS_URL")):
            if name not in ("TEST_DATABASE_URL", "TEST_REDIS_URL"):
                monkeypatch.delenv(name)
