"""Fixtures of the token service tests: a domain wired on in-memory fakes."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from common.kv import KeyValue, MemoryKeyValue
from services.token.domain.denylist import RevocationList
from services.token.domain.introspection import Introspection
from services.token.domain.jwt_access_token import (
    AccessTokenPolicy,
    JwtAccessTokenIssuer,
    JwtAccessTokenVerifier,
)
from services.token.domain.keys import KeyManager
from services.token.domain.ports import ClientAuthenticator, DenylistStore
from services.token.domain.revocation import Revocation
from services.token.domain.token_endpoint import TokenEndpoint
from services.token.servicer import TokenDomain
from services.token.tests.fakes import (
    FakeClientAuthenticator,
    MemoryDenylistStore,
    MemorySigningKeyStore,
)

ISSUER = "https://as.example.test"


@dataclass
class Wired:
    domain: TokenDomain
    clients: FakeClientAuthenticator
    revocations: RevocationList
    keys: KeyManager
    denylist: DenylistStore


def wire(
    keys: KeyManager,
    authenticator: ClientAuthenticator,
    revocations: RevocationList,
    *,
    ttl: int = 3600,
    audience: tuple[str, ...] = (),
) -> TokenDomain:
    policy = AccessTokenPolicy(
        issuer=ISSUER, ttl_seconds=ttl, default_alg="ES256", audience=audience
    )
    verifier = JwtAccessTokenVerifier(keys, ISSUER)
    return TokenDomain(
        token_endpoint=TokenEndpoint(authenticator, JwtAccessTokenIssuer(keys, policy)),
        introspection=Introspection(authenticator, verifier, revocations),
        revocation=Revocation(authenticator, verifier, revocations),
        keys=keys,
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


@pytest.fixture
async def wired(key_manager: KeyManager) -> AsyncIterator[Wired]:
    clients = FakeClientAuthenticator()
    denylist = MemoryDenylistStore()
    kv: KeyValue = MemoryKeyValue()
    revocations = RevocationList(denylist, kv, max_token_ttl_seconds=3600)
    await revocations.start()
    yield Wired(
        domain=wire(key_manager, clients, revocations),
        clients=clients,
        revocations=revocations,
        keys=key_manager,
        denylist=denylist,
    )
    await revocations.close()


@pytest.fixture(autouse=True)
def _no_deployment_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings built in these tests must not pick up the developer's environment."""
    for name in list(os.environ):
        if name.startswith("OAUTH2_") or name.endswith(("DATABASE_URL", "REDIS_URL")):
            if name not in ("TEST_DATABASE_URL", "TEST_REDIS_URL"):
                monkeypatch.delenv(name)
