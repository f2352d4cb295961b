"""Authorization codes (single use, expiry, bound to a client, stored hashed)
and consent records (merged, listed, revoked)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from common.errors import AccessDenied, InvalidGrant, InvalidRequest, NotFound
from common.secrets import sha256_hex
from services.authorize.domain import AuthorizationCodes, ConsentRegistry, UserDirectory
from services.authorize.domain.model import CodeRequest, NewUser, UserChanges
from services.authorize.tests.fakes import Clock, MemoryCodeStore

CB = "https://app.example.com/cb"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


@pytest.fixture
async def user_id(users: UserDirectory) -> str:
    return (await users.create(NewUser("alice", "correct horse battery staple"))).user_id


def code_request(user_id: str, **changes: object) -> CodeRequest:
    base = CodeRequest(
        client_id="web",
        user_id=user_id,
        redirect_uri=CB,
        redirect_uri_in_request=True,
        scopes=("openid", "profile"),
        code_challenge=CHALLENGE,
        code_challenge_method="S256",
        nonce="n-0S6",
        auth_time=None,
        amr=("pwd",),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


async def test_issue_stores_only_the_hash_and_consume_returns_the_binding(
    codes: AuthorizationCodes, code_store: MemoryCodeStore, user_id: str, clock: Clock
) -> None:
    issued = await codes.issue(code_request(user_id))
    assert len(issued.code) >= 43  # 256 bits, base64url
    assert issued.expires_at == clock.now + timedelta(seconds=60)
    assert list(code_store.codes) == [sha256_hex(issued.code)]
    assert issued.code not in repr(code_store.codes)

    clock.advance(59)
    grant = await codes.consume(issued.code, "web")
    assert grant.code_id == sha256_hex(issued.code)
    assert (grant.user_id, grant.redirect_uri, grant.redirect_uri_in_request) == (user_id, CB, True)
    assert grant.scopes == ("openid", "profile") and grant.amr == ("pwd",)
    assert (grant.code_challenge, grant.code_challenge_method) == (CHALLENGE, "S256")
    assert grant.nonce == "n-0S6" and grant.auth_time == clock.now - timedelta(seconds=59)


async def test_a_code_is_single_use(codes: AuthorizationCodes, user_id: str) -> None:
    issued = await codes.issue(code_request(user_id))
    await codes.consume(issued.code, "web")
    with pytest.raises(InvalidGrant, match="The authorization code was already used"):
        await codes.consume(issued.code, "web")


async def test_an_expired_code_fails(codes: AuthorizationCodes, user_id: str, clock: Clock) -> None:
    issued = await codes.issue(code_request(user_id))
    clock.advance(60)
    with pytest.raises(InvalidGrant, match="The authorization code has expired"):
        await codes.consume(issued.code, "web")


async def test_another_client_burns_the_code(codes: AuthorizationCodes, user_id: str) -> None:
    issued = await codes.issue(code_request(user_id))
    with pytest.raises(InvalidGrant, match="issued to another client"):
        await codes.consume(issued.code, "other")
    with pytest.raises(InvalidGrant, match="already used"):
        await codes.consume(issued.code, "web")


async def test_unknown_code(codes: AuthorizationCodes) -> None:
    with pytest.raises(InvalidGrant, match="Unknown authorization code"):
        await codes.consume("made-up", "web")
    with pytest.raises(InvalidRequest, match="Missing 'code'"):
        await codes.consume("", "web")


async def test_issue_checks(
    codes: AuthorizationCodes, users: UserDirectory, user_id: str, clock: Clock
) -> None:
    with pytest.raises(InvalidRequest, match="Missing 'redirect_uri'"):
        await codes.issue(code_request(user_id, redirect_uri=""))
    with pytest.raises(NotFound):
        await codes.issue(code_request("missing"))
    # Without PKCE (a confidential client that opted out) the method stays empty.
    none = await codes.issue(code_request(user_id, code_challenge="", code_challenge_method=""))
    assert (await codes.consume(none.code, "web")).code_challenge_method == ""
    auth_time = clock.now.replace(hour=1)
    given = await codes.issue(code_request(user_id, auth_time=auth_time))
    assert (await codes.consume(given.code, "web")).auth_time == auth_time
    await users.update(user_id, UserChanges(enabled=False), ["enabled"])
    with pytest.raises(AccessDenied, match="disabled"):
        await codes.issue(code_request(user_id))


async def test_expired_codes_are_purged_a_day_later_at_most_once_a_minute(
    codes: AuthorizationCodes, code_store: MemoryCodeStore, user_id: str, clock: Clock
) -> None:
    old = await codes.issue(code_request(user_id))
    clock.advance(86_400 + 61)
    await codes.issue(code_request(user_id))
    assert sha256_hex(old.code) not in code_store.codes
    assert len(code_store.codes) == 1
    await codes.issue(code_request(user_id))
    assert len(code_store.purged_before) == 2  # the third issue was within the minute


async def test_consent_merges_scopes(consents: ConsentRegistry, user_id: str, clock: Clock) -> None:
    assert await consents.get("web", user_id) is None
    first = await consents.grant("web", user_id, ["openid", "profile"])
    assert first.scopes == ("openid", "profile")
    clock.advance(10)
    merged = await consents.grant("web", user_id, ["email", "openid"])
    assert merged.scopes == ("openid", "profile", "email")
    assert merged.granted_at == first.granted_at and merged.updated_at == clock.now
    stored = await consents.get("web", user_id)
    assert stored is not None and stored.scopes == ("openid", "profile", "email")
    with pytest.raises(NotFound):
        await consents.grant("web", "missing-user", ["openid"])
    with pytest.raises(InvalidRequest, match="Missing 'client_id'"):
        await consents.grant("", user_id, ["openid"])
    with pytest.raises(InvalidRequest, match="Invalid scope token"):
        await consents.grant("web", user_id, ['"bad"'])


async def test_consent_list_and_revoke(
    consents: ConsentRegistry, users: UserDirectory, user_id: str
) -> None:
    bob = (await users.create(NewUser("bob", "correct horse battery staple"))).user_id
    for client_id in ["c1", "c2", "c3"]:
        await consents.grant(client_id, user_id, ["openid"])
    await consents.grant("c1", bob, ["openid"])
    page = await consents.list(user_id=user_id, page_size_requested=2)
    assert [c.client_id for c in page.consents] == ["c1", "c2"] and page.total_size == 3
    page = await consents.list(
        user_id=user_id, page_size_requested=2, page_token=page.next_page_token
    )
    assert [c.client_id for c in page.consents] == ["c3"] and page.next_page_token == ""
    by_client = await consents.list(client_id="c1")
    assert {c.user_id for c in by_client.consents} == {user_id, bob}
    with pytest.raises(InvalidRequest, match="Give 'user_id' or 'client_id'"):
        await consents.list()
    await consents.revoke("c1", user_id)
    assert await consents.get("c1", user_id) is None
    with pytest.raises(NotFound):
        await consents.revoke("c1", user_id)


async def test_consents_revoked_by_client_or_user(
    consents: ConsentRegistry, users: UserDirectory, user_id: str
) -> None:
    bob = (await users.create(NewUser("bob", "correct horse battery staple"))).user_id
    for client_id in ["c1", "c2"]:
        await consents.grant(client_id, user_id, ["openid"])
        await consents.grant(client_id, bob, ["openid"])
    assert await consents.revoke_all(client_id="c1") == 2
    assert await consents.revoke_all(user_id=bob) == 1
    assert await consents.revoke_all(client_id="c1") == 0  # nothing left is no error
    assert [c.client_id for c in (await consents.list(user_id=user_id)).consents] == ["c2"]
    with pytest.raises(InvalidRequest, match="Give 'user_id' or 'client_id'"):
        await consents.revoke_all()
