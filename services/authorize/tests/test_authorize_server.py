"""The authorize process starts on its own wiring, answers gRPC health, and
implements every AuthorizeService method (none answers UNIMPLEMENTED)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

from grpc_health.v1 import health_pb2, health_pb2_grpc
from oauth2.v1 import authorize_pb2, authorize_pb2_grpc

from common.errors import OAuthError, Unimplemented
from common.grpc_client import ServiceClient
from common.migrations import upgrade
from oauth2ctl.devrun import free_port
from services.authorize.app import MIGRATIONS_DIR, SERVICE_NAME, serve
from services.authorize.settings import AuthorizeSettings
from services.authorize.tests.conftest import CHEAP_ARGON2


async def test_health_serving_and_every_method_implemented(tmp_data_dir: Path) -> None:
    port = free_port()
    settings = AuthorizeSettings(
        grpc_port=port,
        drain_seconds=0,
        data_dir=tmp_data_dir,
        database_url=None,
        redis_url=None,
        # Nothing listens here: calls that need the clients service fail cleanly.
        clients_target=f"127.0.0.1:{free_port()}",
        grpc_deadline_seconds=1,
        **CHEAP_ARGON2,
    )
    await asyncio.to_thread(upgrade, settings, MIGRATIONS_DIR)
    ready = asyncio.Event()
    task = asyncio.create_task(serve(settings, ready=ready))
    await asyncio.wait_for(ready.wait(), 5)
    target = f"127.0.0.1:{port}"
    health = ServiceClient(health_pb2_grpc.HealthStub, target, "grpc.health.v1.Health", deadline=2)
    client = ServiceClient(
        authorize_pb2_grpc.AuthorizeServiceStub, target, SERVICE_NAME, deadline=5
    )
    try:
        for name in ("", SERVICE_NAME):
            answer = await health.call.Check(health_pb2.HealthCheckRequest(service=name))
            assert answer.status == health_pb2.HealthCheckResponse.SERVING
        service = authorize_pb2.DESCRIPTOR.services_by_name["AuthorizeService"]
        for method in service.methods:
            request = getattr(authorize_pb2, method.input_type.name)()
            try:
                await getattr(client.call, method.name)(request)
            except Unimplemented:
                raise AssertionError(f"{method.name} is not implemented") from None
            except OAuthError as exc:
                assert exc.error != "server_error", (method.name, exc)
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
    assert settings.authorization_code_ttl_seconds == 60
    assert settings.allow_plain_pkce is False
    assert settings.login_max_failures_per_user == 5
    assert (settings.login_failure_window_seconds, settings.login_backoff_seconds) == (900, 30)
    assert (settings.login_max_backoff_seconds, settings.login_permanent_lockout_after) == (900, 0)
    assert settings.argon2_workers == (os.cpu_count() or 1) and settings.argon2_queue is None
    assert (
        settings.argon2_time_cost,
        settings.argon2_memory_cost,
        settings.argon2_parallelism,
    ) == (3, 65_536, 4)
