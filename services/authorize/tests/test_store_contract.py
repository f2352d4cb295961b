"""The authorize stores, run against SQLite and PostgreSQL; and what the rows
hold: Argon2id password hashes only, code hashes only."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from common.errors import Conflict
from common.secrets import sha256_hex
from services.authorize.domain import AuthorizationCodes, UserDirectory
from services.authorize.domain.authorization_request import (
    AuthorizationRequest,
    ValidatedAuthorizationRequest,
)
from services.authorize.domain.model import AuthorizationCode, CodeRequest, NewUser, User
from services.authorize.domain.sign_in import Interaction
from services.authorize.store.sql import (
    SqlAuthorizationCodeStore,
    SqlConsentStore,
    SqlInteractionStore,
    SqlUserStore,
)
from services.authorize.store.tables import authorization_codes, interactions, users
from services.authorize.tests.fakes import Clock, CountingHasher, make_client_info

T0 = datetime(2025, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)
PASSWORD = "correct horse battery staple"
JKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"  # RFC 9449 section 10


def make_user(user_id: str, username: str, **changes: object) -> User:
    user = User(
        user_id=user_id,
        username=username,
        email=f"{username.lower()}@example.com",
        email_verified=False,
        enabled=True,
        given_name="Given",
        family_name="Family",
        name="Given Family",
        created_at=T0,
        updated_at=T0,
        password_hash="$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA",
    )
    return dataclasses.replace(user, **changes)  # type: ignore[arg-type]


def make_code(code_id: str, **changes: object) -> AuthorizationCode:
    code = AuthorizationCode(
        code_id=code_id,
        client_id="web",
        user_id="u1",
        redirect_uri="https://app.example.com/cb",
        redirect_uri_in_request=True,
        scopes=("openid", "profile"),
        code_challenge="E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        code_challenge_method="S256",
        nonce="n-0S6",
        auth_time=T0 - timedelta(minutes=1),
        amr=("pwd",),
        created_at=T0,
        expires_at=T0 + timedelta(seconds=60),
    )
    return dataclasses.replace(code, **changes)  # type: ignore[arg-type]


@pytest.fixture
def user_store(engine: AsyncEngine) -> SqlUserStore:
    return SqlUserStore(engine)


async def test_users_round_trip_and_lookups(user_store: SqlUserStore) -> None:
    alice = make_user("u1", "Alice", name="Ünïcode ✓")
    await user_store.create(alice)
    assert await user_store.get("u1") == alice
    assert await user_store.get_by_username("aLiCe") == alice
    bare = make_user("u2", "bob", email="", password_hash=None, given_name="", name="")
    await user_store.create(bare)
    loaded = await user_store.get("u2")
    assert loaded == bare and loaded is not None and loaded.created_at.tzinfo is not None
    assert await user_store.get("missing") is None
    assert await user_store.get_by_username("nobody") is None


async def test_users_unique_case_insensitively(user_store: SqlUserStore) -> None:
    await user_store.create(make_user("u1", "alice"))
    with pytest.raises(Conflict, match="Username 'ALICE' is already taken"):
        await user_store.create(make_user("u2", "ALICE", email="other@example.com"))
    with pytest.raises(Conflict, match=r"Email 'ALICE@example\.com' is already in use"):
        await user_store.create(make_user("u3", "alice2", email="ALICE@example.com"))
    # Many users without an email.
    await user_store.create(make_user("u4", "carol", email=""))
    await user_store.create(make_user("u5", "dave", email=""))


async def test_users_list_pages_and_searches(user_store: SqlUserStore) -> None:
    for index, name in enumerate(["dave", "Alice", "carol", "bob", "under_score"]):
        await user_store.create(make_user(f"u{index}", name, email=f"{name}@corp.example"))
    page, total = await user_store.list(after=None, limit=2, search="")
    assert [u.username for u in page] == ["Alice", "bob"] and total == 5
    page, _ = await user_store.list(after="bob", limit=10, search="")
    assert [u.username for u in page] == ["carol", "dave", "under_score"]
    page, total = await user_store.list(after=None, limit=10, search="ALI")
    assert [u.username for u in page] == ["Alice"] and total == 1
    page, total = await user_store.list(after=None, limit=10, search="CORP.example")
    assert total == 5
    page, _ = await user_store.list(after=None, limit=10, search="_")
    assert [u.username for u in page] == ["under_score"]
    page, _ = await user_store.list(after=None, limit=10, search="%")
    assert page == []


async def test_users_update_password_delete(user_store: SqlUserStore) -> None:
    await user_store.create(make_user("u1", "alice"))
    await user_store.create(make_user("u2", "bob"))
    later = T0 + timedelta(minutes=5)
    updated = await user_store.update(
        "u1", {"email": "New@Example.com", "enabled": False, "given_name": "A"}, later
    )
    assert updated is not None and updated.email == "New@Example.com" and not updated.enabled
    assert updated.updated_at == later and updated.given_name == "A"
    with pytest.raises(Conflict, match="already in use"):
        await user_store.update("u2", {"email": "new@example.com"}, later)
    cleared = await user_store.update("u1", {"email": ""}, later)
    assert cleared is not None and cleared.email == ""
    assert await user_store.update("missing", {"enabled": True}, later) is None
    assert await user_store.set_password_hash("u1", "$argon2id$new", later)
    reloaded = await user_store.get("u1")
    assert reloaded is not None and reloaded.password_hash == "$argon2id$new"
    assert reloaded.password_changed_at is None  # a rehash of the same password
    changed_at = later + timedelta(seconds=1, microseconds=250)
    assert await user_store.set_password_hash("u1", "$argon2id$newer", changed_at, changed=True)
    reloaded = await user_store.get("u1")
    assert reloaded is not None and reloaded.password_changed_at == changed_at
    assert reloaded.password_changed_at.tzinfo is not None
    assert not await user_store.set_password_hash("missing", "$argon2id$x", later)
    assert await user_store.delete("u1")
    assert not await user_store.delete("u1")
    assert await user_store.get("u1") is None


async def test_consents(engine: AsyncEngine, user_store: SqlUserStore) -> None:
    store = SqlConsentStore(engine)
    assert await store.get("web", "u1") is None
    first = await store.merge("web", "u1", ("openid", "profile"), T0)
    assert first.scopes == ("openid", "profile") and first.granted_at == T0
    later = T0 + timedelta(hours=1)
    merged = await store.merge("web", "u1", ("email", "profile"), later)
    assert merged.scopes == ("openid", "profile", "email")
    assert (merged.granted_at, merged.updated_at) == (T0, later)
    assert await store.get("web", "u1") == merged
    for client_id, user_id in [("api", "u1"), ("web", "u2"), ("zeta", "u1")]:
        await store.merge(client_id, user_id, ("openid",), T0)
    page, total = await store.list(user_id="u1", client_id="", after=None, limit=2)
    assert [c.client_id for c in page] == ["api", "web"] and total == 3
    page, _ = await store.list(user_id="u1", client_id="", after=("web", "u1"), limit=2)
    assert [c.client_id for c in page] == ["zeta"]
    page, total = await store.list(user_id="", client_id="web", after=None, limit=10)
    assert [c.user_id for c in page] == ["u1", "u2"] and total == 2
    page, _ = await store.list(user_id="", client_id="web", after=("web", "u1"), limit=10)
    assert [c.user_id for c in page] == ["u2"]
    assert await store.delete("web", "u1")
    assert not await store.delete("web", "u1")
    # Deleting a user removes their consents.
    await user_store.create(make_user("u2", "bob"))
    await user_store.delete("u2")
    assert await store.get("web", "u2") is None


async def test_consents_revoked_in_bulk(engine: AsyncEngine) -> None:
    store = SqlConsentStore(engine)
    pairs = [("web", "u1"), ("web", "u2"), ("api", "u1"), ("api", "u2"), ("zeta", "u3")]
    for client_id, user_id in pairs:
        await store.merge(client_id, user_id, ("openid",), T0)
    # One statement per selector: a client's, a user's, then one pair.
    assert await store.delete_all(client_id="web", user_id="") == 2
    assert await store.delete_all(client_id="", user_id="u1") == 1
    assert await store.delete_all(client_id="api", user_id="u2") == 1
    assert await store.delete_all(client_id="web", user_id="") == 0
    remaining, total = await store.list(user_id="", client_id="zeta", after=None, limit=10)
    assert [(c.client_id, c.user_id) for c in remaining] == [("zeta", "u3")] and total == 1
    with pytest.raises(ValueError, match="client_id or user_id"):
        await store.delete_all(client_id="", user_id="")
    assert await store.get("zeta", "u3") is not None


async def test_concurrent_first_grants_merge(engine: AsyncEngine) -> None:
    store = SqlConsentStore(engine)
    await asyncio.gather(
        store.merge("web", "u9", ("openid",), T0), store.merge("web", "u9", ("email",), T0)
    )
    consent = await store.get("web", "u9")
    assert consent is not None and set(consent.scopes) == {"openid", "email"}


async def test_codes_consume_once(engine: AsyncEngine) -> None:
    store = SqlAuthorizationCodeStore(engine)
    code = make_code("a" * 64)
    await store.create(code)
    used_at = T0 + timedelta(seconds=5)
    consumed, first = await store.consume(code.code_id, used_at)
    assert first and consumed == dataclasses.replace(code, used_at=used_at)
    again, first = await store.consume(code.code_id, used_at + timedelta(seconds=1))
    assert not first and again is not None and again.used_at == used_at
    assert await store.consume("b" * 64, used_at) == (None, False)


async def test_codes_keep_the_resource_the_sid_and_the_dpop_key(engine: AsyncEngine) -> None:
    store = SqlAuthorizationCodeStore(engine)
    code = make_code("f" * 64, resource="https://api.example.com/", sid="sid-Ünï-1", dpop_jkt=JKT)
    await store.create(code)
    consumed, first = await store.consume(code.code_id, T0)
    assert first and consumed is not None
    assert (consumed.resource, consumed.sid, consumed.dpop_jkt) == (
        "https://api.example.com/",
        "sid-Ünï-1",
        JKT,
    )
    # Without one (a code of a session that had none, bound to no key): "".
    await store.create(make_code("9" * 64))
    legacy, _ = await store.consume("9" * 64, T0)
    assert legacy is not None and legacy.sid == "" and legacy.dpop_jkt == ""


async def test_concurrent_consumers_one_wins(engine: AsyncEngine) -> None:
    store = SqlAuthorizationCodeStore(engine)
    await store.create(make_code("c" * 64))
    results = await asyncio.gather(*(store.consume("c" * 64, T0) for _ in range(5)))
    assert sorted(first for _, first in results) == [False] * 4 + [True]


async def test_codes_delete_expired(engine: AsyncEngine) -> None:
    store = SqlAuthorizationCodeStore(engine)
    await store.create(make_code("d" * 64, expires_at=T0 - timedelta(days=2)))
    await store.create(make_code("e" * 64, expires_at=T0))
    assert await store.delete_expired(T0 - timedelta(days=1)) == 1
    assert (await store.consume("e" * 64, T0))[0] is not None


async def test_rows_hold_only_hashes(engine: AsyncEngine, user_store: SqlUserStore) -> None:
    """Passwords only as Argon2id PHC strings, codes only as SHA-256 (DESIGN.md, Tokens)."""
    clock = Clock(T0)
    directory = UserDirectory(user_store, CountingHasher(), clock=clock)
    user = await directory.create(NewUser("alice", PASSWORD, email="alice@example.com"))
    codes = AuthorizationCodes(SqlAuthorizationCodeStore(engine), user_store, clock=clock)
    issued = await codes.issue(
        CodeRequest(
            client_id="web",
            user_id=user.user_id,
            redirect_uri="https://app.example.com/cb",
            redirect_uri_in_request=False,
            scopes=("openid",),
            code_challenge="E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            code_challenge_method="S256",
            nonce="",
            auth_time=None,
            amr=("pwd",),
        )
    )
    async with engine.connect() as conn:
        user_rows = (await conn.execute(select(users))).mappings().all()
        code_rows = (await conn.execute(select(authorization_codes))).mappings().all()
    assert len(user_rows) == 1
    password_hash = user_rows[0]["password_hash"]
    assert password_hash.startswith("$argon2id$v=19$") and PASSWORD not in password_hash
    assert all(PASSWORD not in str(value) for value in user_rows[0].values())
    assert [row["code_id"] for row in code_rows] == [sha256_hex(issued.code)]
    assert all(issued.code not in str(value) for value in code_rows[0].values())


# --- interactions --------------------------------------------------------------


def make_interaction(key: str, **changes: object) -> Interaction:
    request = AuthorizationRequest(
        response_type="code",
        client_id="web",
        redirect_uri="https://app.example.com/cb?tenant=a%20b",
        scope="openid profile",
        state="Ünïcode state ✓",
        code_challenge="E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        code_challenge_method="S256",
        max_age="300",
        login_hint="alice",
        dpop_jkt=JKT,
        duplicated_parameters=(),
    )
    interaction = Interaction(
        interaction_key=key,
        binding_key=sha256_hex("binding"),
        validated=ValidatedAuthorizationRequest(
            request=request,
            redirect_uri=request.redirect_uri,
            redirect_uri_in_request=True,
            client=make_client_info("web"),
            scopes=("openid", "profile"),
            code_challenge_method="S256",
        ),
        created_at=T0,
        expires_at=T0 + timedelta(minutes=30),
    )
    return dataclasses.replace(interaction, **changes)  # type: ignore[arg-type]


KEEP = 10


async def test_interactions_round_trip(engine: AsyncEngine) -> None:
    store = SqlInteractionStore(engine)
    pending = make_interaction(sha256_hex("i-1"))
    await store.create(pending, KEEP)
    assert await store.get(sha256_hex("i-1")) == pending
    assert await store.get(sha256_hex("other")) is None
    signed_in = make_interaction(
        sha256_hex("i-2"), subject="u1", auth_time=T0 - timedelta(hours=1), amr=("pwd",)
    )
    await store.create(signed_in, KEEP)
    assert await store.get(sha256_hex("i-2")) == signed_in
    # Only the hashes are stored, never the id or the binding.
    async with engine.connect() as conn:
        rows = (await conn.execute(select(interactions))).mappings().all()
    assert {row["interaction_key"] for row in rows} == {sha256_hex("i-1"), sha256_hex("i-2")}
    assert all("i-1" not in str(dict(row).values()) for row in rows)


async def test_interactions_record_the_login_until_finished(engine: AsyncEngine) -> None:
    store = SqlInteractionStore(engine)
    key = sha256_hex("i-3")
    await store.create(make_interaction(key), KEEP)
    assert await store.record_login(key, "u7", T0, ("pwd", "otp"))
    loaded = await store.get(key)
    assert loaded is not None
    assert (loaded.subject, loaded.auth_time, loaded.amr, loaded.fresh_login) == (
        "u7",
        T0,
        ("pwd", "otp"),
        True,
    )
    assert await store.finish(key, T0 + timedelta(seconds=5))
    assert not await store.record_login(key, "u8", T0, ("pwd",))
    assert not await store.record_login(sha256_hex("missing"), "u8", T0, ("pwd",))
    finished = await store.get(key)
    assert finished is not None and finished.subject == "u7"
    assert finished.finished_at == T0 + timedelta(seconds=5)


async def test_an_interaction_finishes_once_even_concurrently(engine: AsyncEngine) -> None:
    store = SqlInteractionStore(engine)
    key = sha256_hex("i-4")
    await store.create(make_interaction(key), KEEP)
    results = await asyncio.gather(*(store.finish(key, T0) for _ in range(8)))
    assert sorted(results) == [False] * 7 + [True]
    assert not await store.finish(sha256_hex("missing"), T0)


async def test_expired_interactions_are_deleted(engine: AsyncEngine) -> None:
    store = SqlInteractionStore(engine)
    await store.create(make_interaction(sha256_hex("old"), expires_at=T0 - timedelta(days=2)), KEEP)
    await store.create(make_interaction(sha256_hex("new")), KEEP)
    assert await store.delete_expired(T0 - timedelta(days=1)) == 1
    assert await store.get(sha256_hex("old")) is None
    assert await store.get(sha256_hex("new")) is not None


async def test_one_binding_keeps_only_its_newest_interactions_waiting(engine: AsyncEngine) -> None:
    store = SqlInteractionStore(engine)
    other = make_interaction(sha256_hex("other-session"), binding_key=sha256_hex("b-2"))
    await store.create(other, 3)
    keys = [sha256_hex(f"b1-{n}") for n in range(5)]
    for n, key in enumerate(keys):
        created = T0 + timedelta(seconds=n)
        await store.create(
            make_interaction(key, binding_key=sha256_hex("b-1"), created_at=created), 3
        )
    loaded = [await store.get(key) for key in keys]
    assert [i is not None and i.finished_at is None for i in loaded] == [
        False, False, True, True, True
    ]  # fmt: skip
    # Ended when the request beyond them came; still there to answer "expired".
    first = loaded[0]
    assert first is not None and first.finished_at == T0 + timedelta(seconds=3)
    kept = await store.get(other.interaction_key)
    assert kept is not None and kept.finished_at is None
