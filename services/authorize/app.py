"""Wiring of the authorize process: engine, KeyValue, stores, the clients
service client, the domain and the gRPC server."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import grpc
from oauth2.v1 import authorize_pb2, authorize_pb2_grpc
from sqlalchemy.ext.asyncio import AsyncEngine

from common import grpc_server
from common.audit import AuditReporter, AuditSink
from common.client_keys import ClientKeySets
from common.db import create_engine
from common.dependencies import database
from common.kv import KeyValue, create_kv
from common.resources import ResourceDirectory
from services.authorize.domain import (
    Argon2PasswordHasher,
    AuthorizationCodes,
    AuthorizationRequestValidator,
    ConsentRegistry,
    LoginPolicy,
    LoginThrottle,
    PasswordLogin,
    SignIn,
    UserDirectory,
)
from services.authorize.domain.device_authorization import DeviceAuthorizations
from services.authorize.domain.ports import ClientAuthenticator, ClientDirectory, PasswordHashing
from services.authorize.domain.pushed_requests import PushedRequests
from services.authorize.domain.request_object import RequestObjects
from services.authorize.metrics import PASSWORD_HASHING_REFUSED, count_device_outcome
from services.authorize.servicer import AuthorizeDomain, AuthorizeServicer
from services.authorize.settings import AuthorizeSettings, argon2_meets_owasp
from services.authorize.store.client_directory import GrpcClientDirectory
from services.authorize.store.sql import (
    SqlAuthorizationCodeStore,
    SqlConsentStore,
    SqlDeviceAuthorizationStore,
    SqlInteractionStore,
    SqlUserStore,
)

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
SERVICE_NAME: str = authorize_pb2.DESCRIPTOR.services_by_name["AuthorizeService"].full_name


def password_hasher(settings: AuthorizeSettings) -> Argon2PasswordHasher:
    return Argon2PasswordHasher(
        time_cost=settings.argon2_time_cost,
        memory_cost=settings.argon2_memory_cost,
        parallelism=settings.argon2_parallelism,
        workers=settings.argon2_workers,
        queue=settings.argon2_queue,
        on_refused=PASSWORD_HASHING_REFUSED.inc,
    )


def build_domain(
    settings: AuthorizeSettings,
    engine: AsyncEngine,
    kv: KeyValue,
    clients: ClientDirectory,
    *,
    hasher: PasswordHashing | None = None,
    events: AuditSink | None = None,
    authenticator: ClientAuthenticator | None = None,
    resources: ResourceDirectory | None = None,
) -> AuthorizeDomain:
    """``authenticator`` (the clients service) enables pushed authorization requests
    and the device authorization grant."""
    hasher = hasher or password_hasher(settings)
    users = SqlUserStore(engine)
    throttle = LoginThrottle(
        kv,
        LoginPolicy(
            max_failures_per_user=settings.login_max_failures_per_user,
            failure_window_seconds=settings.login_failure_window_seconds,
            backoff_seconds=settings.login_backoff_seconds,
            max_backoff_seconds=settings.login_max_backoff_seconds,
            permanent_lockout_after=settings.login_permanent_lockout_after,
        ),
        events=events,
    )
    login = PasswordLogin(users, hasher, throttle)
    consents = ConsentRegistry(SqlConsentStore(engine), users)
    codes = AuthorizationCodes(
        SqlAuthorizationCodeStore(engine),
        users,
        ttl_seconds=settings.authorization_code_ttl_seconds,
    )
    validator = AuthorizationRequestValidator(
        clients, allow_plain_pkce=settings.allow_plain_pkce, resources=resources
    )
    request_objects = RequestObjects(
        clients,
        ClientKeySets(allow_http=settings.jwks_uri_allow_http),
        issuer=settings.issuer,
    )
    pushed = (
        None
        if authenticator is None
        else PushedRequests(
            validator,
            authenticator,
            kv,
            ttl_seconds=settings.pushed_authorization_request_ttl_seconds,
            request_objects=request_objects,
        )
    )
    devices = (
        None
        if authenticator is None
        else DeviceAuthorizations(
            SqlDeviceAuthorizationStore(engine),
            authenticator,
            clients,
            users,
            ttl_seconds=settings.device_code_ttl_seconds,
            interval_seconds=settings.device_code_interval_seconds,
            events=events,
            on_outcome=count_device_outcome,
        )
    )
    sign_in = SignIn(
        validator,
        SqlInteractionStore(engine),
        login,
        consents,
        codes,
        issuer=settings.issuer,
        ttl_seconds=settings.interaction_ttl_seconds,
        max_per_session=settings.max_interactions_per_session,
        users=users,
        pushed=pushed,
        require_pushed_requests=settings.require_pushed_authorization_requests,
        devices=devices,
        request_objects=request_objects,
    )
    return AuthorizeDomain(
        users=UserDirectory(users, hasher, throttle=throttle),
        login=login,
        sign_in=sign_in,
        consents=consents,
        codes=codes,
        pushed=pushed,
        devices=devices,
    )


def servicer_adder(servicer: AuthorizeServicer) -> grpc_server.AddServicers:
    def add(server: grpc.aio.Server) -> None:
        authorize_pb2_grpc.add_AuthorizeServiceServicer_to_server(servicer, server)

    return add


def warn_about_unsafe_settings(settings: AuthorizeSettings) -> None:
    if settings.allow_plain_pkce:
        log.warning(
            "allow_plain_pkce is on: code_challenge_method=plain is accepted, which "
            "protects nothing once the authorization request leaks (RFC 7636 section 7.2)"
        )
    if not argon2_meets_owasp(settings.argon2_memory_cost, settings.argon2_time_cost):
        log.warning(
            "argon2_memory_cost=%d KiB with argon2_time_cost=%d is below OWASP's Argon2id "
            "minimums (19 MiB with 2 passes, or 46/12/9/7 MiB with 1/3/4/5): stolen "
            "password hashes are cheap to crack",
            settings.argon2_memory_cost,
            settings.argon2_time_cost,
        )


async def serve(settings: AuthorizeSettings, *, ready: asyncio.Event | None = None) -> None:
    warn_about_unsafe_settings(settings)
    engine = create_engine(settings)
    kv = create_kv(settings)
    clients = GrpcClientDirectory.from_settings(settings)
    audit = AuditReporter(settings)
    hasher = password_hasher(settings)
    servicer = AuthorizeServicer(
        build_domain(
            settings,
            engine,
            kv,
            clients,
            hasher=hasher,
            events=audit,
            authenticator=clients,
            resources=clients.resources(),
        )
    )

    async def on_stop() -> None:
        hasher.close()
        await clients.close()
        await audit.close()
        await kv.close()
        await engine.dispose()

    await grpc_server.serve(
        settings,
        servicer_adder(servicer),
        [SERVICE_NAME],
        on_stop=on_stop,
        ready=ready,
        # Not Redis: only the login throttle needs it, and it refuses on its own (503).
        # NOT_SERVING would take the whole service out of every caller's pick list, and
        # with it what works without Redis: code exchange, refresh and userinfo (user
        # claims), consent.
        dependencies=[database(engine)],
    )
