"""Bootstrap creates the first admin client once (docs/operators.md, "oauth2ctl"),
even when two calls race, and leaves the way open again when creation fails."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from oauth2.v1 import common_pb2

from common.errors import Conflict, TemporarilyUnavailable
from common.timeutil import utcnow
from services.admin.domain import AdminDomain
from services.admin.domain.bootstrap import BOOTSTRAP_KEY
from services.admin.domain.model import StateEntry
from services.admin.tests.fakes import (
    Downstream,
    Journal,
    MemoryAuditStore,
    MemoryStateStore,
)

NO_ACTOR = common_pb2.Actor()


async def test_creates_the_admin_client_once(
    domain: AdminDomain,
    downstream: Downstream,
    state: MemoryStateStore,
    audit_store: MemoryAuditStore,
) -> None:
    created = await domain.bootstrap.bootstrap("", NO_ACTOR)
    client = created.client
    assert created.client_secret
    assert client.client_name == "oauth2ctl admin"
    assert list(client.grant_types) == ["client_credentials"]
    assert client.scope == "admin" and client.token_endpoint_auth_method == "client_secret_basic"
    assert state.values[BOOTSTRAP_KEY].value == client.client_id
    assert await domain.bootstrap.bootstrapped_client_id() == client.client_id

    with pytest.raises(Conflict) as caught:
        await domain.bootstrap.bootstrap("again", NO_ACTOR)
    assert caught.value.description == "The system is already bootstrapped"
    assert len(downstream.client_store.clients) == 1
    assert audit_store.actions() == [
        ("admin.bootstrapped", f"client:{client.client_id}", "success"),
        ("admin.bootstrapped", "", "failure"),
    ]
    assert [r.actor_id for r in audit_store.records] == ["cli", "cli"]
    assert audit_store.records[1].details["error"] == "conflict"


async def test_two_concurrent_calls_create_one_client(
    domain: AdminDomain, downstream: Downstream, journal: Journal
) -> None:
    results = await asyncio.gather(
        domain.bootstrap.bootstrap("first", common_pb2.Actor(id="cli")),
        domain.bootstrap.bootstrap("second", common_pb2.Actor(id="cli")),
        return_exceptions=True,
    )
    conflicts = [r for r in results if isinstance(r, Conflict)]
    assert len(conflicts) == 1 and len(downstream.client_store.clients) == 1
    assert journal.methods() == ["CreateClient"]


async def test_a_failed_creation_releases_the_claim(
    domain: AdminDomain, downstream: Downstream, state: MemoryStateStore
) -> None:
    downstream.clients.failures["CreateClient"] = TemporarilyUnavailable()
    with pytest.raises(TemporarilyUnavailable):
        await domain.bootstrap.bootstrap("ops", NO_ACTOR)
    assert state.values == {}
    created = await domain.bootstrap.bootstrap("ops", NO_ACTOR)
    assert created.client.client_name == "ops"


async def test_an_abandoned_claim_is_taken_over_after_the_timeout(
    domain: AdminDomain, downstream: Downstream, state: MemoryStateStore
) -> None:
    # A replica died between claiming and creating the client.
    state.values[BOOTSTRAP_KEY] = StateEntry("pending:abc", utcnow() - timedelta(seconds=5))
    with pytest.raises(Conflict):
        await domain.bootstrap.bootstrap("", NO_ACTOR)
    assert await domain.bootstrap.bootstrapped_client_id() is None
    state.values[BOOTSTRAP_KEY] = StateEntry("pending:abc", utcnow() - timedelta(seconds=61))
    created = await domain.bootstrap.bootstrap("", NO_ACTOR)
    assert state.values[BOOTSTRAP_KEY].value == created.client.client_id
