"""The running system's services talk mutual TLS: a connection without a client
certificate from the system's CA is refused, a process may call only what the
call graph gives it, and the audit trail records who really reported an event."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import grpc
import pytest
from google.protobuf import empty_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from oauth2.v1 import admin_pb2, admin_pb2_grpc, clients_pb2, common_pb2, token_pb2_grpc

from common.services import TOKEN_SERVICE
from tests.e2e.admin_support import AdminApi
from tests.e2e.conftest import RunningSystem

pytestmark = pytest.mark.e2e


def credentials(system: RunningSystem, name: str | None) -> grpc.ChannelCredentials:
    """TLS trusting the system's CA, with ``name``'s certificate (None: no certificate)."""
    certs = Path(system.data_dir) / "certs"
    if name is None:
        return grpc.ssl_channel_credentials(root_certificates=(certs / "ca.crt").read_bytes())
    return grpc.ssl_channel_credentials(
        root_certificates=(certs / "ca.crt").read_bytes(),
        private_key=(certs / f"{name}.key").read_bytes(),
        certificate_chain=(certs / f"{name}.crt").read_bytes(),
    )


def target(system: RunningSystem, name: str) -> str:
    return f"127.0.0.1:{system.system.ports[name]}"


async def _jwks(channel: grpc.aio.Channel) -> grpc.StatusCode:
    try:
        await token_pb2_grpc.TokenServiceStub(channel).GetJwks(empty_pb2.Empty(), timeout=3)
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


def test_the_token_service_refuses_callers_without_a_certificate(system: RunningSystem) -> None:
    async def check() -> None:
        token = target(system, "token")
        async with grpc.aio.insecure_channel(token) as channel:
            assert await _jwks(channel) == grpc.StatusCode.UNAVAILABLE
        async with grpc.aio.secure_channel(token, credentials(system, None)) as channel:
            assert await _jwks(channel) == grpc.StatusCode.UNAVAILABLE
        # clients has a certificate of the CA, but never calls the token service.
        async with grpc.aio.secure_channel(token, credentials(system, "clients")) as channel:
            assert await _jwks(channel) == grpc.StatusCode.PERMISSION_DENIED
            # Health stays open to every certificate of the CA (the gateway's /ready).
            answer = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=TOKEN_SERVICE), timeout=3
            )
            assert answer.status == health_pb2.HealthCheckResponse.SERVING
        # The gateway's certificate is let in: the refusals above were not an outage.
        async with grpc.aio.secure_channel(token, credentials(system, "gateway")) as channel:
            assert await _jwks(channel) == grpc.StatusCode.OK

    asyncio.run(check())


def test_a_forged_audit_source_is_recorded_with_the_real_caller(system: RunningSystem) -> None:
    action = f"test.forged.{uuid.uuid4().hex[:8]}"
    forged_actor = f"client:forged-{uuid.uuid4().hex[:8]}"

    async def report() -> None:
        # The token service's certificate, claiming to be the admin service's root.
        async with grpc.aio.secure_channel(
            target(system, "admin"), credentials(system, "token")
        ) as channel:
            stub = admin_pb2_grpc.AdminServiceStub(channel)
            await stub.RecordEvent(
                admin_pb2.AuditEvent(
                    event_id=str(uuid.uuid4()),
                    action=action,
                    actor=common_pb2.Actor(id="admin:root"),
                    source="oauth2-admin",
                    outcome="success",
                ),
                timeout=5,
            )
            # ... and it cannot read the trail it writes to.
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.ListEvents(admin_pb2.ListEventsRequest(), timeout=5)
            assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
            # Nor act as an operator: an admin RPC with a forged principal is refused
            # before anything runs, so that actor never reaches the trail.
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.CreateClient(
                    clients_pb2.CreateClientRequest(
                        metadata=clients_pb2.ClientMetadata(
                            client_name=f"forged-{action}", grant_types=["client_credentials"]
                        ),
                        actor=common_pb2.Actor(id=forged_actor),
                    ),
                    timeout=5,
                )
            assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED

    asyncio.run(report())
    with AdminApi(system) as api:
        events = api.ok("GET", "/audit", params={"action": action})["items"]
        assert len(events) == 1
        event = events[0]
        assert event["source"] == "oauth2-token"
        assert event["details"]["claimed_source"] == "oauth2-admin"
        assert event["actor"] == "admin:root"  # as reported, vouched for by oauth2-token only
        assert api.ok("GET", "/audit", params={"actor": forged_actor})["items"] == []
        clients = api.ok("GET", "/clients", params={"search": f"forged-{action}"})["items"]
        assert clients == []

        # The admin service's own events name the process that asked for them.
        created = api.ok(
            "POST",
            "/clients",
            201,
            json={"client_name": f"mtls-{action}", "grant_types": ["client_credentials"]},
        )
        own = api.ok("GET", "/audit", params={"target": f"client:{created['client_id']}"})
        assert own["items"], own
        assert all(item["details"].get("caller") == "gateway" for item in own["items"]), own
        assert all(item["source"] == "oauth2-admin" for item in own["items"])
