"""Fixtures of the authorize service tests: domain objects on in-memory fakes,
and a migrated schema on SQLite or PostgreSQL for the store contract tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from common.db import create_engine
from common.kv import MemoryKeyValue
from common.migrations import upgrade
from services.authorize.app import MIGRATIONS_DIR
from services.authorize.domain import (
    AuthorizationCodes,
    ConsentRegistry,
    LoginPolicy,
    LoginThrottle,
    PasswordLogin,
    UserDirectory,
)
from services.authorize.settings import AuthorizeSettings
from services.authorize.tests.fakes import (
    Clock,
    CountingHasher,
    MemoryCodeStore,
    MemoryConsentStore,
    MemoryUserStore,
)

# The cheapest Argon2id the library accepts: the tests check behaviour, not cost.
CHEAP_ARGON2: dict[str, Any] = {
    "argon2_time_cost": 1,
    "argon2_memory_cost": 8,
    "argon2_parallelism": 1,
}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="session")
def session_hasher() -> CountingHasher:
    return CountingHasher()


@pytest.fixture
def hasher(session_hasher: CountingHasher) -> CountingHasher:
    session_hasher.calls.clear()
    return session_hasher


@pytest.fixture
def kv() -> MemoryKeyValue:
    return MemoryKeyValue()


@pytest.fixture
def user_store() -> MemoryUserStore:
    return MemoryUserStore()


@pytest.fixture
def throttle(kv: MemoryKeyValue, clock: Clock) -> LoginThrottle:
    return LoginThrottle(kv, LoginPolicy(), clock=clock)


@pytest.fixture
def users(
    user_store: MemoryUserStore, hasher: CountingHasher, throttle: LoginThrottle, clock: Clock
) -> UserDirectory:
    return UserDirectory(user_store, hasher, throttle=throttle, clock=clock)


@pytest.fixture
def login(
    user_store: MemoryUserStore, hasher: CountingHasher, throttle: LoginThrottle, clock: Clock
) -> PasswordLogin:
    return PasswordLogin(user_store, hasher, throttle, clock=clock)


@pytest.fixture
def consent_store() -> MemoryConsentStore:
    return MemoryConsentStore()


@pytest.fixture
def consents(
    consent_store: MemoryConsentStore, user_store: MemoryUserStore, clock: Clock
) -> ConsentRegistry:
    return ConsentRegistry(consent_store, user_store, clock=clock)


@pytest.fixture
def code_store() -> MemoryCodeStore:
    return MemoryCodeStore()


@pytest.fixture
def codes(
    code_store: MemoryCodeStore, user_store: MemoryUserStore, clock: Clock
) -> AuthorizationCodes:
    return AuthorizationCodes(code_store, user_store, ttl_seconds=60, clock=clock)


@pytest.fixture
async def engine(pg_url: str, database_url: tuple[str, str]) -> AsyncIterator[AsyncEngine]:
    """A migrated authorize schema on SQLite or PostgreSQL (the root `database_url`).

    ``pg_url`` is requested first on purpose: the root ``database_url`` asks for it
    with getfixturevalue from inside its async body, where the session-scoped
    fixture's asyncio.run() would fail with "cannot be called from a running loop".
    """
    url, schema = database_url
    settings = AuthorizeSettings(database_url=url, database_schema=schema)
    await asyncio.to_thread(upgrade, settings, MIGRATIONS_DIR)
    engine = create_engine(settings)
    yield engine
    await engine.dispose()
