"""Wiring of the clients process: engine, KeyValue, stores, registry, gRPC server."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import grpc
from oauth2.v1 import clients_pb2, clients_pb2_grpc
from sqlalchemy.ext.asyncio import AsyncEngine

from common import grpc_server, kek
from common.audit import AuditReporter, AuditSink
from common.client_keys import ClientKeySets
from common.db import create_engine
from common.dependencies import database
from common.endpoints import assertion_audiences
from common.kv import KeyValue, create_kv
from common.replay import ReplayCache
from common.settings import ConfigError
from common.startup import StartupError
from services.clients.domain import (
    ClientRegistration,
    ClientRegistry,
    ClientStore,
    RegistrationPolicy,
    ResourceRegistry,
)
from services.clients.domain.client_assertion import ClientAssertions
from services.clients.domain.client_certificates import ClientCertificates
from services.clients.domain.client_secret import SealedSecrets
from services.clients.servicer import ClientsServicer
from services.clients.settings import ClientsSettings
from services.clients.store.cache import CachedClientStore
from services.clients.store.sql import (
    SqlClientStore,
    SqlInitialAccessTokenStore,
    SqlResourceStore,
)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
#: The development key-encryption key on the embedded default (common.kek).
DEV_KEK_FILE = "clients-kek"
SERVICE_NAME: str = clients_pb2.DESCRIPTOR.services_by_name["ClientsService"].full_name


def client_store(settings: ClientsSettings, engine: AsyncEngine, kv: KeyValue) -> ClientStore:
    return CachedClientStore(SqlClientStore(engine), kv, ttl=settings.client_cache_ttl_seconds)


def resolve_key_encryption_key(settings: ClientsSettings) -> bytes:
    """The 32-byte KEK of client_secret_jwt clients' secrets, or ConfigError naming
    ``key_encryption_key``."""
    return kek.resolve_key_encryption_key(
        settings, development_file=DEV_KEK_FILE, protects="client_secret_jwt clients' secrets"
    )


def build_assertions(
    settings: ClientsSettings,
    kv: KeyValue,
    secrets: SealedSecrets | None = None,
    keys: ClientKeySets | None = None,
) -> ClientAssertions:
    """private_key_jwt and client_secret_jwt (RFC 7523): keys from the client's jwks or
    jwks_uri (``keys``, or a fetcher of its own), or its secret opened by ``secrets``;
    each jti once (in Redis on PostgreSQL + Redis, shared by every replica)."""
    return ClientAssertions(
        keys if keys is not None else ClientKeySets(allow_http=settings.jwks_uri_allow_http),
        ReplayCache(kv, "client-assertion"),
        secrets=secrets,
        audiences=assertion_audiences(settings.issuer),
        leeway_seconds=settings.client_assertion_leeway_seconds,
        max_lifetime_seconds=settings.client_assertion_max_lifetime_seconds,
    )


def build_registry(
    settings: ClientsSettings,
    engine: AsyncEngine,
    kv: KeyValue,
    key_encryption_key: bytes | None = None,
) -> ClientRegistry:
    """``key_encryption_key`` seals and opens the secrets of client_secret_jwt
    clients; without it that method is not available. tls_client_auth and
    self_signed_tls_client_auth (RFC 8705) check the certificate the gateway passes."""
    secrets = SealedSecrets(key_encryption_key) if key_encryption_key is not None else None
    # One fetcher (and cache) of jwks_uri documents for assertions and certificates.
    keys = ClientKeySets(allow_http=settings.jwks_uri_allow_http)
    return ClientRegistry(
        client_store(settings, engine, kv),
        jwks_uri_allow_http=settings.jwks_uri_allow_http,
        backchannel_logout_uri_allow_http=settings.backchannel_logout_uri_allow_http,
        assertions=build_assertions(settings, kv, secrets, keys),
        secrets=secrets,
        certificates=ClientCertificates(keys),
    )


def build_resources(
    settings: ClientsSettings, engine: AsyncEngine, kv: KeyValue
) -> ResourceRegistry:
    """Resource servers (RFC 8707); their introspection clients are looked up in the
    client registry's store (its cache included)."""
    return ResourceRegistry(SqlResourceStore(engine), client_store(settings, engine, kv))


def build_registration(
    settings: ClientsSettings,
    engine: AsyncEngine,
    registry: ClientRegistry,
    audit: AuditSink | None = None,
) -> ClientRegistration:
    """RFC 7591/7592 registration under the configured mode and policy."""
    policy = RegistrationPolicy.of(
        grant_types=settings.registration_allowed_grant_types,
        scopes=settings.registration_allowed_scopes,
        auth_methods=settings.registration_allowed_auth_methods,
    )
    return ClientRegistration(
        registry,
        SqlInitialAccessTokenStore(engine),
        policy,
        mode=settings.effective_registration_mode,
        initial_access_token_ttl=timedelta(seconds=settings.initial_access_token_ttl_seconds),
        audit=audit,
    )


def servicer_adder(servicer: ClientsServicer) -> grpc_server.AddServicers:
    def add(server: grpc.aio.Server) -> None:
        clients_pb2_grpc.add_ClientsServiceServicer_to_server(servicer, server)

    return add


async def serve(settings: ClientsSettings) -> None:
    try:
        key_encryption_key = resolve_key_encryption_key(settings)
    except ConfigError as exc:
        raise StartupError(f"{settings.PROCESS}: {exc}") from None
    engine = create_engine(settings)
    kv = create_kv(settings)
    audit = AuditReporter(settings)
    registry = build_registry(settings, engine, kv, key_encryption_key)
    servicer = ClientsServicer(
        registry,
        build_registration(settings, engine, registry, audit),
        build_resources(settings, engine, kv),
    )

    async def on_stop() -> None:
        await audit.close()
        await kv.close()
        await engine.dispose()

    # Redis is only a cache here: without it the registry reads the database.
    await grpc_server.serve(
        settings,
        servicer_adder(servicer),
        [SERVICE_NAME],
        on_stop=on_stop,
        dependencies=[database(engine)],
    )
