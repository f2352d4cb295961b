"""AdminService through real gRPC, on the app's own wiring (SQLite, the gRPC
adapters of the downstream services), with the real clients, authorize and token
servicers (on in-memory stores) on a real gRPC server behind it: errors arrive as
common.errors classes, whichever side raised them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from oauth2.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    authorize_pb2,
    authorize_pb2_grpc,
    clients_pb2,
    clients_pb2_grpc,
    common_pb2,
    token_pb2,
    token_pb2_grpc,
)

from common.audit import audit_event
from common.errors import Conflict, InvalidRequest, InvalidToken, NotFound, ServerError
from common.grpc_client import ServiceClient
from common.grpc_server import ErrorInterceptor
from common.migrations import upgrade
from common.services import AdminClient
from oauth2ctl.devrun import free_port
from services.admin.app import MIGRATIONS_DIR, SERVICE_NAME, serve
from services.admin.settings import AdminSettings
from services.admin.tests.fakes import Downstream, Journal, start_downstream

Admin = AdminClient
OPS = common_pb2.Actor(id="client:ops", remote_addr="203.0.113.9")


@dataclass
class System:
    admin: Admin
    target: str
    journal: Journal
    downstream: Downstream


@pytest.fixture(scope="module")
async def system(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    downstream = await start_downstream()
    server = grpc.aio.server(interceptors=[ErrorInterceptor()])
    clients_pb2_grpc.add_ClientsServiceServicer_to_server(downstream.clients, server)  # type: ignore[arg-type]
    authorize_pb2_grpc.add_AuthorizeServiceServicer_to_server(downstream.authorize, server)  # type: ignore[arg-type]
    token_pb2_grpc.add_TokenServiceServicer_to_server(downstream.token, server)  # type: ignore[arg-type]
    downstream_port = server.add_insecure_port("127.0.0.1:0")
    await server.start()

    services = f"127.0.0.1:{downstream_port}"
    port = free_port()
    settings = AdminSettings(
        data_dir=tmp_path_factory.mktemp("admin"),
        database_url=None,
        grpc_port=port,
        drain_seconds=0,
        clients_target=services,
        authorize_target=services,
        token_target=services,
    )
    await asyncio.to_thread(upgrade, settings, MIGRATIONS_DIR)
    ready = asyncio.Event()
    task = asyncio.create_task(serve(settings, ready=ready))
    await asyncio.wait_for(ready.wait(), 5)
    target = f"127.0.0.1:{port}"
    admin: Admin = ServiceClient(admin_pb2_grpc.AdminServiceStub, target, SERVICE_NAME, deadline=5)
    yield System(admin, target, downstream.journal, downstream)
    await admin.close()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await server.stop(None)


async def events(system: System, **query: Any) -> list[admin_pb2.AuditEvent]:
    answer = await system.admin.call.ListEvents(admin_pb2.ListEventsRequest(**query))
    return list(answer.events)


async def test_health_serving(system: System) -> None:
    health = ServiceClient(
        health_pb2_grpc.HealthStub, system.target, "grpc.health.v1.Health", deadline=2
    )
    try:
        for name in ("", SERVICE_NAME):
            answer = await health.call.Check(health_pb2.HealthCheckRequest(service=name))
            assert answer.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        await health.close()


async def test_bootstrap_once(system: System) -> None:
    created = await system.admin.call.Bootstrap(admin_pb2.BootstrapRequest())
    assert created.client_secret and created.client.scope == "admin"
    with pytest.raises(Conflict) as caught:
        await system.admin.call.Bootstrap(admin_pb2.BootstrapRequest(client_name="again"))
    assert caught.value.description == "The system is already bootstrapped"
    found = await events(system, action="admin.bootstrapped")
    assert [(e.outcome, e.actor.id) for e in found] == [("failure", "cli"), ("success", "cli")]
    assert found[0].details["error"] == "conflict"
    assert found[1].target == f"client:{created.client.client_id}"
    assert found[1].source == "oauth2-admin" and found[1].time.seconds > 0


async def test_downstream_errors_arrive_as_their_classes(system: System) -> None:
    with pytest.raises(NotFound, match="'nope'"):
        await system.admin.call.GetClient(clients_pb2.GetClientRequest(client_id="nope"))
    active = system.downstream.token_domain.keys.signing_key("ES256").kid
    with pytest.raises(InvalidRequest, match="Rotate the key before retiring it"):
        await system.admin.call.RetireSigningKey(
            token_pb2.RetireSigningKeyRequest(kid=active, actor=OPS)
        )
    # A bug downstream reaches the admin service as server_error, and nothing of it
    # reaches the caller.
    system.downstream.token.failures["RotateSigningKey"] = RuntimeError("a secret stack trace")
    with pytest.raises(ServerError) as caught:
        await system.admin.call.RotateSigningKey(token_pb2.RotateSigningKeyRequest(actor=OPS))
    assert "secret" not in str(caught.value.description)
    [retired] = await events(system, action="key.retired")
    assert (retired.target, retired.outcome, retired.actor.id) == (
        f"key:{active}",
        "failure",
        "client:ops",
    )
    assert retired.actor.remote_addr == "203.0.113.9"
    assert retired.details["error"] == "invalid_request"
    [rotated] = await events(system, action="key.rotated")
    assert rotated.outcome == "failure" and rotated.details["error"] == "server_error"


async def test_delete_client_orchestrates_over_grpc(system: System) -> None:
    downstream = system.downstream
    await downstream.add_client("web")
    alice = await downstream.add_user("alice")
    await downstream.add_consent("web", alice.user_id)
    await downstream.add_family("f1", "web", alice.user_id)
    system.journal.clear()
    await system.admin.call.DeleteClient(
        clients_pb2.DeleteClientRequest(client_id="web", actor=OPS)
    )
    assert system.journal.methods() == ["DeleteClient", "RevokeGrants", "RevokeConsents"]
    assert "web" not in downstream.client_store.clients and "f1" in downstream.revoked_families()
    [deleted] = await events(system, action="client.deleted", actor_id="client:ops")
    assert deleted.target == "client:web" and deleted.outcome == "success"
    assert dict(deleted.details) == {"families_revoked": "1", "consents_revoked": "1"}


async def test_delete_registration_runs_the_cascade_over_grpc(system: System) -> None:
    downstream = system.downstream
    registered = await downstream.register_client()
    client_id = registered.client.client_id
    bob = await downstream.add_user("bob")
    await downstream.add_consent(client_id, bob.user_id)
    system.journal.clear()
    itself = common_pb2.Actor(id=f"client:{client_id}", remote_addr="198.51.100.7")
    with pytest.raises(InvalidToken):
        await system.admin.call.DeleteRegistration(
            clients_pb2.RegistrationAccessRequest(
                client_id=client_id, registration_access_token="x"
            )
        )
    await system.admin.call.DeleteRegistration(
        clients_pb2.RegistrationAccessRequest(
            client_id=client_id,
            registration_access_token=registered.registration_access_token,
            actor=itself,
        )
    )
    assert system.journal.methods() == [
        "DeleteRegistration",
        "DeleteRegistration",
        "RevokeGrants",
        "RevokeConsents",
    ]
    [deleted] = await events(system, action="client.deleted", actor_id=itself.id)
    assert dict(deleted.details) == {
        "via": "rfc7592",
        "families_revoked": "0",
        "consents_revoked": "1",
    }


async def test_disable_user_and_stats(system: System) -> None:
    downstream = system.downstream
    user = await downstream.add_user("dave")
    await downstream.add_family("f-dave", "cli", user.user_id)
    disabled = await system.admin.call.UpdateUser(
        authorize_pb2.UpdateUserRequest(
            user_id=user.user_id,
            user=authorize_pb2.User(enabled=False),
            update_mask=["enabled"],
            actor=OPS,
        )
    )
    assert not disabled.enabled and "f-dave" in downstream.revoked_families()
    assert (await events(system, target=f"user:{user.user_id}"))[0].action == "user.disabled"
    stats = await system.admin.call.GetStats(empty_pb2.Empty())
    assert stats.users == len(downstream.user_store.users)
    assert stats.clients == len(downstream.client_store.clients)
    active = [f for f in downstream.grant_store.families.values() if f.revoked_at is None]
    assert stats.active_grants == len(active)
    assert set(stats.tokens_issued_by_grant_type) == {
        "authorization_code",
        "refresh_token",
        "client_credentials",
        "urn:ietf:params:oauth:grant-type:device_code",
        "urn:ietf:params:oauth:grant-type:token-exchange",
    }
    grants = await system.admin.call.ListGrants(token_pb2.ListGrantsRequest(subject=user.user_id))
    assert list(grants.families) == [] and list(grants.consents) == []


async def test_resources_are_forwarded_and_audited_over_grpc(system: System) -> None:
    """Each Resource RPC reaches ClientsService over gRPC; the writes leave their
    audit rows with the caller's actor; errors arrive as their classes."""
    downstream = system.downstream
    api = "https://api.example.com/over-grpc"
    system.journal.clear()
    created = await system.admin.call.CreateResource(
        clients_pb2.CreateResourceRequest(
            resource=clients_pb2.Resource(identifier=api, name="Over gRPC", scopes=["a", "b"]),
            actor=OPS,
        )
    )
    assert created.identifier == api and list(created.scopes) == ["a", "b"]
    assert (
        await system.admin.call.GetResource(clients_pb2.GetResourceRequest(identifier=api))
        == created
    )
    listed = await system.admin.call.ListResources(
        clients_pb2.ListResourcesRequest(page=common_pb2.PageRequest(page_size=1))
    )
    assert [r.identifier for r in listed.resources] == [api]
    updated = await system.admin.call.UpdateResource(
        clients_pb2.UpdateResourceRequest(
            resource=clients_pb2.Resource(identifier=api, access_token_ttl_seconds=300),
            update_mask=["access_token_ttl_seconds"],
            actor=OPS,
        )
    )
    assert updated.access_token_ttl_seconds == 300 and updated.name == "Over gRPC"
    with pytest.raises(InvalidRequest, match="access_token_ttl_seconds"):
        await system.admin.call.UpdateResource(
            clients_pb2.UpdateResourceRequest(
                resource=clients_pb2.Resource(identifier=api, access_token_ttl_seconds=5),
                update_mask=["access_token_ttl_seconds"],
                actor=OPS,
            )
        )
    with pytest.raises(Conflict):
        await system.admin.call.CreateResource(
            clients_pb2.CreateResourceRequest(
                resource=clients_pb2.Resource(identifier=api, scopes=["a"]), actor=OPS
            )
        )
    await system.admin.call.DeleteResource(
        clients_pb2.DeleteResourceRequest(identifier=api, actor=OPS)
    )
    assert api not in downstream.resource_store.resources
    with pytest.raises(NotFound, match="not found"):
        await system.admin.call.GetResource(clients_pb2.GetResourceRequest(identifier=api))
    assert system.journal.methods() == [
        "CreateResource",
        "GetResource",
        "ListResources",
        "UpdateResource",
        "UpdateResource",
        "CreateResource",
        "DeleteResource",
        "GetResource",
    ]
    found = await events(system, target=f"resource:{api}")
    assert [(e.action, e.outcome) for e in reversed(found)] == [
        ("resource.created", "success"),
        ("resource.updated", "success"),
        ("resource.updated", "failure"),
        ("resource.created", "failure"),
        ("resource.deleted", "success"),
    ]
    for event in found:
        assert (event.actor.id, event.actor.remote_addr) == ("client:ops", "203.0.113.9")
        assert event.source == "oauth2-admin"


async def test_record_event_and_list_events(system: System) -> None:
    reported = audit_event(
        "login.lockout",
        source="oauth2-authorize",
        target="user:mallory",
        outcome="denied",
        details={"failures": "5"},
    )
    await system.admin.call.RecordEvent(reported)
    await system.admin.call.RecordEvent(reported)  # a retry is recorded once
    [found] = await events(system, action="login.lockout")
    assert found == reported
    with pytest.raises(InvalidRequest, match="'action' must be 1 to 100 characters"):
        await system.admin.call.RecordEvent(admin_pb2.AuditEvent(action="x" * 101))
    with pytest.raises(InvalidRequest, match="'details' must be at most 8192 characters"):
        await system.admin.call.RecordEvent(
            admin_pb2.AuditEvent(action="big", details={"k": "v" * 9000})
        )
    denied = await events(system, outcome="denied")
    assert [e.event_id for e in denied] == [reported.event_id]
    with pytest.raises(InvalidRequest, match="Invalid 'page_token'"):
        await system.admin.call.ListEvents(
            admin_pb2.ListEventsRequest(page=common_pb2.PageRequest(page_token="???"))
        )


async def test_list_events_pages_newest_first(system: System) -> None:
    for index in range(5):
        await system.admin.call.RecordEvent(
            audit_event("paging.test", source="test", target=f"n:{index}")
        )
    seen: list[str] = []
    token = ""
    while True:
        answer = await system.admin.call.ListEvents(
            admin_pb2.ListEventsRequest(
                action="paging.test", page=common_pb2.PageRequest(page_size=2, page_token=token)
            )
        )
        seen += [event.target for event in answer.events]
        token = answer.page.next_page_token
        if not token:
            break
    assert seen == [f"n:{index}" for index in reversed(range(5))]


def test_settings_defaults() -> None:
    settings = AdminSettings()
    assert settings.PROCESS == "admin"
    assert settings.grpc_port == 50054
    assert settings.db_schema == "admin"
    assert settings.audit_details_max_chars == 8192
    assert settings.bootstrap_claim_timeout_seconds == 60
