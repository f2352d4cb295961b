"""Wiring of the admin process: engine, its own stores, the gRPC clients of the
services it composes (clients, authorize, token), the domain and the server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
from oauth2.v1 import admin_pb2, admin_pb2_grpc
from sqlalchemy.ext.asyncio import AsyncEngine

from common import grpc_server
from common.db import create_engine
from common.dependencies import database
from services.admin.domain import AdminDomain, build_admin_domain
from services.admin.domain.ports import ClientRegistry, TokenAuthority, UserDirectory
from services.admin.downstream import GrpcClientRegistry, GrpcTokenAuthority, GrpcUserDirectory
from services.admin.servicer import AdminServicer
from services.admin.settings import AdminSettings
from services.admin.store.sql import SqlAdminStateStore, SqlAuditStore

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
SERVICE_NAME: str = admin_pb2.DESCRIPTOR.services_by_name["AdminService"].full_name


def build_domain(
    settings: AdminSettings,
    engine: AsyncEngine,
    *,
    clients: ClientRegistry,
    users: UserDirectory,
    tokens: TokenAuthority,
) -> AdminDomain:
    return build_admin_domain(
        clients=clients,
        users=users,
        tokens=tokens,
        audit_store=SqlAuditStore(engine),
        state=SqlAdminStateStore(engine),
        source=settings.service_name,
        max_details_chars=settings.audit_details_max_chars,
        bootstrap_claim_timeout_seconds=settings.bootstrap_claim_timeout_seconds,
    )


def servicer_adder(servicer: AdminServicer) -> grpc_server.AddServicers:
    def add(server: grpc.aio.Server) -> None:
        admin_pb2_grpc.add_AdminServiceServicer_to_server(servicer, server)

    return add


async def serve(settings: AdminSettings, *, ready: asyncio.Event | None = None) -> None:
    engine = create_engine(settings)
    clients = GrpcClientRegistry.from_settings(settings)
    users = GrpcUserDirectory.from_settings(settings)
    tokens = GrpcTokenAuthority.from_settings(settings)
    domain = build_domain(settings, engine, clients=clients, users=users, tokens=tokens)
    servicer = AdminServicer(domain)

    async def on_stop() -> None:
        await clients.close()
        await users.close()
        await tokens.close()
        await engine.dispose()

    await grpc_server.serve(
        settings,
        servicer_adder(servicer),
        [SERVICE_NAME],
        on_stop=on_stop,
        ready=ready,
        dependencies=[database(engine)],
    )
