"""User accounts: rules for usernames, passwords and emails, uniqueness, paging,
updates by mask, passwords, and claims by scope."""

from __future__ import annotations

import json

import pytest

from common.errors import Conflict, InvalidRequest, NotFound
from common.vocabulary import CLAIMS_BY_SCOPE, StandardScope
from services.authorize.domain import UserDirectory
from services.authorize.domain.model import NewUser, UserChanges
from services.authorize.tests.fakes import Clock, CountingHasher, MemoryUserStore

PASSWORD = "correct horse battery staple"


async def test_create_hashes_the_password_with_argon2id(
    users: UserDirectory, user_store: MemoryUserStore, hasher: CountingHasher
) -> None:
    user = await users.create(
        NewUser("Alice", PASSWORD, email="Alice@Example.com", given_name="Alice", family_name="Doe")
    )
    assert user.username == "Alice" and user.enabled and not user.email_verified
    assert user.name == "Alice Doe"
    stored = user_store.users[user.user_id]
    assert stored.password_hash is not None and stored.password_hash.startswith("$argon2id$")
    assert PASSWORD not in stored.password_hash
    assert "password_hash" not in repr(user) and PASSWORD not in repr(NewUser("a", PASSWORD))
    assert await hasher.verify(stored.password_hash, PASSWORD)


@pytest.mark.parametrize(
    ("username", "password", "email", "message"),
    [
        ("", PASSWORD, "", "'username' must be 1 to 64 characters, without spaces or control"),
        ("a" * 65, PASSWORD, "", "'username' must be 1 to 64"),
        ("al ice", PASSWORD, "", "without spaces"),
        ("alice\t", PASSWORD, "", "without spaces"),
        ("ali\x00ce", PASSWORD, "", "control characters"),
        ("alice", "short", "", "'password' must be at least 8 characters"),
        ("alice", "x" * 1025, "", "'password' must be at most 1024 characters"),
        ("alice", PASSWORD, "not-an-email", "'email' is not a valid email address"),
        ("alice", PASSWORD, "a b@example.com", "'email' is not a valid email address"),
        ("alice", PASSWORD, "alice@localhost", "'email' is not a valid email address"),
    ],
)
async def test_create_rejects_bad_input(
    users: UserDirectory, username: str, password: str, email: str, message: str
) -> None:
    with pytest.raises(InvalidRequest) as info:
        await users.create(NewUser(username, password, email=email))
    assert info.value.description.startswith(message) or message in info.value.description


async def test_edge_lengths_are_accepted(users: UserDirectory) -> None:
    await users.create(NewUser("a", "x" * 8))
    await users.create(NewUser("b" * 64, "x" * 1024))
    await users.create(NewUser("zoë@home", PASSWORD))


async def test_usernames_and_emails_are_unique_case_insensitively(users: UserDirectory) -> None:
    await users.create(NewUser("alice", PASSWORD, email="alice@example.com"))
    with pytest.raises(Conflict, match="Username 'ALICE' is already taken"):
        await users.create(NewUser("ALICE", PASSWORD))
    with pytest.raises(Conflict, match=r"Email 'ALICE@example\.com' is already in use"):
        await users.create(NewUser("alice2", PASSWORD, email="ALICE@example.com"))
    # Users without an email do not collide with each other.
    await users.create(NewUser("bob", PASSWORD))
    await users.create(NewUser("carol", PASSWORD))


async def test_find_by_id_or_username(users: UserDirectory) -> None:
    user = await users.create(NewUser("Alice", PASSWORD))
    assert (await users.find(user_id=user.user_id)) == user
    assert (await users.find(username="aLICE")) == user
    with pytest.raises(NotFound, match="User 'nobody' not found"):
        await users.find(username="nobody")
    with pytest.raises(NotFound):
        await users.find(user_id="00000000-0000-4000-8000-000000000000")
    with pytest.raises(InvalidRequest, match="Give 'user_id' or 'username'"):
        await users.find()


async def test_list_pages_and_searches(users: UserDirectory) -> None:
    for name in ["dave", "Alice", "carol", "bob", "eve"]:
        await users.create(NewUser(name, PASSWORD, email=f"{name.lower()}@corp.example"))
    page = await users.list(page_size_requested=2)
    assert [u.username for u in page.users] == ["Alice", "bob"] and page.total_size == 5
    page = await users.list(page_size_requested=2, page_token=page.next_page_token)
    assert [u.username for u in page.users] == ["carol", "dave"]
    page = await users.list(page_size_requested=2, page_token=page.next_page_token)
    assert [u.username for u in page.users] == ["eve"] and page.next_page_token == ""
    found = await users.list(search="ALI")
    assert [u.username for u in found.users] == ["Alice"] and found.total_size == 1
    found = await users.list(search="corp.EXAMPLE")
    assert found.total_size == 5
    with pytest.raises(InvalidRequest, match="Invalid 'page_token'"):
        await users.list(page_token="!!!")


async def test_update_by_mask(users: UserDirectory, clock: Clock) -> None:
    user = await users.create(NewUser("alice", PASSWORD, email="alice@example.com"))
    verified = await users.update(
        user.user_id, UserChanges(email_verified=True, enabled=False), ["email_verified"]
    )
    assert verified.email_verified and verified.enabled  # enabled was not in the mask
    clock.advance(5)
    renamed = await users.update(
        user.user_id, UserChanges(given_name=" Alice ", name="Alice A."), ["given_name", "name"]
    )
    assert (renamed.given_name, renamed.name, renamed.email_verified) == (
        "Alice",
        "Alice A.",
        True,
    )
    assert renamed.updated_at > user.updated_at
    # A new email address is not verified any more.
    moved = await users.update(user.user_id, UserChanges(email="new@example.com"), ["email"])
    assert moved.email == "new@example.com" and not moved.email_verified
    disabled = await users.update(user.user_id, UserChanges(enabled=False), ["enabled"])
    assert not disabled.enabled
    cleared = await users.update(user.user_id, UserChanges(email=""), ["email"])
    assert cleared.email == ""


async def test_update_refusals(users: UserDirectory) -> None:
    user = await users.create(NewUser("alice", PASSWORD))
    await users.create(NewUser("bob", PASSWORD, email="bob@example.com"))
    with pytest.raises(InvalidRequest, match="'update_mask' must name the fields to change"):
        await users.update(user.user_id, UserChanges(), [])
    with pytest.raises(InvalidRequest, match="Unknown field 'username' in 'update_mask'"):
        await users.update(user.user_id, UserChanges(), ["username"])
    with pytest.raises(InvalidRequest, match="'email' is not a valid email address"):
        await users.update(user.user_id, UserChanges(email="nope"), ["email"])
    with pytest.raises(Conflict, match="already in use"):
        await users.update(user.user_id, UserChanges(email="BOB@example.com"), ["email"])
    with pytest.raises(NotFound):
        await users.update("missing", UserChanges(), ["enabled"])


async def test_set_password_and_delete(
    users: UserDirectory, user_store: MemoryUserStore, hasher: CountingHasher
) -> None:
    user = await users.create(NewUser("alice", PASSWORD))
    with pytest.raises(InvalidRequest, match="at least 8"):
        await users.set_password(user.user_id, "short")
    await users.set_password(user.user_id, "another long password")
    stored = user_store.users[user.user_id].password_hash
    assert stored is not None and stored.startswith("$argon2id$")
    assert await hasher.verify(stored, "another long password")
    assert not await hasher.verify(stored, PASSWORD)
    with pytest.raises(NotFound):
        await users.set_password("missing", "another long password")
    await users.delete(user.user_id)
    with pytest.raises(NotFound):
        await users.delete(user.user_id)


async def test_claims_by_scope(users: UserDirectory, clock: Clock) -> None:
    user = await users.create(
        NewUser("alice", PASSWORD, email="alice@example.com", given_name="Alice")
    )
    only_sub = await users.claims(user.user_id, ["openid"])
    assert only_sub.claims == {"sub": user.user_id} and only_sub.enabled
    profile = await users.claims(user.user_id, ["openid", "profile"])
    assert profile.claims == {
        "sub": user.user_id,
        "preferred_username": "alice",
        "name": "Alice",
        "given_name": "Alice",
        "updated_at": int(clock.now.timestamp()),
    }
    email = await users.claims(user.user_id, ["openid", "email"])
    assert email.claims == {
        "sub": user.user_id,
        "email": "alice@example.com",
        "email_verified": False,
    }
    json.dumps(email.claims)
    await users.update(user.user_id, UserChanges(enabled=False), ["enabled"])
    assert not (await users.claims(user.user_id, [])).enabled
    with pytest.raises(NotFound):
        await users.claims("missing", ["openid"])


async def test_the_claims_released_are_those_discovery_lists(users: UserDirectory) -> None:
    """Every claim a scope releases is in common.vocabulary.CLAIMS_BY_SCOPE, which
    the discovery document's claims_supported is built from, and no other."""
    user = await users.create(
        NewUser("bob", PASSWORD, email="bob@example.com", given_name="Bob", family_name="Builder")
    )
    for scope, names in CLAIMS_BY_SCOPE.items():
        released = await users.claims(user.user_id, [scope])
        assert set(released.claims) == {"sub", *names}, scope
    everything = await users.claims(user.user_id, list(StandardScope))
    listed = {claim for names in CLAIMS_BY_SCOPE.values() for claim in names}
    assert set(everything.claims) == listed
