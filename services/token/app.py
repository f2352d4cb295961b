"""Wiring of the token service process: stores, keys, revocation list, domain, gRPC."""

from __future__ import annotations

import contextlib
import logging
import sys

import grpc
from oauth2.v1 import token_pb2_grpc

from common.db import create_engine
from common.errors import OAuthError
from common.grpc_server import serve as serve_grpc
from common.kv import create_kv
from common.settings import ConfigError
from services.token import MIGRATIONS_DIR
from services.token.clients_adapter import GrpcClientAuthenticator, clients_service_client
from services.token.domain.denylist import RevocationList
from services.token.domain.introspection import Introspection
from services.token.domain.jwt_access_token import (
    AccessTokenPolicy,
    JwtAccessTokenIssuer,
    JwtAccessTokenVerifier,
)
from services.token.domain.keys import KeyDecryptionError, KeyManager
from services.token.domain.revocation import Revocation
from services.token.domain.token_endpoint import TokenEndpoint
from services.token.kek import resolve_key_encryption_key
from services.token.servicer import TokenDomain, TokenServicer
from services.token.settings import TokenSettings
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
    authenticator: GrpcClientAuthenticator,
    keys: KeyManager,
    revocations: RevocationList,
) -> TokenDomain:
    policy = AccessTokenPolicy(
        issuer=settings.issuer,
        ttl_seconds=settings.access_token_ttl_seconds,
        default_alg=settings.access_token_signing_alg,
        audience=tuple(settings.access_token_audience),
    )
    verifier = JwtAccessTokenVerifier(keys, settings.issuer)
    return TokenDomain(
        token_endpoint=TokenEndpoint(authenticator, JwtAccessTokenIssuer(keys, policy)),
        introspection=Introspection(authenticator, verifier, revocations),
        revocation=Revocation(authenticator, verifier, revocations),
        keys=keys,
    )


async def serve(settings: TokenSettings) -> None:
    try:
        kek = resolve_key_encryption_key(settings)
    except ConfigError as exc:
        raise _fail_start(str(exc)) from None

    engine = create_engine(settings)
    kv = create_kv(settings)
    clients = clients_service_client(settings.clients_target, settings.grpc_deadline_seconds)
    revocations = RevocationList(
        SqlDenylistStore(engine), kv, max_token_ttl_seconds=settings.access_token_ttl_seconds
    )

    closed = False

    async def close() -> None:
        nonlocal closed
        if closed:
            return
        closed = True
        await revocations.close()
        await clients.close()
        with contextlib.suppress(Exception):
            await kv.close()
        await engine.dispose()

    try:
        keys = KeyManager(SqlSigningKeyStore(engine), kek)
        try:
            await keys.start()
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
        domain = build_domain(settings, GrpcClientAuthenticator(clients), keys, revocations)
        servicer = TokenServicer(domain)

        def add_servicers(server: grpc.aio.Server) -> None:
            token_pb2_grpc.add_TokenServiceServicer_to_server(servicer, server)

        log.info("signing keys loaded: %s", ", ".join(f"{k.alg}:{k.kid}" for k in keys.keys()))
        await serve_grpc(settings, add_servicers, [SERVICE_NAME], on_stop=close)
    finally:
        # serve_grpc closes on a normal stop; this covers failures before it listens.
        await close()
