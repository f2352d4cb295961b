"""A client change an operator makes takes back what the client holds:
rotating its secret, removing a scope or disabling it revokes its refresh-token
families and writes its not-before in the token service; other changes do not."""

from __future__ import annotations

import pytest
from oauth2.v1 import clients_pb2, common_pb2

from common.errors import InvalidToken
from services.admin.domain import AdminDomain
from services.admin.tests.fakes import Downstream, Journal, MemoryAuditStore
from services.token.domain.grants.base import TokenRequest
from services.token.domain.ports import ClientCredentials

ADMIN = common_pb2.Actor(id="client:ops", remote_addr="203.0.113.9")


async def seed(downstream: Downstream) -> dict[str, str]:
    """Two clients with a family each, and an access token each (client_credentials)."""
    tokens = {}
    for client_id, family_id in (("web", "f1"), ("other", "f2")):
        _, secret = await downstream.add_client(client_id, scope="read write")
        await downstream.add_family(family_id, client_id, "u1")
        response = await downstream.token_domain.token_endpoint.exchange(
            TokenRequest(
                grant_type="client_credentials",
                credentials=ClientCredentials(client_id, secret, "client_secret_basic"),
            )
        )
        tokens[client_id] = response.access_token
    return tokens


async def active(downstream: Downstream, token: str) -> bool:
    try:
        await downstream.token_domain.introspection.verify_bearer(token)
    except InvalidToken:
        return False
    return True


def update(client_id: str, mask: list[str], **fields: object) -> clients_pb2.UpdateClientRequest:
    return clients_pb2.UpdateClientRequest(
        client_id=client_id,
        metadata=clients_pb2.ClientMetadata(**fields),  # type: ignore[arg-type]
        update_mask=mask,
        actor=ADMIN,
    )


async def test_rotating_the_secret_revokes_the_clients_tokens(
    domain: AdminDomain, downstream: Downstream, journal: Journal, audit_store: MemoryAuditStore
) -> None:
    tokens = await seed(downstream)
    journal.clear()
    rotated = await domain.clients.rotate_secret(
        clients_pb2.RotateClientSecretRequest(client_id="web", actor=ADMIN)
    )
    assert rotated.client_secret
    assert journal.methods() == ["RotateClientSecret", "RevokeGrants"]
    [revocation] = journal.requests("RevokeGrants")
    assert revocation.client_id == "web" and revocation.actor == ADMIN
    assert revocation.reason == "client secret rotated"
    assert downstream.revoked_families() == {"f1"}
    assert not await active(downstream, tokens["web"])
    assert await active(downstream, tokens["other"])
    [record] = audit_store.records
    assert record.action == "client.secret_rotated"
    assert record.details == {
        "tokens_revoked": "client secret rotated",
        "families_revoked": "1",
    }


@pytest.mark.parametrize(
    ("mask", "fields", "reason"),
    [
        (["scope"], {"scope": "read"}, "scope removed: write"),
        (["scope"], {"scope": ""}, "scope removed: read write"),
        (["enabled"], {"enabled": False}, "client disabled"),
    ],
)
async def test_removing_a_scope_or_disabling_revokes(
    domain: AdminDomain,
    downstream: Downstream,
    journal: Journal,
    audit_store: MemoryAuditStore,
    mask: list[str],
    fields: dict[str, object],
    reason: str,
) -> None:
    tokens = await seed(downstream)
    journal.clear()
    await domain.clients.update(update("web", mask, **fields))
    assert journal.methods() == ["GetClient", "UpdateClient", "RevokeGrants"]
    assert journal.requests("RevokeGrants")[0].reason == reason
    assert downstream.revoked_families() == {"f1"}
    assert not await active(downstream, tokens["web"])
    assert await active(downstream, tokens["other"])
    assert audit_store.records[0].details == {
        "fields": ",".join(mask),
        "tokens_revoked": reason,
        "families_revoked": "1",
    }


@pytest.mark.parametrize(
    ("mask", "fields"),
    [
        (["client_name"], {"client_name": "Web"}),
        (["scope"], {"scope": "read write admin:x"}),  # only added
        (["scope"], {"scope": "write read"}),  # same scopes
        (["enabled"], {"enabled": True}),
        (["introspection"], {"introspection": True}),
    ],
)
async def test_other_changes_revoke_nothing(
    domain: AdminDomain,
    downstream: Downstream,
    journal: Journal,
    mask: list[str],
    fields: dict[str, object],
) -> None:
    tokens = await seed(downstream)
    journal.clear()
    await domain.clients.update(update("web", mask, **fields))
    assert journal.methods() == ["GetClient", "UpdateClient"]
    assert downstream.revoked_families() == set()
    assert await active(downstream, tokens["web"])


async def test_enabling_a_disabled_client_revokes_nothing_more(
    domain: AdminDomain, downstream: Downstream, journal: Journal
) -> None:
    await seed(downstream)
    await domain.clients.update(update("web", ["enabled"], enabled=False))
    journal.clear()
    updated = await domain.clients.update(update("web", ["enabled"], enabled=True))
    assert updated.enabled
    assert journal.methods() == ["GetClient", "UpdateClient"]


async def test_an_rfc7592_update_that_drops_a_scope_revokes(
    domain: AdminDomain, downstream: Downstream, journal: Journal, audit_store: MemoryAuditStore
) -> None:
    registration = await downstream.register_client()
    client_id = registration.client.client_id
    assert "email" in registration.client.scope.split()
    await downstream.add_family("f9", client_id, "u1")
    journal.clear()
    answer = await domain.clients.update_registration(
        clients_pb2.UpdateRegistrationRequest(
            client_id=client_id,
            registration_access_token=registration.registration_access_token,
            metadata=clients_pb2.ClientMetadata(
                client_name="self-made",
                grant_types=["client_credentials"],
                scope="openid profile",
            ),
            actor=common_pb2.Actor(id=f"client:{client_id}", remote_addr="198.51.100.7"),
        )
    )
    assert answer.client.scope == "openid profile"
    assert journal.methods() == ["GetRegistration", "UpdateRegistration", "RevokeGrants"]
    assert journal.requests("RevokeGrants")[0].reason == "scope removed: email offline_access"
    assert downstream.revoked_families() == {"f9"}
    [record] = audit_store.records
    assert (record.action, record.target, record.outcome) == (
        "grant.revoked",
        f"client:{client_id}",
        "success",
    )
    assert record.details == {
        "via": "rfc7592",
        "tokens_revoked": "scope removed: email offline_access",
        "families_revoked": "1",
    }


async def test_an_rfc7592_update_with_a_wrong_token_revokes_nothing(
    domain: AdminDomain, downstream: Downstream, journal: Journal, audit_store: MemoryAuditStore
) -> None:
    registration = await downstream.register_client()
    client_id = registration.client.client_id
    journal.clear()
    with pytest.raises(InvalidToken):
        await domain.clients.update_registration(
            clients_pb2.UpdateRegistrationRequest(
                client_id=client_id,
                registration_access_token="wrong",
                metadata=clients_pb2.ClientMetadata(scope="openid"),
            )
        )
    assert journal.methods() == ["GetRegistration"]
    assert audit_store.records == []


async def test_an_rfc7592_update_keeping_its_scopes_revokes_nothing(
    domain: AdminDomain, downstream: Downstream, journal: Journal
) -> None:
    registration = await downstream.register_client()
    journal.clear()
    await domain.clients.update_registration(
        clients_pb2.UpdateRegistrationRequest(
            client_id=registration.client.client_id,
            registration_access_token=registration.registration_access_token,
            metadata=clients_pb2.ClientMetadata(
                client_name="renamed", grant_types=["client_credentials"]
            ),
        )
    )
    assert journal.methods() == ["GetRegistration", "UpdateRegistration"]
