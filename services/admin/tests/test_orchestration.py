"""The admin domain on fakes of the services it composes: the order of each
orchestration (docs/operators.md, "Who orchestrates") and the audit row every
mutating call leaves, on success and on failure."""

from __future__ import annotations

import asyncio

import pytest
from oauth2.v1 import authorize_pb2, clients_pb2, common_pb2, token_pb2
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from common.errors import InvalidRequest, InvalidToken, NotFound, TemporarilyUnavailable
from services.admin.domain import AdminDomain
from services.admin.tests.fakes import (
    FakeClientRegistry,
    FakeTokenAuthority,
    FakeUserDirectory,
    Family,
    Journal,
    MemoryAuditStore,
)

ADMIN = common_pb2.Actor(id="client:ops", remote_addr="203.0.113.9")
TRACE_ID = 0x0AF7651916CD43DD8448EB211C80319C


def seed(clients: FakeClientRegistry, users: FakeUserDirectory, tokens: FakeTokenAuthority) -> None:
    clients.clients["web"] = clients_pb2.Client(client_id="web", client_name="Web")
    clients.clients["other"] = clients_pb2.Client(client_id="other", client_name="Other")
    users.add_user("alice")
    users.add_user("bob")
    users.consents[("web", "u-alice")] = ["openid"]
    users.consents[("web", "u-bob")] = ["openid"]
    users.consents[("other", "u-alice")] = ["openid"]
    tokens.families += [
        Family("f1", "web", "u-alice"),
        Family("f2", "web", "u-bob"),
        Family("f3", "other", "u-alice"),
    ]


async def test_delete_client_deletes_then_revokes_grants_then_consents(
    domain: AdminDomain,
    clients: FakeClientRegistry,
    users: FakeUserDirectory,
    tokens: FakeTokenAuthority,
    journal: Journal,
    audit_store: MemoryAuditStore,
) -> None:
    seed(clients, users, tokens)
    await domain.clients.delete(clients_pb2.DeleteClientRequest(client_id="web", actor=ADMIN))
    assert journal == [
        "DeleteClient web",
        "RevokeGrants web",
        "RevokeConsents - web",
    ]
    assert tokens.revocations[0].client_id == "web" and tokens.revocations[0].actor == ADMIN
    assert "web" not in clients.clients
    assert list(users.consents) == [("other", "u-alice")]
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
    domain: AdminDomain, tokens: FakeTokenAuthority, journal: Journal, audit_store: MemoryAuditStore
) -> None:
    # A deletion that failed half-way is finished by repeating it.
    tokens.families.append(Family("f9", "gone", "u-x"))
    with pytest.raises(NotFound):
        await domain.clients.delete(clients_pb2.DeleteClientRequest(client_id="gone", actor=ADMIN))
    assert journal == ["DeleteClient gone", "RevokeGrants gone", "RevokeConsents - gone"]
    assert tokens.families[0].revoked
    [record] = audit_store.records
    assert record.outcome == "failure" and record.details["error"] == "not_found"
    assert record.details["families_revoked"] == "1"


async def test_delete_client_failure_downstream_is_audited_with_the_error_code(
    domain: AdminDomain,
    clients: FakeClientRegistry,
    users: FakeUserDirectory,
    tokens: FakeTokenAuthority,
    journal: Journal,
    audit_store: MemoryAuditStore,
) -> None:
    seed(clients, users, tokens)
    tokens.failures["RevokeGrants"] = TemporarilyUnavailable("The token service is unavailable")
    with pytest.raises(TemporarilyUnavailable):
        await domain.clients.delete(clients_pb2.DeleteClientRequest(client_id="web", actor=ADMIN))
    assert journal == ["DeleteClient web", "RevokeGrants web"]
    [record] = audit_store.records
    assert (record.action, record.outcome) == ("client.deleted", "failure")
    assert record.details == {
        "error": "temporarily_unavailable",
        "error_description": "The token service is unavailable",
    }


async def test_deleting_a_registration_runs_the_same_cascade(
    domain: AdminDomain,
    clients: FakeClientRegistry,
    users: FakeUserDirectory,
    tokens: FakeTokenAuthority,
    journal: Journal,
    audit_store: MemoryAuditStore,
) -> None:
    seed(clients, users, tokens)
    itself = common_pb2.Actor(id="client:web", remote_addr="198.51.100.7")
    await domain.clients.delete_registration(
        clients_pb2.RegistrationAccessRequest(
            client_id="web", registration_access_token="rat-web", actor=itself
        )
    )
    assert journal == ["DeleteRegistration web", "RevokeGrants web", "RevokeConsents - web"]
    assert tokens.revocations[0].reason == "registration deleted (RFC 7592)"
    assert tokens.revocations[0].actor == itself
    assert list(users.consents) == [("other", "u-alice")]
    [record] = audit_store.records
    assert (record.action, record.target, record.outcome, record.actor_id) == (
        "client.deleted",
        "client:web",
        "success",
        "client:web",
    )
    assert record.actor_remote_addr == "198.51.100.7"
    assert record.details == {"via": "rfc7592", "families_revoked": "2", "consents_revoked": "2"}


async def test_a_wrong_registration_access_token_revokes_nothing_and_is_not_audited(
    domain: AdminDomain,
    clients: FakeClientRegistry,
    users: FakeUserDirectory,
    tokens: FakeTokenAuthority,
    journal: Journal,
    audit_store: MemoryAuditStore,
) -> None:
    seed(clients, users, tokens)
    with pytest.raises(InvalidToken):
        await domain.clients.delete_registration(
            clients_pb2.RegistrationAccessRequest(client_id="web", registration_access_token="x")
        )
    assert journal == ["DeleteRegistration web"]
    assert "web" in clients.clients and audit_store.records == []


async def test_disabling_a_user_revokes_its_grants_after_the_update(
    domain: AdminDomain,
    clients: FakeClientRegistry,
    users: FakeUserDirectory,
    tokens: FakeTokenAuthority,
    journal: Journal,
    audit_store: MemoryAuditStore,
) -> None:
    seed(clients, users, tokens)
    user = await domain.users.update(
        authorize_pb2.UpdateUserRequest(
            user_id="u-alice",
            user=authorize_pb2.User(enabled=False),
            update_mask=["enabled"],
            actor=ADMIN,
        )
    )
    assert not user.enabled
    assert journal == ["UpdateUser u-alice", "RevokeGrants u-alice"]
    assert tokens.revocations[0].subject == "u-alice"
    assert [f.revoked for f in tokens.families] == [True, False, True]
    assert audit_store.actions() == [("user.disabled", "user:u-alice", "success")]
    assert audit_store.records[0].details == {"fields": "enabled", "families_revoked": "2"}

    journal.clear()
    await domain.users.update(
        authorize_pb2.UpdateUserRequest(
            user_id="u-alice",
            user=authorize_pb2.User(enabled=True),
            update_mask=["enabled"],
            actor=ADMIN,
        )
    )
    await domain.users.update(
        authorize_pb2.UpdateUserRequest(
            user_id="u-alice",
            user=authorize_pb2.User(email="a@example.com"),
            update_mask=["email"],
            actor=ADMIN,
        )
    )
    assert journal == ["UpdateUser u-alice", "UpdateUser u-alice"]  # nothing revoked
    assert [a for a, _, _ in audit_store.actions()] == [
        "user.disabled",
        "user.enabled",
        "user.updated",
    ]


async def test_delete_user_revokes_grants_first(
    domain: AdminDomain,
    clients: FakeClientRegistry,
    users: FakeUserDirectory,
    tokens: FakeTokenAuthority,
    journal: Journal,
    audit_store: MemoryAuditStore,
) -> None:
    seed(clients, users, tokens)
    await domain.users.delete(authorize_pb2.DeleteUserRequest(user_id="u-bob", actor=ADMIN))
    assert journal == ["RevokeGrants u-bob", "DeleteUser u-bob"]
    assert audit_store.actions() == [("user.deleted", "user:u-bob", "success")]

    journal.clear()
    tokens.failures["RevokeGrants"] = TemporarilyUnavailable()
    with pytest.raises(TemporarilyUnavailable):
        await domain.users.delete(authorize_pb2.DeleteUserRequest(user_id="u-alice", actor=ADMIN))
    assert journal == ["RevokeGrants u-alice"]  # the account stays, to retry
    assert "u-alice" in users.users
    assert audit_store.actions()[-1] == ("user.deleted", "user:u-alice", "failure")


async def test_user_calls_are_audited(
    domain: AdminDomain, users: FakeUserDirectory, audit_store: MemoryAuditStore
) -> None:
    user = await domain.users.create(authorize_pb2.CreateUserRequest(username="carol", actor=ADMIN))
    await domain.users.set_password(
        authorize_pb2.SetPasswordRequest(user_id=user.user_id, password="x" * 12, actor=ADMIN)
    )
    with pytest.raises(InvalidRequest):
        await domain.users.create(authorize_pb2.CreateUserRequest(username="", actor=ADMIN))
    with pytest.raises(NotFound):
        await domain.users.set_password(authorize_pb2.SetPasswordRequest(user_id="nobody"))
    assert audit_store.actions() == [
        ("user.created", "user:u-carol", "success"),
        ("user.password_set", "user:u-carol", "success"),
        ("user.created", "", "failure"),
        ("user.password_set", "user:nobody", "failure"),
    ]
    # No secret in any audit row; a call without an actor is recorded as such.
    assert all("x" * 12 not in str(r) for r in audit_store.records)
    assert audit_store.records[-1].actor_id == "unknown"
    # Reads are not audited.
    await domain.users.get(authorize_pb2.GetUserRequest(user_id=user.user_id))
    await domain.users.list(authorize_pb2.ListUsersRequest())
    assert len(audit_store.records) == 4


async def test_client_calls_are_audited_without_secrets(
    domain: AdminDomain, clients: FakeClientRegistry, audit_store: MemoryAuditStore
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
    assert audit_store.records[3].details == {
        "max_uses": "2",
        "expires_at": "2030-01-01T00:00:00Z",
    }
    secrets = [created.client_secret, rotated.client_secret, iat.initial_access_token]
    assert not any(s in str(r) for r in audit_store.records for s in secrets)


async def test_audit_rows_carry_the_trace_id_of_the_call(
    domain: AdminDomain, audit_store: MemoryAuditStore
) -> None:
    context = SpanContext(
        trace_id=TRACE_ID, span_id=0x1234, is_remote=False, trace_flags=TraceFlags(1)
    )
    with trace.use_span(NonRecordingSpan(context)):
        await domain.keys.rotate(token_pb2.RotateSigningKeyRequest(alg="RS256", actor=ADMIN))
    await domain.keys.rotate(token_pb2.RotateSigningKeyRequest(actor=ADMIN))
    assert audit_store.records[0].trace_id == f"{TRACE_ID:032x}"
    assert audit_store.records[1].trace_id == ""


async def test_list_grants_combines_consents_and_a_page_of_families(
    domain: AdminDomain,
    clients: FakeClientRegistry,
    users: FakeUserDirectory,
    tokens: FakeTokenAuthority,
) -> None:
    seed(clients, users, tokens)
    listing = await domain.grants.list(
        token_pb2.ListGrantsRequest(subject="u-alice", page=common_pb2.PageRequest(page_size=1))
    )
    assert [(c.client_id, c.user_id) for c in listing.consents] == [
        ("other", "u-alice"),
        ("web", "u-alice"),
    ]
    assert [f.family_id for f in listing.families] == ["f1"]
    assert listing.next_page_token and listing.total_size == 2
    nxt = await domain.grants.list(
        token_pb2.ListGrantsRequest(
            subject="u-alice",
            page=common_pb2.PageRequest(page_size=1, page_token=listing.next_page_token),
        )
    )
    assert [f.family_id for f in nxt.families] == ["f3"] and nxt.next_page_token == ""
    with pytest.raises(InvalidRequest, match="Give 'user_id' or 'client_id'"):
        await domain.grants.list(token_pb2.ListGrantsRequest())


async def test_revoke_grants_by_selector(
    domain: AdminDomain,
    clients: FakeClientRegistry,
    users: FakeUserDirectory,
    tokens: FakeTokenAuthority,
    journal: Journal,
    audit_store: MemoryAuditStore,
) -> None:
    seed(clients, users, tokens)
    assert (
        await domain.grants.revoke(token_pb2.RevokeGrantsRequest(family_id="f2", actor=ADMIN)) == 1
    )
    assert journal == ["RevokeGrants f2"]  # one family: consents stay
    assert tokens.revocations[-1].reason == "revoked by an administrator"
    journal.clear()
    revoked = await domain.grants.revoke(
        token_pb2.RevokeGrantsRequest(subject="u-alice", actor=ADMIN)
    )
    assert revoked == 2
    assert journal == [
        "RevokeGrants u-alice",
        "RevokeConsents u-alice -",
    ]
    assert audit_store.actions() == [
        ("grant.revoked", "grant:f2", "success"),
        ("grant.revoked", "user:u-alice", "success"),
    ]
    assert audit_store.records[1].details == {"families_revoked": "2", "consents_revoked": "2"}
    for bad in (
        token_pb2.RevokeGrantsRequest(),
        token_pb2.RevokeGrantsRequest(subject="u-bob", client_id="web"),
    ):
        with pytest.raises(
            InvalidRequest, match="Give exactly one of 'family_id', 'user_id' or 'client_id'"
        ):
            await domain.grants.revoke(bad)
    assert await domain.grants.revoke(token_pb2.RevokeGrantsRequest(client_id="web")) == 0
    assert list(users.consents) == []  # bob's consent for web went too
    assert audit_store.records[-1].details == {"families_revoked": "0", "consents_revoked": "1"}
    with pytest.raises(NotFound):
        await domain.grants.revoke(token_pb2.RevokeGrantsRequest(family_id="nope"))
    assert audit_store.actions()[-2:] == [
        ("grant.revoked", "client:web", "success"),
        ("grant.revoked", "grant:nope", "failure"),
    ]


async def test_keys(
    domain: AdminDomain, tokens: FakeTokenAuthority, audit_store: MemoryAuditStore
) -> None:
    rotated = await domain.keys.rotate(token_pb2.RotateSigningKeyRequest(alg="RS256", actor=ADMIN))
    assert rotated.kid == "k2"
    assert [k.status for k in await domain.keys.list()] == ["previous", "active"]
    retired = await domain.keys.retire(token_pb2.RetireSigningKeyRequest(kid="k1", actor=ADMIN))
    assert retired.status == "retired"
    with pytest.raises(InvalidRequest):
        await domain.keys.retire(token_pb2.RetireSigningKeyRequest(kid="k2", actor=ADMIN))
    assert audit_store.actions() == [
        ("key.rotated", "key:k2", "success"),
        ("key.retired", "key:k1", "success"),
        ("key.retired", "key:k2", "failure"),
    ]
    assert audit_store.records[0].details == {"alg": "RS256"}


async def test_stats_come_from_the_owners(
    domain: AdminDomain,
    clients: FakeClientRegistry,
    users: FakeUserDirectory,
    tokens: FakeTokenAuthority,
    journal: Journal,
) -> None:
    seed(clients, users, tokens)
    stats = await domain.stats.read()
    assert (stats.clients, stats.users, stats.active_grants) == (2, 2, 4)
    assert stats.tokens_issued_by_grant_type == {"client_credentials": 3, "authorization_code": 2}
    assert stats.since is not None and stats.since.year == 2025
    assert journal == ["ListClients", "ListUsers", "GetTokenStats"]


async def test_a_failing_audit_store_does_not_fail_the_call(
    domain: AdminDomain, audit_store: MemoryAuditStore, caplog: pytest.LogCaptureFixture
) -> None:
    audit_store.failure = TemporarilyUnavailable("The audit log is unavailable")
    key = await domain.keys.rotate(token_pb2.RotateSigningKeyRequest(actor=ADMIN))
    assert key.kid == "k2"
    assert "audit event not recorded" in caplog.text and "key.rotated" in caplog.text


async def test_an_unexpected_error_or_a_cancellation_is_audited_as_failure(
    domain: AdminDomain, tokens: FakeTokenAuthority, audit_store: MemoryAuditStore
) -> None:
    tokens.failures["RotateSigningKey"] = RuntimeError("boom")
    with pytest.raises(RuntimeError):
        await domain.keys.rotate(token_pb2.RotateSigningKeyRequest(actor=ADMIN))
    tokens.failures["RotateSigningKey"] = asyncio.CancelledError()
    with pytest.raises(asyncio.CancelledError):
        await domain.keys.rotate(token_pb2.RotateSigningKeyRequest(actor=ADMIN))
    assert [(r.outcome, r.details) for r in audit_store.records] == [
        ("failure", {"error": "server_error"}),
        ("failure", {"error": "cancelled"}),
    ]
    assert "boom" not in str(audit_store.records)
