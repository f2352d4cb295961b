"""The refresh_token grant (RFC 6749 section 6, OAuth 2.1 section 4.3): rotation,
reuse detection, scope, disabled users; refresh tokens at introspection (RFC 7662)
and revocation (RFC 7009)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from dataclasses import replace
from datetime import timedelta

import pytest

from common.errors import InvalidGrant, InvalidRequest, InvalidScope, UnauthorizedClient
from common.secrets import sha256_hex
from common.timeutil import utcnow
from services.token.domain.grants.base import TokenResponse
from services.token.domain.ports import ClientCredentials
from services.token.tests.conftest import ISSUER, Wired
from services.token.tests.people import (
    AUTH_TIME,
    USER,
    exchange_code,
    introspect,
    issue_code,
    refresh,
    register_spa,
    register_web,
    verify,
)

VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"


async def signed_in(
    wired: Wired, client_id: str = "web", public: bool = False
) -> tuple[ClientCredentials, str, TokenResponse]:
    creds = await register_spa(wired, client_id) if public else await register_web(wired, client_id)
    code = await issue_code(
        wired, client_id, verifier=VERIFIER, scopes=("openid", "profile", "offline_access")
    )
    return creds, code, await exchange_code(wired, creds, code, VERIFIER)


async def test_rotation_on_every_use(wired: Wired) -> None:
    creds, code, first = await signed_in(wired)
    second = await refresh(wired, creds, first.refresh_token)

    assert second.refresh_token and second.refresh_token != first.refresh_token
    assert second.scope == "openid profile offline_access"
    access = verify(wired, second.access_token, "ES256").claims
    assert access["sub"] == USER
    assert access["grant_id"] == sha256_hex(code)
    assert access["auth_time"] == int(AUTH_TIME.timestamp())
    id_token = verify(wired, second.id_token, "RS256").claims
    assert "nonce" not in id_token  # no nonce on refresh
    assert id_token["auth_time"] == int(AUTH_TIME.timestamp())
    assert id_token["aud"] == ["web"] and id_token["azp"] == "web"
    digest = hashlib.sha256(second.access_token.encode("ascii")).digest()
    assert id_token["at_hash"] == base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()

    # The used token is marked, the new one stored; only hashes in the rows.
    rows = wired.grants.refresh_tokens
    assert set(rows) == {sha256_hex(first.refresh_token), sha256_hex(second.refresh_token)}
    assert rows[sha256_hex(first.refresh_token)].used_at is not None
    assert rows[sha256_hex(second.refresh_token)].used_at is None
    assert wired.grants.families[sha256_hex(code)].last_used_at is not None
    # Both access tokens stay valid; the old refresh token does not.
    assert (await introspect(wired, first.access_token)).active
    assert not (await introspect(wired, first.refresh_token)).active


async def test_public_client_refreshes_too(wired: Wired) -> None:
    creds, _, first = await signed_in(wired, "spa", public=True)
    assert (await refresh(wired, creds, first.refresh_token)).access_token


async def test_narrower_scope(wired: Wired) -> None:
    creds, _, first = await signed_in(wired)
    narrow = await refresh(wired, creds, first.refresh_token, scope="profile")
    assert narrow.scope == "profile"
    assert narrow.id_token == ""  # no openid, no ID token
    assert verify(wired, narrow.access_token, "ES256").claims["scope"] == "profile"
    # The refresh token keeps the whole grant (RFC 6749 section 6).
    again = await refresh(wired, creds, narrow.refresh_token)
    assert again.scope == "openid profile offline_access"


async def test_wider_scope_is_refused_and_the_token_stays_usable(wired: Wired) -> None:
    creds, _, first = await signed_in(wired)
    with pytest.raises(InvalidScope) as info:
        await refresh(wired, creds, first.refresh_token, scope="openid email")
    assert info.value.description == "Scope 'email' was not granted to this refresh token"
    assert (await refresh(wired, creds, first.refresh_token)).access_token


async def test_replayed_rotated_token_kills_the_family(wired: Wired) -> None:
    creds, code, first = await signed_in(wired)
    second = await refresh(wired, creds, first.refresh_token)

    with pytest.raises(InvalidGrant) as info:
        await refresh(wired, creds, first.refresh_token)
    assert info.value.description == "The refresh token was already used"

    with pytest.raises(InvalidGrant) as newer:
        await refresh(wired, creds, second.refresh_token)
    assert newer.value.description == "The refresh token was revoked"
    for token in (first.access_token, second.access_token, second.refresh_token):
        assert not (await introspect(wired, token)).active
    family = wired.grants.families[sha256_hex(code)]
    assert family.revoke_reason == "refresh token reused"
    assert wired.revocations.family_known_locally(sha256_hex(code))


async def test_concurrent_rotations_one_wins_and_the_family_dies(wired: Wired) -> None:
    creds, _, first = await signed_in(wired)
    results = await asyncio.gather(
        *(refresh(wired, creds, first.refresh_token) for _ in range(2)), return_exceptions=True
    )
    assert sum(isinstance(r, TokenResponse) for r in results) == 1
    assert sum(isinstance(r, InvalidGrant) for r in results) == 1


async def test_disabled_user(wired: Wired) -> None:
    creds, code, first = await signed_in(wired)
    wired.authorize.set_enabled(USER, False)
    with pytest.raises(InvalidGrant) as info:
        await refresh(wired, creds, first.refresh_token)
    assert info.value.description == "The user account is disabled"
    assert not (await introspect(wired, first.access_token)).active
    assert wired.grants.families[sha256_hex(code)].revoke_reason == "user disabled"
    wired.authorize.set_enabled(USER, True)
    with pytest.raises(InvalidGrant):
        await refresh(wired, creds, first.refresh_token)


async def test_other_client_unknown_missing_expired(wired: Wired) -> None:
    creds, _, first = await signed_in(wired)
    other = await register_web(wired, "other")
    with pytest.raises(InvalidGrant) as info:
        await refresh(wired, other, first.refresh_token)
    assert info.value.description == "The refresh token was not issued to this client"

    with pytest.raises(InvalidGrant) as unknown:
        await refresh(wired, creds, "not-a-refresh-token")
    assert unknown.value.description == "Invalid refresh token"

    with pytest.raises(InvalidRequest) as missing:
        await refresh(wired, creds, "")
    assert missing.value.description == "Missing 'refresh_token'"

    token_hash = sha256_hex(first.refresh_token)
    rows = wired.grants.refresh_tokens
    rows[token_hash] = replace(rows[token_hash], expires_at=utcnow() - timedelta(seconds=1))
    with pytest.raises(InvalidGrant) as expired:
        await refresh(wired, creds, first.refresh_token)
    assert expired.value.description == "The refresh token has expired"
    assert not (await introspect(wired, first.refresh_token)).active


async def test_family_max_age_caps_the_refresh_token(wired: Wired) -> None:
    creds, code, first = await signed_in(wired)
    family = wired.grants.families[sha256_hex(code)]
    stored = wired.grants.refresh_tokens[sha256_hex(first.refresh_token)]
    # Defaults: 30-day tokens inside a 90-day family.
    assert stored.expires_at - stored.issued_at == timedelta(days=30)
    assert family.expires_at - family.created_at == timedelta(days=90)
    wired.grants.families[family.family_id] = replace(
        family, expires_at=utcnow() - timedelta(seconds=1)
    )
    with pytest.raises(InvalidGrant) as info:
        await refresh(wired, creds, first.refresh_token)
    assert info.value.description == "The refresh token has expired"


async def test_refresh_token_at_introspection(wired: Wired) -> None:
    _, _, first = await signed_in(wired)
    result = await introspect(wired, first.refresh_token)
    stored = wired.grants.refresh_tokens[sha256_hex(first.refresh_token)]
    assert result.active
    assert result.token_type == "refresh_token"
    assert result.client_id == "web"
    assert result.sub == USER
    assert result.scope == "openid profile offline_access"
    assert result.exp == int(stored.expires_at.timestamp())
    assert result.iat == int(stored.issued_at.timestamp())
    assert result.iss == ISSUER
    assert not (await introspect(wired, "unknown")).active
    assert not (await introspect(wired, "")).active


async def test_revoking_a_refresh_token_revokes_the_family(wired: Wired) -> None:
    creds, code, first = await signed_in(wired)
    other = await register_web(wired, "other")
    with pytest.raises(UnauthorizedClient) as info:
        await wired.domain.revocation.revoke(first.refresh_token, "refresh_token", other)
    assert info.value.description == "The token was not issued to this client"
    assert (await introspect(wired, first.refresh_token)).active

    await wired.domain.revocation.revoke(first.refresh_token, "refresh_token", creds)
    assert not (await introspect(wired, first.refresh_token)).active
    assert not (await introspect(wired, first.access_token)).active
    with pytest.raises(InvalidGrant):
        await refresh(wired, creds, first.refresh_token)
    # Unknown tokens: success, nothing happens (RFC 7009 section 2.2).
    await wired.domain.revocation.revoke("unknown-refresh-token", "", creds)
    assert wired.grants.families[sha256_hex(code)].revoke_reason == "revoked by the client"
