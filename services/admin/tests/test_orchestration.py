"""The admin domain over the real domains of the services it composes: the order
of each orchestration (docs/operators.md, "Who orchestrates") and the audit row
every mutating call leaves, on success and on failure."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from oauth2.v1 import authorize_pb2, clients_pb2, common_pb2, token_pb2
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from common.errors import (
    Conflict,
    InvalidRequest,
    InvalidToken,
    NotFound,
    TemporarilyUnavailable,
)
from services.admin.domain import AdminDomain
from services.admin.tests.fakes import Downstream, Journal, MemoryAuditStore
from services.token.domain.grants.base import TokenRequest
from services.token.domain.ports import ClientCredentials

ADMIN = common_pb2.Actor(id="client:ops", remote_addr="203.0.113.9")
TRACE_ID = 0x0AF7651916CD43DD8448EB211C80319C


@dataclass
class People:
    alice: str
    bob: str


async def seed(downstream: Downstream) -> People:
    """Two clients, two users, their consents and refresh-token families."""
    for client_id in ("web", "other"):
        await downstream.add_client(client_id)
    alice = (await downstream.add_user("alice")).user_id
    bob = (await downstream.add_user("bob")).user_id
    await downstream.add_consent("web", alice)
    await downstream.add_consent("web", bob)
    await downstream.add_consent("other", alice)
    await downstream.add_family("f1", "web", alice)
    await downstream.add_family("f2", "web", bob)
    await downstream.add_family("f3", "other", alice)
    return People(alice, bob)


async def test_delete_client_deletes_then_revokes_grants_then_consents(
    domain: AdminDomain, downstream: Downstream, journal: Journal, audit_store: MemoryAuditStore
) -> None:
    people = await seed(downstream)
    await domain.clients.delete(clients_pb2.DeleteClientRequest(client_id="web", actor=ADMIN))
    assert journal.methods() == ["DeleteClient", "RevokeGrants", "RevokeConsents"]
    [revocation] = journal.requests("RevokeGrants")
    assert revocation.client_id == "web" and revocation.actor == ADMIN
    assert journal.requests("RevokeConsents")[0].client_id == "web"
    assert "web" not in downstream.client_store.clients
    assert downstream.revoked_families() == {"f1", "f2"}
    assert downstream.consent_pairs() == [("other", people.alice)]
    [record] = audit_store.records
    assert (record.action, record.target, record.outcome) == (
        "client.deleted",
        "client:web",
        "success",
    )
    assert record.actor_id == "client:ops" and record.actor_remote_addr == "203.0.113.9"
    assert record.source == "oauth2-admin"
    assert record.details == {"families_revoked": "2", "consents_revoked": "2"}


async def test_deleting_a_missing_client_still_revokes_what_it_held(
    domain: AdminDomain, downstream: Downstream, journal: Journal, audit_store: MemoryAuditStore
) -> None:
    # A deletion that failed half-way is finished by repeating it.
    await downstream.add_family("f9", "gone", "u-x")
    with pytest.raises(NotFound):
        await domain.clients.delete(clients_pb2.DeleteClientRequest(client_id="gone", actor=ADMIN))
    assert journal.methods() == ["DeleteClient", "RevokeGrants", "RevokeConsents"]
    assert downstream.revoked_families() == {"f9"}
    [record] = audit_store.records
    assert record.outcome == "failure" and record.details["error"] == "not_found"
    assert record.details["families_revoked"] == "1"


async def test_delete_client_failure_downstream_is_audited_with_the_error_code(
    domain: AdminDomain, downstream: Downstream, journal: Journal, audit_store: MemoryAuditStore
) -> None:
    await seed(downstream)
    downstream.token.failures["RevokeGrants"] = TemporarilyUnavailable(
        "The token service is unavailable"
    )
    with pytest.raises(TemporarilyUnavailable):
        await domain.clients.delete(clients_pb2.DeleteClientRequest(client_id="web", actor=ADMIN))
    assert journal.methods() == ["DeleteClient", "RevokeGrants"]
    [record] = audit_store.records
    assert (record.action, record.outcome) == ("client.deleted", "failure")
    assert record.details == {
        "error": "temporarily_unavailable",
        "error_description": "The token service is unavailable",
    }


async def test_deleting_a_registration_runs_the_same_cascade(
    domain: AdminDomain, downstream: Downstream, journal: Journal, audit_store: MemoryAuditStore
) -> None:
    people = await seed(downstream)
    registered = await downstream.register_client()
    client_id = registered.client.client_id
    await downstream.add_consent(client_id, people.alice)
    await downstream.add_family("f-dyn", client_id, people.alice)
    itself = common_pb2.Actor(id=f"client:{client_id}", remote_addr="198.51.100.7")
    await domain.clients.delete_registration(
        clients_pb2.RegistrationAccessRequest(
            client_id=client_id,
            registration_access_token=registered.registration_access_token,
            actor=itself,
        )
    )
    assert journal.methods() == ["DeleteRegistration", "RevokeGrants", "RevokeConsents"]
    [revocation] = journal.requests("RevokeGrants")
    assert revocation.reason == "registration deleted (RFC 7592)" and revocation.actor == itself
    assert client_id not in downstream.client_store.clients
    assert downstream.revoked_families() == {"f-dyn"}
    assert (client_id, people.alice) not in downstream.consent_pairs()
    [record] = audit_store.records
    assert (record.action, record.target, record.outcome, record.actor_id) == (
        "client.deleted",
        f"client:{client_id}",
        "success",
        f"client:{client_id}",
    )
    assert record.actor_remote_addr == "198.51.100.7"
    assert record.details == {"via": "rfc7592", "families_revoked": "1", "consents_revoked": "1"}


async def test_a_wrong_registration_access_token_revokes_nothing_and_is_not_audited(
    domain: AdminDomain, downstream: Downstream, journal: Journal, audit_store: MemoryAuditStore
) -> None:
    registered = await downstream.register_client()
    client_id = registered.client.client_id
    with pytest.raises(InvalidToken):
        await domain.clients.delete_registration(
            clients_pb2.RegistrationAccessRequest(
                client_id=client_id, registration_access_token="x"
            )
        )
    assert journal.methods() == ["DeleteRegistration"]
    assert client_id in downstream.client_store.clients and audit_store.records == []


async def test_disabling_a_user_revokes_its_grants_after_the_update(
    domain: AdminDomain, downstream: Downstream, journal: Journal, audit_store: MemoryAuditStore
) -> None:
    people = await seed(downstream)
    user = await domain.users.update(
        authorize_pb2.UpdateUserRequest(
            user_id=people.alice,
            user=authorize_pb2.User(enabled=False),
            update_mask=["enabled"],
            actor=ADMIN,
        )
    )
    assert not user.enabled
    assert journal.methods() == ["UpdateUser", "RevokeGrants"]
    assert journal.requests("RevokeGrants")[0].subject == people.alice
    assert downstream.revoked_families() == {"f1", "f3"}
    assert audit_store.actions() == [("user.disabled", f"user:{people.alice}", "success")]
    assert audit_store.records[0].details == {"fields": "enabled", "families_revoked": "2"}

    journal.clear()
    await domain.users.update(
        authorize_pb2.UpdateUserRequest(
            user_id=people.alice,
            user=authorize_pb2.User(enabled=True),
            update_mask=["enabled"],
            actor=ADMIN,
        )
    )
    await domain.users.update(
        authorize_pb2.UpdateUserRequest(
            user_id=people.alice,
            user=authorize_pb2.User(email="a@example.com"),
            update_mask=["email"],
            actor=ADMIN,
        )
    )
    assert journal.methods() == ["UpdateUser", "UpdateUser"]  # nothing revoked
    assert [a for a, _, _ in audit_store.actions()] == [
        "user.disabled",
        "user.enabled",
        "user.updated",
    ]


async def test_delete_user_revokes_grants_first(
    domain: AdminDomain, downstream: Downstream, journal: Journal, audit_store: MemoryAuditStore
) -> None:
    people = await seed(downstream)
    await domain.users.delete(authorize_pb2.DeleteUserRequest(user_id=people.bob, actor=ADMIN))
    assert journal.methods() == ["RevokeGrants", "DeleteUser"]
    assert audit_store.actions() == [("user.deleted", f"user:{people.bob}", "success")]

    journal.clear()
    downstream.token.failures["RevokeGrants"] = TemporarilyUnavailable()
    with pytest.raises(TemporarilyUnavailable):
        await domain.users.delete(
            authorize_pb2.DeleteUserRequest(user_id=people.alice, actor=ADMIN)
        )
    assert journal.methods() == ["RevokeGrants"]  # the account stays, to retry
    assert people.alice in downstream.user_store.users
    assert audit_store.actions()[-1] == ("user.deleted", f"user:{people.alice}", "failure")


async def test_setting_a_password_revokes_the_users_grants(
    domain: AdminDomain, downstream: Downstream, journal: Journal, audit_store: MemoryAuditStore
) -> None:
    """A reset password takes back what the old one led to: the refresh-token
    families and (through the not-before) the access tokens of the user."""
    people = await seed(downstream)
    await domain.users.set_password(
        authorize_pb2.SetPasswordRequest(user_id=people.alice, password="n" * 12, actor=ADMIN)
    )
    assert journal.methods() == ["SetPassword", "RevokeGrants"]
    [revocation] = journal.requests("RevokeGrants")
    assert (revocation.subject, revocation.reason) == (people.alice, "password changed")
    assert revocation.actor == ADMIN
    assert downstream.revoked_families() == {"f1", "f3"}  # bob's f2 stays
    assert audit_store.actions() == [("user.password_set", f"user:{people.alice}", "success")]
    assert audit_store.records[0].details == {"families_revoked": "2"}

    journal.clear()
    downstream.token.failures["RevokeGrants"] = TemporarilyUnavailable()
    with pytest.raises(TemporarilyUnavailable):
        await domain.users.set_password(
            authorize_pb2.SetPasswordRequest(user_id=people.bob, password="m" * 12, actor=ADMIN)
        )
    # Reported as failed, so the administrator repeats it.
    assert audit_store.actions()[-1] == ("user.password_set", f"user:{people.bob}", "failure")


async def test_user_calls_are_audited(domain: AdminDomain, audit_store: MemoryAuditStore) -> None:
    password = "x" * 12
    user = await domain.users.create(
        authorize_pb2.CreateUserRequest(username="carol", password=password, actor=ADMIN)
    )
    await domain.users.set_password(
        authorize_pb2.SetPasswordRequest(user_id=user.user_id, password="y" * 12, actor=ADMIN)
    )
    with pytest.raises(InvalidRequest):
        await domain.users.create(
            authorize_pb2.CreateUserRequest(username="", password=password, actor=ADMIN)
        )
    with pytest.raises(NotFound):
        await domain.users.set_password(
            authorize_pb2.SetPasswordRequest(user_id="nobody", password="z" * 12)
        )
    assert audit_store.actions() == [
        ("user.created", f"user:{user.user_id}", "success"),
        ("user.password_set", f"user:{user.user_id}", "success"),
        ("user.created", "", "failure"),
        ("user.password_set", "user:nobody", "failure"),
    ]
    # No secret in any audit row; a call without an actor is recorded as such.
    assert all(p not in str(r) for r in audit_store.records for p in ("x" * 12, "y" * 12))
    assert audit_store.records[-1].actor_id == "unknown"
    # Reads are not audited.
    await domain.users.get(authorize_pb2.GetUserRequest(user_id=user.user_id))
    await domain.users.list(authorize_pb2.ListUsersRequest())
    assert len(audit_store.records) == 4


async def test_client_calls_are_audited_without_secrets(
    domain: AdminDomain, audit_store: MemoryAuditStore
) -> None:
    created = await domain.clients.create(
        clients_pb2.CreateClientRequest(
            metadata=clients_pb2.ClientMetadata(client_name="api"), client_id="api", actor=ADMIN
        )
    )
    assert created.client_secret
    await domain.clients.update(
        clients_pb2.UpdateClientRequest(
            client_id="api",
            metadata=clients_pb2.ClientMetadata(client_name="API"),
            update_mask=["client_name"],
            actor=ADMIN,
        )
    )
    rotated = await domain.clients.rotate_secret(
        clients_pb2.RotateClientSecretRequest(client_id="api", actor=ADMIN)
    )
    before = datetime.now(UTC)
    iat = await domain.clients.create_initial_access_token(
        clients_pb2.CreateInitialAccessTokenRequest(expires_in=3600, max_uses=2, actor=ADMIN)
    )
    with pytest.raises(NotFound):
        await domain.clients.rotate_secret(
            clients_pb2.RotateClientSecretRequest(client_id="nope", actor=ADMIN)
        )
    assert audit_store.actions() == [
        ("client.created", "client:api", "success"),
        ("client.updated", "client:api", "success"),
        ("client.secret_rotated", "client:api", "success"),
        ("registration_token.created", "", "success"),
        ("client.secret_rotated", "client:nope", "failure"),
    ]
    assert audit_store.records[1].details == {"fields": "client_name"}
    details = audit_store.records[3].details
    assert details["max_uses"] == "2"
    expires_at = datetime.fromisoformat(details["expires_at"])
    assert timedelta(minutes=59) < expires_at - before < timedelta(minutes=61)
    secrets = [created.client_secret, rotated.client_secret, iat.initial_access_token]
    assert not any(s in str(r) for r in audit_store.records for s in secrets)


async def test_audit_rows_carry_the_trace_id_of_the_call(
    domain: AdminDomain, audit_store: MemoryAuditStore
) -> None:
    context = SpanContext(
        trace_id=TRACE_ID, span_id=0x1234, is_remote=False, trace_flags=TraceFlags(1)
    )
    with trace.use_span(NonRecordingSpan(context)):
        await domain.keys.rotate(token_pb2.RotateSigningKeyRequest(alg="ES256", actor=ADMIN))
    await domain.keys.rotate(token_pb2.RotateSigningKeyRequest(actor=ADMIN))
    assert audit_store.records[0].trace_id == f"{TRACE_ID:032x}"
    assert audit_store.records[1].trace_id == ""


async def test_list_grants_combines_consents_and_a_page_of_families(
    domain: AdminDomain, downstream: Downstream
) -> None:
    people = await seed(downstream)
    listing = await domain.grants.list(
        token_pb2.ListGrantsRequest(subject=people.alice, page=common_pb2.PageRequest(page_size=1))
    )
    assert [(c.client_id, c.user_id) for c in listing.consents] == [
        ("other", people.alice),
        ("web", people.alice),
    ]
    # Newest first; these were created at the same instant, so by id, descending.
    assert [f.family_id for f in listing.families] == ["f3"]
    assert listing.next_page_token and listing.total_size == 2
    nxt = await domain.grants.list(
        token_pb2.ListGrantsRequest(
            subject=people.alice,
            page=common_pb2.PageRequest(page_size=1, page_token=listing.next_page_token),
        )
    )
    assert [f.family_id for f in nxt.families] == ["f1"] and nxt.next_page_token == ""
    with pytest.raises(InvalidRequest, match="Give 'user_id' or 'client_id'"):
        await domain.grants.list(token_pb2.ListGrantsRequest())


async def test_revoke_grants_by_selector(
    domain: AdminDomain, downstream: Downstream, journal: Journal, audit_store: MemoryAuditStore
) -> None:
    people = await seed(downstream)
    assert (
        await domain.grants.revoke(token_pb2.RevokeGrantsRequest(family_id="f2", actor=ADMIN)) == 1
    )
    assert journal.methods() == ["RevokeGrants"]  # one family: consents stay
    assert journal.requests("RevokeGrants")[0].reason == "revoked by an administrator"
    journal.clear()
    revoked = await domain.grants.revoke(
        token_pb2.RevokeGrantsRequest(subject=people.alice, actor=ADMIN)
    )
    assert revoked == 2
    assert journal.methods() == ["RevokeGrants", "RevokeConsents"]
    assert journal.requests("RevokeConsents")[0].user_id == people.alice
    assert audit_store.actions() == [
        ("grant.revoked", "grant:f2", "success"),
        ("grant.revoked", f"user:{people.alice}", "success"),
    ]
    assert audit_store.records[1].details == {"families_revoked": "2", "consents_revoked": "2"}
    for bad in (
        token_pb2.RevokeGrantsRequest(),
        token_pb2.RevokeGrantsRequest(subject=people.bob, client_id="web"),
    ):
        with pytest.raises(
            InvalidRequest, match="Give exactly one of 'family_id', 'user_id' or 'client_id'"
        ):
            await domain.grants.revoke(bad)
    assert await domain.grants.revoke(token_pb2.RevokeGrantsRequest(client_id="web")) == 0
    assert downstream.consent_pairs() == []  # bob's consent for web went too
    assert audit_store.records[-1].details == {"families_revoked": "0", "consents_revoked": "1"}
    with pytest.raises(NotFound):
        await domain.grants.revoke(token_pb2.RevokeGrantsRequest(family_id="nope"))
    assert audit_store.actions()[-2:] == [
        ("grant.revoked", "client:web", "success"),
        ("grant.revoked", "grant:nope", "failure"),
    ]


async def test_keys(domain: AdminDomain, audit_store: MemoryAuditStore) -> None:
    [old_rs256] = [k.kid for k in await domain.keys.list() if k.alg == "RS256"]
    rotated = await domain.keys.rotate(token_pb2.RotateSigningKeyRequest(alg="RS256", actor=ADMIN))
    assert rotated.alg == "RS256" and rotated.kid != old_rs256
    status = {k.kid: k.status for k in await domain.keys.list() if k.alg == "RS256"}
    assert status == {old_rs256: "previous", rotated.kid: "active"}
    retired = await domain.keys.retire(
        token_pb2.RetireSigningKeyRequest(kid=old_rs256, actor=ADMIN)
    )
    assert retired.status == "retired"
    with pytest.raises(InvalidRequest):
        await domain.keys.retire(token_pb2.RetireSigningKeyRequest(kid=rotated.kid, actor=ADMIN))
    assert audit_store.actions() == [
        ("key.rotated", f"key:{rotated.kid}", "success"),
        ("key.retired", f"key:{old_rs256}", "success"),
        ("key.retired", f"key:{rotated.kid}", "failure"),
    ]
    assert audit_store.records[0].details == {"alg": "RS256"}


async def test_stats_come_from_the_owners(
    domain: AdminDomain, downstream: Downstream, journal: Journal
) -> None:
    await seed(downstream)
    _, secret = await downstream.add_client("svc")
    credentials = ClientCredentials("svc", secret, "client_secret_basic")
    for _ in range(3):
        await downstream.token_domain.token_endpoint.exchange(
            TokenRequest(grant_type="client_credentials", credentials=credentials)
        )
    journal.clear()
    stats = await domain.stats.read()
    assert (stats.clients, stats.users, stats.active_grants) == (3, 2, 3)
    assert stats.tokens_issued_by_grant_type == {
        "authorization_code": 0,
        "refresh_token": 0,
        "client_credentials": 3,
        "urn:ietf:params:oauth:grant-type:device_code": 0,
        "urn:ietf:params:oauth:grant-type:token-exchange": 0,
    }
    assert stats.since is not None
    assert journal.methods() == ["ListClients", "ListUsers", "GetTokenStats"]


async def test_a_failing_audit_store_does_not_fail_the_call(
    domain: AdminDomain, audit_store: MemoryAuditStore, caplog: pytest.LogCaptureFixture
) -> None:
    audit_store.failure = TemporarilyUnavailable("The audit log is unavailable")
    key = await domain.keys.rotate(token_pb2.RotateSigningKeyRequest(actor=ADMIN))
    assert key.alg == "ES256" and key.status == "active"
    assert "audit event not recorded" in caplog.text and "key.rotated" in caplog.text


async def test_an_unexpected_error_or_a_cancellation_is_audited_as_failure(
    domain: AdminDomain, downstream: Downstream, audit_store: MemoryAuditStore
) -> None:
    downstream.token.failures["RotateSigningKey"] = RuntimeError("boom")
    with pytest.raises(RuntimeError):
        await domain.keys.rotate(token_pb2.RotateSigningKeyRequest(actor=ADMIN))
    downstream.token.failures["RotateSigningKey"] = asyncio.CancelledError()
    with pytest.raises(asyncio.CancelledError):
        await domain.keys.rotate(token_pb2.RotateSigningKeyRequest(actor=ADMIN))
    assert [(r.outcome, r.details) for r in audit_store.records] == [
        ("failure", {"error": "server_error"}),
        ("failure", {"error": "cancelled"}),
    ]
    assert "boom" not in str(audit_store.records)


# --- resource servers (RFC 8707) -------------------------------------------------------------

API = "https://api.example.com/orders"


def api_resource(identifier: str = API, *scopes: str, **fields: object) -> clients_pb2.Resource:
    return clients_pb2.Resource(
        identifier=identifier,
        scopes=scopes or ("orders:read",),
        **fields,  # type: ignore[arg-type]
    )


async def test_resource_changes_are_forwarded_and_audited(
    domain: AdminDomain, downstream: Downstream, journal: Journal, audit_store: MemoryAuditStore
) -> None:
    await downstream.add_client("orders-rs")
    created = await domain.resources.create(
        clients_pb2.CreateResourceRequest(
            resource=api_resource(API, "orders:read", "orders:write", name="Orders"),
            actor=ADMIN,
        )
    )
    assert (created.identifier, created.name) == (API, "Orders")
    assert list(created.scopes) == ["orders:read", "orders:write"]
    [forwarded] = journal.requests("CreateResource")
    assert forwarded.resource.identifier == API and forwarded.actor == ADMIN
    assert API in downstream.resource_store.resources

    assert await domain.resources.get(API) == created
    listed = await domain.resources.list(clients_pb2.ListResourcesRequest())
    assert [r.identifier for r in listed.resources] == [API] and listed.page.total_size == 1

    updated = await domain.resources.update(
        clients_pb2.UpdateResourceRequest(
            resource=api_resource(API, introspection_client_id="orders-rs"),
            update_mask=["introspection_client_id"],
            actor=ADMIN,
        )
    )
    assert updated.introspection_client_id == "orders-rs" and updated.name == "Orders"
    replaced = await domain.resources.update(
        clients_pb2.UpdateResourceRequest(resource=api_resource(API, "orders:all"), actor=ADMIN)
    )
    assert (replaced.name, list(replaced.scopes)) == ("", ["orders:all"])

    await domain.resources.delete(clients_pb2.DeleteResourceRequest(identifier=API, actor=ADMIN))
    assert downstream.resource_store.resources == {}
    [deletion] = journal.requests("DeleteResource")
    assert deletion.identifier == API and deletion.actor == ADMIN
    # A deletion takes nothing else with it: no token or consent call.
    assert journal.methods() == [
        "CreateResource",
        "GetResource",
        "ListResources",
        "UpdateResource",
        "UpdateResource",
        "DeleteResource",
    ]

    target = f"resource:{API}"
    assert audit_store.actions() == [
        ("resource.created", target, "success"),
        ("resource.updated", target, "success"),
        ("resource.updated", target, "success"),
        ("resource.deleted", target, "success"),
    ]
    for record in audit_store.records:
        assert record.actor_id == "client:ops" and record.actor_remote_addr == "203.0.113.9"
        assert record.source == "oauth2-admin"
    assert [r.details for r in audit_store.records] == [
        {},
        {"fields": "introspection_client_id"},
        {"fields": "*"},
        {},
    ]


async def test_refused_resource_changes_are_audited_as_failures(
    domain: AdminDomain, downstream: Downstream, audit_store: MemoryAuditStore
) -> None:
    with pytest.raises(InvalidRequest, match="fragment"):
        await domain.resources.create(
            clients_pb2.CreateResourceRequest(resource=api_resource(API + "#x"), actor=ADMIN)
        )
    await downstream.add_resource(API, "orders:read")
    with pytest.raises(Conflict, match="already exists"):
        await domain.resources.create(
            clients_pb2.CreateResourceRequest(resource=api_resource(), actor=ADMIN)
        )
    with pytest.raises(InvalidRequest, match="Unknown client 'ghost'"):
        await domain.resources.update(
            clients_pb2.UpdateResourceRequest(
                resource=api_resource(introspection_client_id="ghost"),
                update_mask=["introspection_client_id"],
                actor=ADMIN,
            )
        )
    missing = "https://api.example.com/missing"
    with pytest.raises(NotFound):
        await domain.resources.delete(
            clients_pb2.DeleteResourceRequest(identifier=missing, actor=ADMIN)
        )
    with pytest.raises(NotFound):
        await domain.resources.get(missing)
    assert audit_store.actions() == [
        ("resource.created", f"resource:{API}#x", "failure"),
        ("resource.created", f"resource:{API}", "failure"),
        ("resource.updated", f"resource:{API}", "failure"),
        ("resource.deleted", f"resource:{missing}", "failure"),
    ]
    assert [r.details["error"] for r in audit_store.records] == [
        "invalid_request",
        "conflict",
        "invalid_request",
        "not_found",
    ]
    assert audit_store.records[2].details["fields"] == "introspection_client_id"
    assert audit_store.records[2].details["error_description"].startswith("Unknown client")


async def test_a_long_identifier_is_kept_whole_in_the_details(
    domain: AdminDomain, audit_store: MemoryAuditStore
) -> None:
    """An audit target holds 300 characters; an identifier may have 512."""
    long = "https://api.example.com/" + "x" * 400
    await domain.resources.create(
        clients_pb2.CreateResourceRequest(resource=api_resource(long), actor=ADMIN)
    )
    [record] = audit_store.records
    assert record.target == f"resource:{long}"[:300]
    assert record.details == {"identifier": long}
