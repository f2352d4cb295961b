"""Recovery (``oauth2ctl bootstrap --recover``): new admin credentials for an
operator who lost them, any number of times, always audited as admin.recovered."""

from __future__ import annotations

import pytest
from oauth2.v1 import clients_pb2, common_pb2

from common.errors import InvalidClient
from services.admin.domain import AdminDomain
from services.admin.domain.bootstrap import BOOTSTRAP_KEY
from services.admin.tests.fakes import Downstream, MemoryAuditStore, MemoryStateStore

CLI = common_pb2.Actor(id="cli", remote_addr="10.0.0.9")


def recovered(audit_store: MemoryAuditStore) -> list[tuple[str, str, str, str]]:
    return [
        (r.actor_id, r.target, r.outcome, r.details.get("how", ""))
        for r in audit_store.records
        if r.action == "admin.recovered"
    ]


async def test_rotates_the_bootstrapped_clients_secret(
    domain: AdminDomain, downstream: Downstream, audit_store: MemoryAuditStore
) -> None:
    first = await domain.bootstrap.bootstrap("", CLI)
    client_id = first.client.client_id
    again = await domain.bootstrap.recover("", CLI)
    assert again.client.client_id == client_id
    assert again.client_secret and again.client_secret != first.client_secret
    registry = downstream.client_registry
    with pytest.raises(InvalidClient):
        await registry.authenticate(client_id, first.client_secret, "client_secret_basic")
    await registry.authenticate(client_id, again.client_secret, "client_secret_basic")
    # A second recovery works too; each is on record, with the rotation it made.
    await domain.bootstrap.recover("", CLI)
    assert recovered(audit_store) == [
        ("cli", f"client:{client_id}", "success", "secret_rotated"),
        ("cli", f"client:{client_id}", "success", "secret_rotated"),
    ]
    rotations = [r for r in audit_store.records if r.action == "client.secret_rotated"]
    assert len(rotations) == 2 and all(r.details["families_revoked"] for r in rotations)
    assert audit_store.records[-1].actor_remote_addr == "10.0.0.9"
    assert len(downstream.client_store.clients) == 1


async def test_never_bootstrapped_makes_the_admin_client(
    domain: AdminDomain, state: MemoryStateStore, audit_store: MemoryAuditStore
) -> None:
    made = await domain.bootstrap.recover("", common_pb2.Actor())
    assert made.client.scope == "admin" and made.client_secret
    assert await domain.bootstrap.bootstrapped_client_id() == made.client.client_id
    assert recovered(audit_store) == [
        ("cli", f"client:{made.client.client_id}", "success", "client_created")
    ]


async def test_a_deleted_or_disabled_admin_client_is_replaced(
    domain: AdminDomain, state: MemoryStateStore, audit_store: MemoryAuditStore
) -> None:
    first = await domain.bootstrap.bootstrap("", CLI)
    await domain.clients.delete(
        clients_pb2.DeleteClientRequest(client_id=first.client.client_id, actor=CLI)
    )
    second = await domain.bootstrap.recover("", CLI)
    assert second.client.client_id != first.client.client_id
    assert state.values[BOOTSTRAP_KEY].value == second.client.client_id
    replaced = [r for r in audit_store.records if r.action == "admin.recovered"][-1]
    assert replaced.details["replaces"] == f"client:{first.client.client_id}"

    await domain.clients.update(
        clients_pb2.UpdateClientRequest(
            client_id=second.client.client_id,
            metadata=clients_pb2.ClientMetadata(enabled=False),
            update_mask=["enabled"],
            actor=CLI,
        )
    )
    third = await domain.bootstrap.recover("", CLI)
    assert third.client.client_id not in (first.client.client_id, second.client.client_id)
    assert await domain.bootstrap.bootstrapped_client_id() == third.client.client_id
    assert [how for *_, how in recovered(audit_store)] == ["client_created", "client_created"]
