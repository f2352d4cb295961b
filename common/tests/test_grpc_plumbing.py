"""Errors cross the gRPC boundary as the same OAuthError class; deadlines hold;
an unreachable service is temporarily_unavailable."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import grpc
import pytest
from google.protobuf import empty_pb2
from oauth2.v1 import token_pb2, token_pb2_grpc

from common import errors
from common.grpc_client import ServiceClient, normalize_target, service_config
from common.grpc_server import ErrorInterceptor
from common.grpc_types import Context
from common.services import TokenClient
from oauth2ctl.devrun import free_port


class FlakyToken(token_pb2_grpc.TokenServiceServicer):
    def __init__(self) -> None:
        self.raise_: BaseException | None = None

    async def GetJwks(self, request: empty_pb2.Empty, context: Context) -> token_pb2.Jwks:
        if self.raise_ is not None:
            raise self.raise_
        return token_pb2.Jwks(keys=[token_pb2.JsonWebKey(kid="k")])

    async def Introspect(self, request, context):  # type: ignore[no-untyped-def]
        await asyncio.sleep(2)
        return token_pb2.IntrospectResponse()


@pytest.fixture
async def server() -> AsyncIterator[tuple[FlakyToken, str]]:
    servicer = FlakyToken()
    srv = grpc.aio.server(interceptors=[ErrorInterceptor()])
    token_pb2_grpc.add_TokenServiceServicer_to_server(servicer, srv)
    port = srv.add_insecure_port("127.0.0.1:0")
    await srv.start()
    yield servicer, f"127.0.0.1:{port}"
    await srv.stop(0)


def client(target: str, deadline: float = 2) -> TokenClient:
    return ServiceClient(
        token_pb2_grpc.TokenServiceStub,
        target,
        "oauth2.v1.TokenService",
        deadline=deadline,
        idempotent_methods=["GetJwks"],
    )


@pytest.mark.parametrize(
    "exc",
    [
        errors.InvalidClient("Client authentication failed"),
        errors.InvalidScope("Scope 'x'"),
        errors.NotFound("no such client"),
        errors.TemporarilyUnavailable(),
    ],
)
async def test_oauth_errors_round_trip(
    server: tuple[FlakyToken, str], exc: errors.OAuthError
) -> None:
    servicer, target = server
    servicer.raise_ = exc
    c = client(target)
    with pytest.raises(type(exc)) as caught:
        await c.call.GetJwks(empty_pb2.Empty())
    assert caught.value.description == exc.description
    await c.close()


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (errors.SlowDown("Too many", retry_after=42), errors.SlowDown),
        # Overloaded is RESOURCE_EXHAUSTED on the wire and temporarily_unavailable (503) after.
        (errors.Overloaded(retry_after=1), errors.TemporarilyUnavailable),
        (errors.InvalidScope("no hint"), errors.InvalidScope),
    ],
)
async def test_retry_after_travels_as_retry_info(
    server: tuple[FlakyToken, str], exc: errors.OAuthError, expected: type[errors.OAuthError]
) -> None:
    servicer, target = server
    servicer.raise_ = exc
    c = client(target)
    started = time.monotonic()
    with pytest.raises(expected) as caught:
        await c.call.GetJwks(empty_pb2.Empty())
    assert caught.value.retry_after == exc.retry_after
    assert time.monotonic() - started < 1  # answered, not retried until the deadline
    await c.close()


async def test_unexpected_exception_is_server_error_without_detail(
    server: tuple[FlakyToken, str],
) -> None:
    servicer, target = server
    servicer.raise_ = RuntimeError("secret internal detail")
    c = client(target)
    with pytest.raises(errors.ServerError) as caught:
        await c.call.GetJwks(empty_pb2.Empty())
    assert "secret" not in str(caught.value) and caught.value.description == ""
    await c.close()


async def test_unimplemented_method(server: tuple[FlakyToken, str]) -> None:
    _, target = server
    c = client(target)
    with pytest.raises(errors.Unimplemented):
        await c.call.Revoke(token_pb2.RevokeRequest())
    assert (await c.call.GetJwks(empty_pb2.Empty())).keys[0].kid == "k"
    await c.close()


async def test_deadline_gives_temporarily_unavailable(server: tuple[FlakyToken, str]) -> None:
    _, target = server
    c = client(target, deadline=0.2)
    started = time.monotonic()
    with pytest.raises(errors.TemporarilyUnavailable):
        await c.call.Introspect(token_pb2.IntrospectRequest())
    assert time.monotonic() - started < 1.5
    await c.close()


async def test_nothing_listening_gives_temporarily_unavailable() -> None:
    c = client(f"127.0.0.1:{free_port()}", deadline=1)
    with pytest.raises(errors.TemporarilyUnavailable) as caught:
        await c.call.GetJwks(empty_pb2.Empty())
    assert caught.value.description
    await c.close()


def test_targets() -> None:
    assert normalize_target("127.0.0.1:1") == "dns:///127.0.0.1:1"
    assert normalize_target("127.0.0.1:1, 127.0.0.1:2") == "ipv4:127.0.0.1:1,127.0.0.1:2"
    assert normalize_target("dns:///token:50051") == "dns:///token:50051"
    with pytest.raises(ValueError, match="IPv4"):
        normalize_target("a:1,b:2")
    config = json.loads(service_config("oauth2.v1.TokenService", ["GetJwks"]))
    [policy] = config["loadBalancingConfig"]
    outliers = policy["outlier_detection_experimental"]
    assert outliers["childPolicy"] == [{"round_robin": {}}]
    assert outliers["maxEjectionPercent"] < 34  # one replica of three at most
    assert json.loads(service_config("grpc.health.v1.Health", []))["loadBalancingConfig"] == [
        {"round_robin": {}}
    ]
    assert config["healthCheckConfig"] == {"serviceName": "oauth2.v1.TokenService"}
    assert config["methodConfig"][0]["retryPolicy"]["retryableStatusCodes"] == ["UNAVAILABLE"]


class CountingToken(token_pb2_grpc.TokenServiceServicer):
    def __init__(self) -> None:
        self.calls = 0

    async def GetJwks(self, request, context):  # type: ignore[no-untyped-def]
        self.calls += 1
        return token_pb2.Jwks()


async def test_a_replica_that_turns_not_serving_leaves_the_rotation() -> None:
    """Client-side health checking: what lets a draining replica stop without
    a single call landing on it while it stops (common.grpc_server.serve)."""
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc

    replicas = []
    for _ in range(2):
        servicer, healthy = CountingToken(), health.aio.HealthServicer()
        srv = grpc.aio.server()
        token_pb2_grpc.add_TokenServiceServicer_to_server(servicer, srv)
        health_pb2_grpc.add_HealthServicer_to_server(healthy, srv)
        port = srv.add_insecure_port("127.0.0.1:0")
        await srv.start()
        await healthy.set("oauth2.v1.TokenService", health_pb2.HealthCheckResponse.SERVING)
        replicas.append((servicer, healthy, srv, port))
    c = client(",".join(f"127.0.0.1:{port}" for *_, port in replicas))
    try:
        for _ in range(20):
            await c.call.GetJwks(empty_pb2.Empty())
        assert all(servicer.calls > 0 for servicer, *_ in replicas)  # round_robin

        draining, _, _, _ = replicas[0]
        await replicas[0][1].enter_graceful_shutdown()
        await asyncio.sleep(0.3)
        before = draining.calls
        for _ in range(20):
            await c.call.GetJwks(empty_pb2.Empty())
        assert draining.calls == before
    finally:
        await c.close()
        for *_, srv, _ in replicas:
            await srv.stop(0)


def test_descriptions_and_details_are_bounded() -> None:
    long = errors.InvalidScope(f"Scope '{'s' * 9000}' is not allowed", detail="d" * 9000)
    assert len(long.description) == errors.MAX_DESCRIPTION
    assert long.description.startswith("Scope 'sss") and long.description.endswith("...")
    assert len(long.detail) == errors.MAX_DETAIL
    short = errors.InvalidScope("Scope 'x' is not allowed")
    assert short.description == "Scope 'x' is not allowed"
