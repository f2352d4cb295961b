"""A token-service replica for common/tests/test_replica_health.py, in a process of
its own so that a test can freeze it (SIGSTOP) or stall it: the server every service
runs (common.grpc_server.build_server), answering GetJwks (idempotent) and Revoke
(not), each call counted in the reply.

``python -m common.tests.replica_server PORT KEEPALIVE [stall]``; with ``stall`` the
replica answers pings but never a call, like a process whose event loop is stuck.
"""

from __future__ import annotations

import asyncio
import sys

from google.protobuf import empty_pb2
from oauth2.v1 import token_pb2, token_pb2_grpc

from common.grpc_server import build_server, start_server
from common.grpc_types import Context
from common.services import TOKEN_SERVICE
from common.settings import ServiceSettings


class Replica(token_pb2_grpc.TokenServiceServicer):
    def __init__(self, port: int, stall: bool) -> None:
        self.port = port
        self.stall = stall
        self.calls = 0

    async def _answer(self) -> str:
        if self.stall:
            await asyncio.sleep(3600)
        self.calls += 1
        return f"{self.port}:{self.calls}"

    async def GetJwks(self, request: empty_pb2.Empty, context: Context) -> token_pb2.Jwks:
        return token_pb2.Jwks(keys=[token_pb2.JsonWebKey(kid=await self._answer())])

    async def Revoke(self, request: token_pb2.RevokeRequest, context: Context) -> empty_pb2.Empty:
        await self._answer()
        return empty_pb2.Empty()


async def main(port: int, keepalive: float, stall: bool) -> None:
    settings = ServiceSettings(grpc_port=port, grpc_keepalive_seconds=keepalive)
    servicer = Replica(port, stall)
    built = build_server(
        settings,
        lambda server: token_pb2_grpc.add_TokenServiceServicer_to_server(servicer, server),
        [TOKEN_SERVICE],
    )
    await start_server(built, [TOKEN_SERVICE])
    print("ready", flush=True)
    await built.server.wait_for_termination()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), float(sys.argv[2]), sys.argv[3:] == ["stall"]))
