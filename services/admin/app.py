"""The admin service's gRPC server.

Every AdminService method answers UNIMPLEMENTED for now (see
:mod:`services.authorize.app` for how). Later issues add the admin API, which
composes the other services, and the audit trail.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
from oauth2.v1 import admin_pb2_grpc

from common.grpc_server import serve as serve_grpc
from services.admin.settings import AdminSettings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
SERVICE_NAME = "oauth2.v1.AdminService"


def add_servicers(server: grpc.aio.Server) -> None:
    admin_pb2_grpc.add_AdminServiceServicer_to_server(admin_pb2_grpc.AdminServiceServicer(), server)


async def serve(settings: AdminSettings, *, ready: asyncio.Event | None = None) -> None:
    await serve_grpc(settings, add_servicers, [SERVICE_NAME], ready=ready)
