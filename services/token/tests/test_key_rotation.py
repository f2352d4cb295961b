"""Signing-key rotation and retirement (docs/operators.md): JWKS contents, verification of
old and new tokens, automatic retirement on an injectable clock, other replicas hearing of
it on the ``keys`` channel."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
import pytest

from common.errors import InvalidRequest, InvalidToken, NotFound
from common.kv import MemoryKeyValue
from common.timeutil import utcnow
from services.token.domain.denylist import RevocationList
from services.token.domain.grants.base import TokenRequest
from services.token.domain.keys import KeyManager
from services.token.servicer import TokenDomain
from services.token.tests.conftest import wire
from services.token.tests.fakes import (
    ClientsStandIn,
    MemoryDenylistStore,
    MemorySigningKeyStore,
)

# max(access, id token lifetime) of the tests + the skew.
GRACE = timedelta(seconds=3600 + 60)


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Rig:
    keys: KeyManager
    store: MemorySigningKeyStore
    clock: Clock
    domain: TokenDomain
    clients: ClientsStandIn

    async def issue(self, client_id: str = "svc") -> str:
        creds = await self.clients.register_once(client_id)
        request = TokenRequest(grant_type="client_credentials", credentials=creds)
        return (await self.domain.token_endpoint.exchange(request)).access_token

    async def active(self, token: str) -> bool:
        rs = await self.clients.register_once("rs", grant_types=(), introspection=True)
        return (await self.domain.introspection.introspect(token, "", rs)).active

    def kids(self) -> set[str]:
        return {jwk["kid"] for jwk in self.keys.jwks()}


@pytest.fixture
async def rig(kek: bytes) -> AsyncIterator[Rig]:
    store, clock = MemorySigningKeyStore(), Clock()
    keys = KeyManager(store, kek, algs=("ES256",), clock=clock, max_token_ttl_seconds=3600)
    await keys.start()
    revocations = RevocationList(
        MemoryDenylistStore(), MemoryKeyValue(), max_token_ttl_seconds=3600
    )
    await revocations.start()
    clients = ClientsStandIn()
    yield Rig(keys, store, clock, wire(keys, clients, revocations), clients)
    await revocations.close()


def kid_of(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


async def test_rotation_keeps_the_previous_key_until_retired(rig: Rig) -> None:
    old_kid = rig.keys.signing_key("ES256").kid
    old_token = await rig.issue()
    assert kid_of(old_token) == old_kid

    rig.clock.now += timedelta(minutes=1)
    rotated = await rig.keys.rotate("ES256")
    assert rotated.status == "active" and rotated.kid != old_kid
    assert rig.keys.signing_key("ES256").kid == rotated.kid
    # JWKS holds both; the old token still verifies; new tokens carry the new kid.
    assert rig.kids() == {old_kid, rotated.kid}
    assert await rig.active(old_token)
    new_token = await rig.issue()
    assert kid_of(new_token) == rotated.kid
    listed = await rig.keys.list_keys()
    assert [(k.kid, k.status) for k in listed] == [
        (rotated.kid, "active"),
        (old_kid, "previous"),
    ]
    assert rig.store.keys[old_kid].retire_after == rig.clock.now + GRACE

    # An operator retires it at once: out of the JWKS, its tokens inactive.
    retired = await rig.keys.retire(old_kid)
    assert retired.status == "retired" and retired.retired_at == rig.clock.now
    assert rig.kids() == {rotated.kid}
    assert not await rig.active(old_token)
    with pytest.raises(InvalidToken):
        await rig.domain.introspection.verify_bearer(old_token)
    assert await rig.active(new_token)
    # Retiring it again changes nothing; every key stays listed.
    assert (await rig.keys.retire(old_kid)).retired_at == retired.retired_at
    assert [k.status for k in await rig.keys.list_keys()] == ["active", "retired"]


async def test_retire_refuses_the_active_key_and_unknown_kids(rig: Rig) -> None:
    active = rig.keys.signing_key("ES256").kid
    with pytest.raises(InvalidRequest) as info:
        await rig.keys.retire(active)
    assert info.value.description == "Rotate the key before retiring it"
    with pytest.raises(NotFound) as unknown:
        await rig.keys.retire("no-such-kid")
    assert unknown.value.description == "Signing key 'no-such-kid' not found"
    with pytest.raises(InvalidRequest) as bad_alg:
        await rig.keys.rotate("HS256")
    assert bad_alg.value.description == "Unsupported 'alg' 'HS256': use ES256 or RS256"


async def test_rotation_defaults_to_the_access_token_alg(rig: Rig) -> None:
    assert (await rig.keys.rotate()).alg == "ES256"
    rs = await rig.keys.rotate("RS256")  # no RS256 key before: simply a new active one
    assert rs.alg == "RS256" and rig.keys.signing_key("RS256").kid == rs.kid


async def test_previous_key_retires_by_itself_after_retire_after(rig: Rig) -> None:
    old_kid = rig.keys.signing_key("ES256").kid
    old_token = await rig.issue()
    await rig.keys.rotate("ES256")
    rig.clock.now += GRACE - timedelta(seconds=1)
    assert old_kid in {jwk["kid"] for jwk in await rig.keys.published_jwks()}
    assert await rig.active(old_token)
    assert rig.store.keys[old_kid].status == "previous"

    rig.clock.now += timedelta(seconds=1)
    # Out of the JWKS and unverifying at once, before anything was written.
    assert old_kid not in rig.kids()
    assert not await rig.active(old_token)
    assert rig.store.keys[old_kid].status == "previous"
    # Reading the JWKS (or the key list) retires it in the store.
    assert old_kid not in {jwk["kid"] for jwk in await rig.keys.published_jwks()}
    stored = rig.store.keys[old_kid]
    assert stored.status == "retired" and stored.retired_at == stored.retire_after
    listed = {k.kid: k for k in await rig.keys.list_keys()}
    assert listed[old_kid].status == "retired"


async def test_another_replica_hears_of_rotation_and_retirement(kek: bytes) -> None:
    store, kv = MemorySigningKeyStore(), MemoryKeyValue()
    a = KeyManager(store, kek, algs=("ES256",), kv=kv)
    b = KeyManager(store, kek, algs=("ES256",), kv=kv)
    await a.start()
    await b.start()
    await b.watch()
    try:
        await asyncio.sleep(0)  # the subscriber subscribes
        old_kid = b.signing_key("ES256").kid
        rotated = await a.rotate("ES256")
        await until(lambda: b.signing_key("ES256").kid == rotated.kid)
        assert {j["kid"] for j in b.jwks()} == {old_kid, rotated.kid}
        await a.retire(old_kid)
        await until(lambda: {j["kid"] for j in b.jwks()} == {rotated.kid})
        assert await b.verification_key(old_kid) is None
    finally:
        await b.close()


async def test_unknown_kid_signed_after_rotation_elsewhere_is_found(kek: bytes) -> None:
    """Without pub/sub a replica reloads on an unknown kid (rate-limited)."""
    store, monotonic = MemorySigningKeyStore(), [0.0]
    a = KeyManager(store, kek, algs=("ES256",))
    b = KeyManager(store, kek, algs=("ES256",), monotonic=lambda: monotonic[0])
    await a.start()
    await b.start()
    rotated = await a.rotate("ES256")
    monotonic[0] += 1
    found = await b.verification_key(rotated.kid)
    assert found is not None and found.status == "active"


async def until(condition: Callable[[], bool], timeout: float = 2.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition never held")
        await asyncio.sleep(0.01)
