"""The gateway's gRPC clients, one per downstream service, and their health checks."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from common.grpc_client import ChannelSecurity, ServiceClient
from common.services import (
    AdminClient,
    AuthorizeClient,
    ClientsClient,
    TokenClient,
    admin_client,
    authorize_client,
    clients_client,
    token_client,
)
from common.settings import CommonSettings


@dataclass
class Downstream:
    """One :class:`ServiceClient` per service; ``token.call.Exchange(...)`` and so on."""

    authorize: AuthorizeClient
    token: TokenClient
    clients: ClientsClient
    admin: AdminClient

    @classmethod
    def connect(cls, settings: CommonSettings) -> Downstream:
        deadline = settings.grpc_deadline_seconds
        security = ChannelSecurity.from_settings(settings)
        return cls(
            authorize=authorize_client(settings.authorize_target, deadline, security),
            token=token_client(settings.token_target, deadline, security),
            clients=clients_client(settings.clients_target, deadline, security),
            admin=admin_client(settings.admin_target, deadline, security),
        )

    def by_name(self) -> dict[str, ServiceClient[Any]]:
        return {
            "authorize": self.authorize,
            "token": self.token,
            "clients": self.clients,
            "admin": self.admin,
        }

    async def close(self) -> None:
        await asyncio.gather(*(client.close() for client in self.by_name().values()))

    async def health(self, timeout: float) -> dict[str, str]:
        """Standard gRPC health status of each service by name, checked concurrently.

        A service that does not answer within ``timeout`` shows its gRPC status
        code instead (DEADLINE_EXCEEDED when nothing accepts the connection).
        """
        names = list(self.by_name())
        results = await asyncio.gather(
            *(_check(client, timeout) for client in self.by_name().values())
        )
        return dict(zip(names, results, strict=True))


async def _check(client: ServiceClient[Any], timeout: float) -> str:
    stub = health_pb2_grpc.HealthStub(client.channel)
    try:
        # wait_for_ready: a channel still backing off after an outage would
        # otherwise fail at once and report a service that is already back.
        answer = await stub.Check(
            health_pb2.HealthCheckRequest(service=client.service),
            timeout=timeout,
            wait_for_ready=True,
        )
    except grpc.aio.AioRpcError as exc:
        return str(exc.code().name)
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status))
