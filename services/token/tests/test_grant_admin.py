"""Grants for operators (docs/operators.md): ListGrants paging, RevokeGrants by family,
subject and client with their not-before entries, and the audit reports of the grants."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from common.errors import InvalidGrant, InvalidRequest, InvalidToken, NotFound
from common.secrets import sha256_hex
from common.timeutil import utcnow
from services.token.domain.grants.base import TokenRequest, TokenResponse
from services.token.domain.ports import ClientCredentials, GrantFamily
from services.token.tests.conftest import Wired
from services.token.tests.people import (
    exchange_code,
    introspect,
    issue_code,
    refresh,
    register_web,
)

VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"


def family(family_id: str, created_at: datetime, **changes: object) -> GrantFamily:
    base = GrantFamily(
        family_id=family_id,
        client_id="web",
        subject="user-1",
        scope=("openid", "offline_access"),
        created_at=created_at,
        expires_at=created_at + timedelta(days=30),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


async def sign_in(
    wired: Wired, client_id: str = "web", user_id: str = "user-1"
) -> tuple[ClientCredentials, str, TokenResponse]:
    # A second sign-in of the same client reuses its registration.
    creds = wired.clients.registered.get(client_id) or await register_web(wired, client_id)
    code = await issue_code(
        wired, client_id, verifier=VERIFIER, scopes=("openid", "offline_access"), user_id=user_id
    )
    return creds, code, await exchange_code(wired, creds, code, VERIFIER)


async def client_credentials_token(wired: Wired, client_id: str = "svc") -> str:
    creds = await wired.clients.register_once(client_id)
    request = TokenRequest(grant_type="client_credentials", credentials=creds)
    return (await wired.domain.token_endpoint.exchange(request)).access_token


async def active(wired: Wired, token: str) -> bool:
    """Active at introspection, and accepted by VerifyAccessToken: the two must agree."""
    introspected = (await introspect(wired, token)).active
    try:
        await wired.domain.introspection.verify_bearer(token)
        verified = True
    except InvalidToken:
        verified = False
    assert introspected == verified
    return introspected


async def after_second_of(moment: datetime) -> None:
    """`iat` has whole seconds: a token is "issued after" a not-before only in a later one."""
    await asyncio.sleep(max(0.0, int(moment.timestamp()) + 1.02 - time.time()))


async def test_list_grants_pages_newest_first(wired: Wired) -> None:
    now = utcnow()
    for n in range(5):
        await wired.grants.create_family(family(f"fam-{n}", now - timedelta(minutes=10 - n)))
    # Same created_at as fam-3, across a page boundary: family_id breaks the tie.
    await wired.grants.create_family(family("fam-3b", now - timedelta(minutes=7)))
    # Neither revoked, expired, nor another user's are listed.
    await wired.grants.create_family(family("fam-revoked", now, revoked_at=now, revoke_reason="x"))
    await wired.grants.create_family(
        family("fam-expired", now - timedelta(days=40), expires_at=now - timedelta(seconds=1))
    )
    await wired.grants.create_family(family("fam-other", now, subject="user-2"))
    grants = wired.domain.grants

    seen: list[str] = []
    token = ""
    sizes = []
    while True:
        page = await grants.list(subject="user-1", page_size_requested=2, page_token=token)
        assert page.total_size == 6
        seen += [f.family_id for f in page.grants]
        sizes.append(len(page.grants))
        token = page.next_page_token
        if not token:
            break
    assert seen == ["fam-4", "fam-3b", "fam-3", "fam-2", "fam-1", "fam-0"]
    assert sizes == [2, 2, 2]

    by_client = await grants.list(client_id="web")
    assert len(by_client.grants) == 7 and by_client.next_page_token == ""
    both = await grants.list(subject="user-2", client_id="web")
    assert [f.family_id for f in both.grants] == ["fam-other"]
    assert (await grants.list(client_id="nobody")).total_size == 0

    with pytest.raises(InvalidRequest) as no_selector:
        await grants.list()
    assert no_selector.value.description == "Give 'subject' or 'client_id'"
    for bad in ("!!", "bm8tc2VwYXJhdG9y"):  # not base64url; no separator
        with pytest.raises(InvalidRequest) as bad_token:
            await grants.list(subject="user-1", page_token=bad)
        assert bad_token.value.description == "Invalid 'page_token'"


async def test_revoke_grants_needs_exactly_one_selector(wired: Wired) -> None:
    for selectors in ({}, {"subject": "u", "client_id": "c"}, {"family_id": "f", "subject": "u"}):
        with pytest.raises(InvalidRequest) as info:
            await wired.domain.grants.revoke(**selectors)
        assert info.value.description == "Give exactly one of 'family_id', 'subject' or 'client_id'"
    with pytest.raises(NotFound) as unknown:
        await wired.domain.grants.revoke(family_id="missing")
    assert unknown.value.description == "Grant 'missing' not found"


async def test_revoke_one_family(wired: Wired) -> None:
    creds, code, tokens = await sign_in(wired)
    _, _, other = await sign_in(wired)
    assert await wired.domain.grants.revoke(family_id=sha256_hex(code)) == 1
    assert await wired.domain.grants.revoke(family_id=sha256_hex(code)) == 0  # revoked already
    assert not await active(wired, tokens.access_token)
    with pytest.raises(InvalidGrant) as dead:
        await refresh(wired, creds, tokens.refresh_token)
    assert dead.value.description == "The refresh token was revoked"
    assert wired.grants.families[sha256_hex(code)].revoke_reason == "revoked by an operator"
    # The same user's other family lives on.
    assert await active(wired, other.access_token)
    assert (await refresh(wired, creds, other.refresh_token)).access_token


async def test_revoke_by_subject(wired: Wired) -> None:
    creds, _, first = await sign_in(wired)
    _, _, second = await sign_in(wired, "web-2")
    _, _, someone_else = await sign_in(wired, user_id="user-2")
    assert (await wired.domain.grants.list(subject="user-1")).total_size == 2

    revoked = await wired.domain.grants.revoke(subject="user-1", reason="user disabled")
    assert revoked == 2
    for tokens in (first, second):
        assert not await active(wired, tokens.access_token)
        assert not (await introspect(wired, tokens.refresh_token)).active
    with pytest.raises(InvalidGrant) as dead:
        await refresh(wired, creds, first.refresh_token)
    assert dead.value.description == "The refresh token was revoked"
    assert await active(wired, someone_else.access_token)
    assert (await wired.domain.grants.list(subject="user-1")).total_size == 0
    assert {f.revoke_reason for f in wired.grants.families.values() if f.subject == "user-1"} == {
        "user disabled"
    }
    not_before = wired.revocations.not_before_known_locally("subject", "user-1")
    assert not_before is not None and wired.denylist.principals  # type: ignore[attr-defined]

    # Signing in again afterwards works: the not-before kills only what came before.
    await after_second_of(not_before)
    _, _, later = await sign_in(wired)
    assert await active(wired, later.access_token)
    # A second revocation moves the not-before forward.
    assert await wired.domain.grants.revoke(subject="user-1") == 1
    assert not await active(wired, later.access_token)
    moved = wired.revocations.not_before_known_locally("subject", "user-1")
    assert moved is not None and moved > not_before


async def test_revoke_by_client(wired: Wired) -> None:
    _, _, user_tokens = await sign_in(wired, "web")
    svc_token = await client_credentials_token(wired, "svc")
    other_svc = await client_credentials_token(wired, "svc-2")

    # client_credentials holds no family: nothing to count, its tokens die all the same.
    assert await wired.domain.grants.revoke(client_id="svc") == 0
    assert not await active(wired, svc_token)
    assert await active(wired, other_svc)
    assert await active(wired, user_tokens.access_token)

    assert await wired.domain.grants.revoke(client_id="web") == 1
    assert not await active(wired, user_tokens.access_token)
    assert not (await introspect(wired, user_tokens.refresh_token)).active

    not_before = wired.revocations.not_before_known_locally("client", "svc")
    assert not_before is not None
    await after_second_of(not_before)
    assert await active(wired, await client_credentials_token(wired, "svc"))


async def test_not_before_survives_an_empty_key_value(wired: Wired) -> None:
    """A replica whose KeyValue and local set miss falls back to the database row."""
    svc_token = await client_credentials_token(wired, "svc")
    await wired.domain.grants.revoke(client_id="svc")
    await wired.kv.delete("revoked_client:svc")
    wired.revocations._not_before.clear()
    # The KeyValue misses: what the sync loads from the database covers it.
    await wired.revocations.sync()
    assert not await active(wired, svc_token)


async def test_token_stats_count_by_grant_type(wired: Wired) -> None:
    before = await wired.domain.stats.read()
    assert before.issued_by_grant_type == {
        "authorization_code": 0,
        "client_credentials": 0,
        "refresh_token": 0,
        "urn:ietf:params:oauth:grant-type:device_code": 0,
        "urn:ietf:params:oauth:grant-type:token-exchange": 0,
    }
    creds, _, tokens = await sign_in(wired)
    await refresh(wired, creds, tokens.refresh_token)
    await client_credentials_token(wired)
    await client_credentials_token(wired)
    with pytest.raises(InvalidGrant):  # a failed exchange issues nothing
        await refresh(wired, creds, "unknown")
    stats = await wired.domain.stats.read()
    assert stats.issued_by_grant_type == {
        "authorization_code": 1,
        "client_credentials": 2,
        "refresh_token": 1,
        "urn:ietf:params:oauth:grant-type:device_code": 0,
        "urn:ietf:params:oauth:grant-type:token-exchange": 0,
    }
    assert stats.active_grants == 1
    assert stats.since == before.since
    await wired.domain.grants.revoke(subject="user-1")
    assert (await wired.domain.stats.read()).active_grants == 0


async def test_refresh_token_reuse_is_audited(wired: Wired) -> None:
    creds, code, first = await sign_in(wired)
    await refresh(wired, creds, first.refresh_token)
    assert wired.audit.events == []
    with pytest.raises(InvalidGrant):
        await refresh(wired, creds, first.refresh_token)
    assert wired.audit.events == [
        {
            "action": "refresh_token.reuse_detected",
            "target": f"grant:{sha256_hex(code)}",
            "outcome": "denied",
            "actor": "system",
            "details": {"client_id": "web"},
        }
    ]


async def test_code_replay_is_audited_once_and_unknown_codes_not(wired: Wired) -> None:
    creds, code, _ = await sign_in(wired)
    for _ in range(2):
        with pytest.raises(InvalidGrant):
            await exchange_code(wired, creds, code, VERIFIER)
    with pytest.raises(InvalidGrant):
        await exchange_code(wired, creds, "never-issued", VERIFIER)
    assert wired.audit.events == [
        {
            "action": "authorization_code.replayed",
            "target": f"grant:{sha256_hex(code)}",
            "outcome": "denied",
            "actor": "system",
            "details": {},
        }
    ]


async def test_code_replay_racing_the_first_exchange_is_audited(wired: Wired) -> None:
    """The replay revoked the family before its row existed; the first exchange finds out
    and reports it."""
    creds = await register_web(wired)
    code = await issue_code(wired, "web", verifier=VERIFIER, scopes=("openid", "offline_access"))
    await wired.revocations.revoke_family(sha256_hex(code))
    with pytest.raises(InvalidGrant) as info:
        await exchange_code(wired, creds, code, VERIFIER)
    assert info.value.description == "The authorization code was used already"
    assert [e["action"] for e in wired.audit.events] == ["authorization_code.replayed"]
    assert wired.grants.families[sha256_hex(code)].revoked_at is not None
