"""Helpers for the tests of the grants for people: codes, clients, exchanges."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet

from services.authorize.domain.model import CodeRequest
from services.token.domain.dpop import DpopProof
from services.token.domain.grants.base import TokenRequest, TokenResponse
from services.token.domain.introspection import IntrospectionResult
from services.token.domain.ports import ClientCredentials
from services.token.tests.conftest import Wired
from services.token.tests.fakes import REDIRECT_URI as REDIRECT_URI  # the tests import it here

USER = "user-1"
AUTH_TIME = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
PEOPLE_SCOPE = ("openid", "profile", "email", "offline_access", "read")


def s256(verifier: str) -> str:
    """RFC 7636 section 4.2, computed here independently of the code under test."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


async def register_web(wired: Wired, client_id: str = "web", **kwargs: object) -> ClientCredentials:
    options: dict[str, object] = {
        "grant_types": ("authorization_code", "refresh_token"),
        "scope": PEOPLE_SCOPE,
    }
    options.update(kwargs)
    return await wired.clients.register(client_id, **options)  # type: ignore[arg-type]


async def register_spa(wired: Wired, client_id: str = "spa", **kwargs: object) -> ClientCredentials:
    return await register_web(wired, client_id, auth_method="none", **kwargs)


async def issue_code(
    wired: Wired,
    client_id: str,
    *,
    verifier: str | None = None,
    scopes: tuple[str, ...] = ("openid", "profile", "offline_access"),
    method: str = "S256",
    challenge: str | None = None,
    redirect_uri: str = REDIRECT_URI,
    redirect_uri_in_request: bool = True,
    nonce: str = "n-0S6_WzA2Mj",
    user_id: str = USER,
    sid: str = "",
    dpop_jkt: str = "",
) -> str:
    """What the authorize service would have issued; returns the code."""
    if challenge is None:
        challenge = s256(verifier) if verifier else ""
    authorize = wired.authorize
    if user_id not in authorize.user_store.users:
        authorize.add_user(user_id, name="Ada Lovelace", email="ada@example.test")
    return await authorize.issue(
        CodeRequest(
            client_id=client_id,
            user_id=user_id,
            redirect_uri=redirect_uri,
            redirect_uri_in_request=redirect_uri_in_request,
            scopes=scopes,
            code_challenge=challenge,
            code_challenge_method=method if challenge else "",
            nonce=nonce,
            auth_time=AUTH_TIME,
            amr=("pwd",),
            sid=sid,
            dpop_jkt=dpop_jkt,
        )
    )


async def exchange_code(
    wired: Wired,
    creds: ClientCredentials,
    code: str,
    verifier: str = "",
    redirect_uri: str = REDIRECT_URI,
    dpop: DpopProof | None = None,
) -> TokenResponse:
    return await wired.domain.token_endpoint.exchange(
        TokenRequest(
            grant_type="authorization_code",
            credentials=creds,
            code=code,
            code_verifier=verifier,
            redirect_uri=redirect_uri,
            dpop=dpop,
        )
    )


async def refresh(
    wired: Wired,
    creds: ClientCredentials,
    refresh_token: str,
    scope: str = "",
    dpop: DpopProof | None = None,
) -> TokenResponse:
    return await wired.domain.token_endpoint.exchange(
        TokenRequest(
            grant_type="refresh_token",
            credentials=creds,
            refresh_token=refresh_token,
            scope=scope,
            dpop=dpop,
        )
    )


async def introspect(wired: Wired, token: str) -> IntrospectionResult:
    rs = await wired.clients.register_once(
        "resource-server", grant_types=(), scope=(), introspection=True
    )
    return await wired.domain.introspection.introspect(token, "", rs)


def verify(wired: Wired, token: str, alg: str) -> jose_jwt.Token:
    """With joserfc against the published JWKS: an independent JOSE library."""
    key_set = KeySet.import_key_set({"keys": wired.domain.keys.jwks()})  # type: ignore[typeddict-item]
    return jose_jwt.decode(token, key_set, algorithms=[alg])
