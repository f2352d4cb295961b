"""The authorize stub starts, answers gRPC health and UNIMPLEMENTED for its methods."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from oauth2.v1 import authorize_pb2, authorize_pb2_grpc

from common.errors import Unimplemented
from common.grpc_client import ServiceClient
from conftest import free_port
from services.authorize.app import SERVICE_NAME, serve
from services.authorize.settings import AuthorizeSettings


async def test_health_serving_and_methods_unimplemented() -> None:
    port = free_port()
    settings = AuthorizeSettings(grpc_port=port, drain_seconds=0)
    ready = asyncio.Event()
    task = asyncio.create_task(serve(settings, ready=ready))
    await asyncio.wait_for(ready.wait(), 5)
    target = f"127.0.0.1:{port}"
    health = ServiceClient(health_pb2_grpc.HealthStub, target, "grpc.health.v1.Health", deadline=2)
    client = ServiceClient(
        authorize_pb2_grpc.AuthorizeServiceStub, target, SERVICE_NAME, deadline=2
    )
    try:
        for name in ("", SERVICE_NAME):
            answer = await health.call.Check(health_pb2.HealthCheckRequest(service=name))
            assert answer.status == health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(Unimplemented):
            await client.call.GetUser(authorize_pb2.GetUserRequest(user_id="u1"))
    finally:
        await health.close()
        await client.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def test_settings_defaults() -> None:
    settings = AuthorizeSettings()
    assert settings.PROCESS == "authorize"
    assert settings.grpc_port == 50051
    assert settings.db_schema == "authorize"
