"""Wiring of the token service process: stores, keys, revocation list, domain, gRPC."""

from __future__ import annotations

import contextlib
import logging
import secrets
import sys

import grpc
from oauth2.v1 import token_pb2_grpc

from common.audit import AuditReporter, AuditSink, NoAudit
from common.db import create_engine
from common.dependencies import database
from common.errors import OAuthError
from common.grpc_client import ChannelSecurity
from common.grpc_server import serve as serve_grpc
from common.kv import KeyValue, MemoryKeyValue, create_kv
from common.replay import ReplayCache
from common.resources import GrpcResourceDirectory, ResourceDirectory
from common.services import authorize_client, clients_client
from common.settings import ConfigError
from services.token import MIGRATIONS_DIR
from services.token.authorize_adapter import (
    GrpcCodeConsumer,
    GrpcUserDirectory,
)
from services.token.client_auth_cache import CachingClientAuthenticator
from services.token.clients_adapter import GrpcClientAuthenticator, GrpcLogoutReceivers
from services.token.domain.backchannel_logout import (
    BackchannelLogout,
    LogoutReceivers,
    LogoutSender,
    LogoutTokenIssuer,
    NoReceivers,
    NoSender,
)
from services.token.domain.denylist import RevocationList
from services.token.domain.dpop import DpopNonces, DpopVerifier
from services.token.domain.grant_admin import GrantAdministration
from services.token.domain.grant_families import GrantFamilies, RefreshTokenPolicy
from services.token.domain.grants import GRANTS
from services.token.domain.grants.base import GrantServices
from services.token.domain.id_token import IdTokenHintDecoder, IdTokenIssuer, IdTokenPolicy
from services.token.domain.introspection import Introspection
from services.token.domain.jwt_access_token import (
    AccessTokenPolicy,
    JwtAccessTokenIssuer,
    JwtAccessTokenVerifier,
)
from services.token.domain.keys import KeyDecryptionError, KeyManager
from services.token.domain.ports import (
    ClientAuthenticator,
    CodeConsumer,
    DeviceCodeConsumer,
    GrantStore,
    UserDirectory,
)
from services.token.domain.revocation import Revocation
from services.token.domain.stats import TokenStats
from services.token.domain.subject_tokens import SubjectTokens
from services.token.domain.token_endpoint import TokenEndpoint
from services.token.domain.unfinished_exchanges import UnfinishedExchanges
from services.token.kek import resolve_key_encryption_key
from services.token.logout_sender import HttpLogoutSender
from services.token.servicer import TokenDomain, TokenServicer
from services.token.settings import TokenSettings
from services.token.store.grants import SqlGrantStore
from services.token.store.sql import SqlDenylistStore, SqlSigningKeyStore

__all__ = ["MIGRATIONS_DIR", "serve"]

log = logging.getLogger(__name__)

SERVICE_NAME = "oauth2.v1.TokenService"


def _fail_start(message: str, code: int = 2) -> SystemExit:
    """One line on stderr and exit code 2, like an invalid setting."""
    print(f"token: {message}", file=sys.stderr)
    return SystemExit(code)


def build_domain(
    settings: TokenSettings,
    *,
    authenticator: ClientAuthenticator,
    codes: CodeConsumer,
    users: UserDirectory,
    grant_store: GrantStore,
    keys: KeyManager,
    revocations: RevocationList,
    kv: KeyValue | None = None,
    audit: AuditSink | None = None,
    devices: DeviceCodeConsumer | None = None,
    resources: ResourceDirectory | None = None,
    logout_receivers: LogoutReceivers | None = None,
    logout_sender: LogoutSender | None = None,
    dpop_nonce_secret: bytes | None = None,
) -> TokenDomain:
    """The token domain on its ports; the tests wire the same function on fakes.
    ``dpop_nonce_secret`` (the KEK in production): what DPoP nonces are derived
    from, the same in every replica; None, a random one of this process."""
    kv = kv if kv is not None else MemoryKeyValue()
    dpop = build_dpop(settings, kv, dpop_nonce_secret)
    policy = AccessTokenPolicy(
        issuer=settings.issuer,
        ttl_seconds=settings.access_token_ttl_seconds,
        default_alg=settings.access_token_signing_alg,
        audience=tuple(settings.access_token_audience),
    )
    families = GrantFamilies(
        grant_store,
        revocations,
        RefreshTokenPolicy(
            ttl_seconds=settings.refresh_token_ttl_seconds,
            family_max_age_seconds=settings.refresh_family_max_age_seconds,
            access_token_ttl_seconds=settings.access_token_ttl_seconds,
        ),
    )
    verifier = JwtAccessTokenVerifier(keys, settings.issuer)
    id_token_hints = IdTokenHintDecoder(keys, settings.issuer)
    services = GrantServices(
        access_tokens=JwtAccessTokenIssuer(keys, policy),
        id_tokens=IdTokenIssuer(
            keys,
            IdTokenPolicy(
                issuer=settings.issuer,
                ttl_seconds=settings.id_token_ttl_seconds,
                alg=settings.id_token_signing_alg,
            ),
        ),
        codes=codes,
        users=users,
        families=families,
        audit=audit or NoAudit(),
        unfinished=UnfinishedExchanges(kv),
        devices=devices,
        resources=resources,
        subject_tokens=SubjectTokens(
            verifier, revocations, families, id_token_hints, settings.issuer, resources
        ),
    )
    stats = TokenStats(kv, grant_store, GRANTS)
    logout = BackchannelLogout(
        LogoutTokenIssuer(keys, settings.issuer, settings.id_token_signing_alg),
        logout_receivers or NoReceivers(),
        logout_sender or NoSender(),
        families,
    )
    return TokenDomain(
        token_endpoint=TokenEndpoint(authenticator, services, stats=stats, dpop=dpop),
        introspection=Introspection(
            authenticator, verifier, revocations, families, settings.issuer, resources, dpop=dpop
        ),
        revocation=Revocation(authenticator, verifier, revocations, families),
        keys=keys,
        id_token_hints=id_token_hints,
        grants=GrantAdministration(grant_store, families, revocations, logout=logout),
        stats=stats,
        logout=logout,
        dpop=dpop,
    )


def build_dpop(settings: TokenSettings, kv: KeyValue, nonce_secret: bytes | None) -> DpopVerifier:
    """RFC 9449's proof checks as configured."""
    return DpopVerifier(
        ReplayCache(kv, "dpop"),
        DpopNonces(nonce_secret if nonce_secret is not None else secrets.token_bytes(32)),
        max_age_seconds=settings.dpop_proof_max_age_seconds,
        clock_skew_seconds=settings.dpop_clock_skew_seconds,
        require_nonce=settings.dpop_nonce_required,
    )


def build_authenticator(
    settings: TokenSettings, inner: ClientAuthenticator, kv: KeyValue
) -> ClientAuthenticator | CachingClientAuthenticator:
    """The clients service, behind this process's cache of authentications when the
    cache can be invalidated strictly: only with Redis, which the clients service
    writes each client's generation to. The embedded default's KeyValue is private
    to each process, so there every authentication goes to the clients service."""
    if settings.redis_url is None or settings.client_auth_cache_seconds <= 0:
        return inner
    return CachingClientAuthenticator(
        inner,
        kv,
        ttl=settings.client_auth_cache_seconds,
        max_entries=settings.client_auth_cache_entries,
    )


def max_token_ttl_seconds(settings: TokenSettings) -> int:
    """The longest lifetime of a token our keys sign: a previous key verifies this long."""
    return max(settings.access_token_ttl_seconds, settings.id_token_ttl_seconds)


async def serve(settings: TokenSettings) -> None:
    try:
        kek = resolve_key_encryption_key(settings)
    except ConfigError as exc:
        raise _fail_start(str(exc)) from None

    engine = create_engine(settings)
    kv = create_kv(settings)
    security = ChannelSecurity.from_settings(settings)
    clients = clients_client(settings.clients_target, settings.grpc_deadline_seconds, security)
    authorize = authorize_client(
        settings.authorize_target, settings.grpc_deadline_seconds, security
    )
    revocations = RevocationList(
        SqlDenylistStore(engine), kv, max_token_ttl_seconds=settings.access_token_ttl_seconds
    )
    audit = AuditReporter(settings)
    keys = KeyManager(
        SqlSigningKeyStore(engine),
        kek,
        kv=kv,
        max_token_ttl_seconds=max_token_ttl_seconds(settings),
        default_alg=settings.access_token_signing_alg,
    )

    authenticator = build_authenticator(settings, GrpcClientAuthenticator(clients), kv)
    logout_sender = HttpLogoutSender(
        timeout_seconds=settings.backchannel_logout_timeout_seconds,
        attempts=settings.backchannel_logout_attempts,
        retry_base_seconds=settings.backchannel_logout_retry_base_seconds,
        audit=audit,
    )
    closed = False
    domain: TokenDomain | None = None

    async def close() -> None:
        nonlocal closed
        if closed:
            return
        closed = True
        if domain is not None:
            await domain.stats.close()
        if isinstance(authenticator, CachingClientAuthenticator):
            await authenticator.close()
        await logout_sender.close()
        await keys.close()
        await revocations.close()
        await audit.close()
        await clients.close()
        await authorize.close()
        with contextlib.suppress(Exception):
            await kv.close()
        await engine.dispose()

    try:
        try:
            await keys.start()
            await keys.watch()
            await revocations.start()
        except KeyDecryptionError as exc:
            raise _fail_start(str(exc)) from None
        except OAuthError as exc:
            # The store's boundary error: unreachable database or missing migrations.
            reason = (exc.detail or exc.description).splitlines()[0]
            raise _fail_start(
                f"cannot start: {reason} (is the database up and migrated? "
                "python -m services.token migrate)",
                1,
            ) from None
        consumer = GrpcCodeConsumer(authorize)
        resource_directory = GrpcResourceDirectory(clients)
        domain = build_domain(
            settings,
            authenticator=authenticator,
            codes=consumer,
            devices=consumer,
            resources=resource_directory,
            users=GrpcUserDirectory(authorize),
            grant_store=SqlGrantStore(engine),
            keys=keys,
            revocations=revocations,
            kv=kv,
            audit=audit,
            logout_receivers=GrpcLogoutReceivers(clients),
            logout_sender=logout_sender,
            dpop_nonce_secret=kek,
        )
        await domain.stats.start()
        if isinstance(authenticator, CachingClientAuthenticator):
            authenticator.start()
        servicer = TokenServicer(domain)

        def add_servicers(server: grpc.aio.Server) -> None:
            token_pb2_grpc.add_TokenServiceServicer_to_server(servicer, server)

        log.info("signing keys loaded: %s", ", ".join(f"{k.alg}:{k.kid}" for k in keys.keys()))
        # Issuance and refresh keep working without Redis (revocation fails closed):
        # only the database takes the service out of rotation.
        await serve_grpc(
            settings,
            add_servicers,
            [SERVICE_NAME],
            on_stop=close,
            dependencies=[database(engine)],
        )
    finally:
        # serve_grpc closes on a normal stop; this covers failures before it listens.
        await close()
