"""Introspection (RFC 7662) and revocation (RFC 7009) on the domain."""

from __future__ import annotations

import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from common.errors import InvalidClient, UnauthorizedClient
from services.token.domain.grants.base import TokenRequest
from services.token.domain.introspection import IntrospectionResult
from services.token.domain.ports import ClientCredentials
from services.token.tests.conftest import ISSUER, Wired


async def issue(wired: Wired, client_id: str = "svc", scope: str = "read") -> str:
    creds = await wired.clients.register_once(client_id, scope=("read", "write"))
    response = await wired.domain.token_endpoint.exchange(
        TokenRequest(grant_type="client_credentials", credentials=creds, scope=scope)
    )
    return response.access_token


async def resource_server(wired: Wired) -> ClientCredentials:
    return await wired.clients.register_once("rs", grant_types=(), scope=(), introspection=True)


async def introspect(wired: Wired, token: str, hint: str = "") -> IntrospectionResult:
    return await wired.domain.introspection.introspect(token, hint, await resource_server(wired))


def forge(wired: Wired, **overrides: object) -> str:
    """A token signed with the real ES256 key, claims and header overridden."""
    key = wired.keys.signing_key("ES256")
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "sub": "svc",
        "aud": ISSUER,
        "client_id": "svc",
        "exp": now + 60,
        "iat": now,
        "jti": "forged-jti",
    }
    headers = {"kid": key.kid, "typ": "at+jwt"}
    headers.update(overrides.pop("headers", {}))  # type: ignore[call-overload]
    claims.update(overrides)
    for name in [k for k, v in claims.items() if v is None]:
        del claims[name]
    return jwt.encode(claims, key.private_key, algorithm="ES256", headers=headers)


async def test_active_token_fields(wired: Wired) -> None:
    token = await issue(wired, scope="read write")
    claims = jwt.decode(token, options={"verify_signature": False})
    assert await introspect(wired, token) == IntrospectionResult(
        active=True,
        scope="read write",
        client_id="svc",
        token_type="Bearer",
        exp=claims["exp"],
        iat=claims["iat"],
        sub="svc",
        aud=(ISSUER,),
        iss=ISSUER,
        jti=claims["jti"],
    )


@pytest.mark.parametrize("hint", ["", "access_token", "refresh_token", "nonsense"])
async def test_hint_is_only_a_hint(wired: Wired, hint: str) -> None:
    token = await issue(wired)
    assert (await introspect(wired, token, hint)).active


@pytest.mark.parametrize(
    "token",
    ["", "garbage", "a.b.c", "eyJhbGciOiJub25lIn0.e30.", "\u00e9\u00e9.\x00.x", "x" * 5000],
)
async def test_garbage_is_inactive(wired: Wired, token: str) -> None:
    assert await introspect(wired, token) == IntrospectionResult(active=False)


async def test_expired_is_inactive(wired: Wired) -> None:
    token = forge(wired, exp=int(time.time()) - 1, iat=int(time.time()) - 100)
    assert await introspect(wired, token) == IntrospectionResult(active=False)


async def test_wrong_signature_is_inactive(wired: Wired) -> None:
    key = wired.keys.signing_key("ES256")
    other = ec.generate_private_key(ec.SECP256R1())
    claims = jwt.decode(await issue(wired), options={"verify_signature": False})
    token = jwt.encode(claims, other, algorithm="ES256", headers={"kid": key.kid, "typ": "at+jwt"})
    assert await introspect(wired, token) == IntrospectionResult(active=False)


async def test_tampered_payload_is_inactive(wired: Wired) -> None:
    header, _payload, signature = (await issue(wired)).split(".")
    other_payload = forge(wired, client_id="admin").split(".")[1]
    assert not (await introspect(wired, f"{header}.{other_payload}.{signature}")).active


@pytest.mark.parametrize(
    "overrides",
    [
        {"headers": {"typ": "JWT"}},
        {"headers": {"kid": "unknown-kid"}},
        {"iss": "https://evil.example"},
        {"exp": None},
        {"jti": None},
        {"client_id": None},
    ],
)
async def test_rfc9068_checks(wired: Wired, overrides: dict[str, object]) -> None:
    assert (await introspect(wired, forge(wired))).active
    assert not (await introspect(wired, forge(wired, **overrides))).active


async def test_alg_must_match_the_key(wired: Wired) -> None:
    # An RS256 key's kid on an ES256 signature: the key decides the alg (RFC 8725 3.1).
    rsa_kid = wired.keys.signing_key("RS256").kid
    assert not (await introspect(wired, forge(wired, headers={"kid": rsa_kid}))).active


async def test_public_caller_is_invalid_client(wired: Wired) -> None:
    token = await issue(wired)
    spa = await wired.clients.register(
        "spa", auth_method="none", grant_types=("authorization_code",)
    )
    with pytest.raises(InvalidClient):
        await wired.domain.introspection.introspect(token, "", spa)


async def test_unauthenticated_caller_is_invalid_client(wired: Wired) -> None:
    token = await issue(wired)
    with pytest.raises(InvalidClient):
        await wired.domain.introspection.introspect(token, "", ClientCredentials("rs", "bad"))


async def test_revoke_then_inactive(wired: Wired) -> None:
    token = await issue(wired)
    creds = wired.clients.registered["svc"]
    await wired.domain.revocation.revoke(token, "access_token", creds)
    assert await introspect(wired, token) == IntrospectionResult(active=False)
    # Idempotent (RFC 7009 section 2.2).
    await wired.domain.revocation.revoke(token, "", creds)
    assert len(wired.denylist.entries) == 1  # type: ignore[attr-defined]


async def test_revoking_another_clients_token_is_refused(wired: Wired) -> None:
    token = await issue(wired, "svc")
    other = await wired.clients.register("other")
    with pytest.raises(UnauthorizedClient):
        await wired.domain.revocation.revoke(token, "", other)
    assert (await introspect(wired, token)).active
    assert wired.denylist.entries == {}  # type: ignore[attr-defined]


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c"])
async def test_revoking_garbage_is_a_no_op(wired: Wired, token: str) -> None:
    creds = await wired.clients.register("svc")
    await wired.domain.revocation.revoke(token, "refresh_token", creds)
    assert wired.denylist.entries == {}  # type: ignore[attr-defined]


async def test_revoking_an_expired_token_is_a_no_op(wired: Wired) -> None:
    creds = await wired.clients.register("svc")
    token = forge(wired, exp=int(time.time()) - 1, iat=int(time.time()) - 100)
    await wired.domain.revocation.revoke(token, "", creds)
    assert wired.denylist.entries == {}  # type: ignore[attr-defined]


async def test_revocation_requires_authentication(wired: Wired) -> None:
    token = await issue(wired)
    with pytest.raises(InvalidClient):
        await wired.domain.revocation.revoke(token, "", ClientCredentials("svc", "bad"))
    assert (await introspect(wired, token)).active


async def test_public_client_revokes_its_own_token(wired: Wired) -> None:
    # No client_credentials tokens for public clients; forge one as if another grant issued it.
    spa = await wired.clients.register(
        "spa", auth_method="none", grant_types=("authorization_code",)
    )
    token = forge(wired, client_id="spa", sub="user-1", jti="spa-jti")
    await wired.domain.revocation.revoke(token, "", spa)
    assert not (await introspect(wired, token)).active
