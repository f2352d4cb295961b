"""The authorize service's gRPC server.

Every AuthorizeService method answers UNIMPLEMENTED for now: the generated base
servicer raises NotImplementedError, which common's ErrorInterceptor turns into
an ``unimplemented`` status. Later issues add users, login,
consent and authorization codes (RFC 6749 section 4.1, RFC 7636).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
from oauth2.v1 import authorize_pb2_grpc

from common.grpc_server import serve as serve_grpc
from services.authorize.settings import AuthorizeSettings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
SERVICE_NAME = "oauth2.v1.AuthorizeService"


def add_servicers(server: grpc.aio.Server) -> None:
    authorize_pb2_grpc.add_AuthorizeServiceServicer_to_server(
        authorize_pb2_grpc.AuthorizeServiceServicer(), server
    )


async def serve(settings: AuthorizeSettings, *, ready: asyncio.Event | None = None) -> None:
    await serve_grpc(settings, add_servicers, [SERVICE_NAME], ready=ready)
