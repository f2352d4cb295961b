"""People who sign in: accounts, passwords and their OpenID Connect claims
(OpenID Connect Core section 5.1 standard claims, section 5.4 claims by scope)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from datetime import datetime

from common.errors import InvalidRequest, NotFound
from common.paging import decode_page_token, encode_page_token, page_size
from common.timeutil import utcnow
from common.vocabulary import CLAIMS_BY_SCOPE, StandardScope
from services.authorize.domain.login import LoginThrottle
from services.authorize.domain.model import (
    UPDATABLE_USER_FIELDS,
    NewUser,
    User,
    UserChanges,
    UserClaims,
    UserPage,
)
from services.authorize.domain.passwords import validate_password
from services.authorize.domain.ports import PasswordHashing, UserStore
from services.authorize.domain.user_rules import (
    normalize_username,
    username_key,
    validate_email,
    validate_name,
    validate_username,
)


def new_user_id() -> str:
    return str(uuid.uuid4())


class UserDirectory:
    """User accounts. Passwords are hashed before they reach the store and never
    leave the service; lookups by username are case-insensitive."""

    def __init__(
        self,
        store: UserStore,
        hasher: PasswordHashing,
        *,
        throttle: LoginThrottle | None = None,
        clock: Callable[[], datetime] = utcnow,
        user_id_factory: Callable[[], str] = new_user_id,
    ) -> None:
        self._store = store
        self._hasher = hasher
        self._throttle = throttle
        self._clock = clock
        self._new_user_id = user_id_factory

    async def create(self, new: NewUser) -> User:
        username = validate_username(new.username)
        password = validate_password(new.password)
        email = validate_email(new.email)
        given_name = validate_name(new.given_name, "given_name")
        family_name = validate_name(new.family_name, "family_name")
        now = self._clock()
        user = User(
            user_id=self._new_user_id(),
            username=username,
            email=email,
            email_verified=False,
            enabled=True,
            given_name=given_name,
            family_name=family_name,
            name=f"{given_name} {family_name}".strip(),
            created_at=now,
            updated_at=now,
            password_hash=await self._hasher.hash(password),
        )
        await self._store.create(user)
        return user

    async def get(self, user_id: str) -> User:
        if not user_id:
            raise InvalidRequest("Missing 'user_id'")
        user = await self._store.get(user_id)
        if user is None:
            raise NotFound(f"User {user_id!r} not found")
        return user

    async def find(self, *, user_id: str = "", username: str = "") -> User:
        """GetUser: by ``user_id``, or else by ``username`` (case-insensitive)."""
        if user_id:
            return await self.get(user_id)
        if not username:
            raise InvalidRequest("Give 'user_id' or 'username'")
        user = await self._store.get_by_username(normalize_username(username))
        if user is None:
            raise NotFound(f"User {username!r} not found")
        return user

    async def list(
        self, *, page_size_requested: int = 0, page_token: str = "", search: str = ""
    ) -> UserPage:
        limit = page_size(page_size_requested)
        after = decode_page_token(page_token)
        # One extra row tells whether another page follows without a second query.
        users, total = await self._store.list(after=after, limit=limit + 1, search=search.strip())
        next_token = (
            encode_page_token(username_key(users[limit - 1].username)) if len(users) > limit else ""
        )
        return UserPage(users=users[:limit], next_page_token=next_token, total_size=total)

    async def update(self, user_id: str, changes: UserChanges, update_mask: Iterable[str]) -> User:
        """Change the fields named in ``update_mask`` (required: proto3 cannot tell
        an unset ``enabled`` from false). A new email is unverified unless the
        mask sets ``email_verified`` too. Enabling the account (an administrator's
        explicit unlock, as in Keycloak) also lifts its sign-in lockout."""
        mask = set(update_mask)
        if not mask:
            raise InvalidRequest(
                "'update_mask' must name the fields to change: "
                + ", ".join(sorted(UPDATABLE_USER_FIELDS))
            )
        unknown = sorted(mask - UPDATABLE_USER_FIELDS)
        if unknown:
            raise InvalidRequest(f"Unknown field {unknown[0]!r} in 'update_mask'")
        current = await self.get(user_id)
        values: dict[str, object] = {}
        for name in sorted(mask):
            value = getattr(changes, name)
            if name == "email":
                value = validate_email(value)
            elif isinstance(value, str):
                value = validate_name(value, name)
            values[name] = value
        new_email = values.get("email")
        if isinstance(new_email, str) and new_email.lower() != current.email.lower():
            values.setdefault("email_verified", False)
        updated = await self._store.update(user_id, values, self._clock())
        if updated is None:
            raise NotFound(f"User {user_id!r} not found")
        if values.get("enabled") is True and self._throttle is not None:
            await self._throttle.reset_user(updated.username)
        return updated

    async def set_password(self, user_id: str, password: str) -> None:
        """A new password; also lifts a sign-in lockout of the account, permanent
        or not, and records ``password_changed_at``: browser sessions signed in
        before it no longer count (SignIn shows the login page again). The
        user's grants are revoked by the admin service, which orchestrates."""
        validate_password(password)
        user = await self.get(user_id)
        password_hash = await self._hasher.hash(password)
        if not await self._store.set_password_hash(
            user_id, password_hash, self._clock(), changed=True
        ):
            raise NotFound(f"User {user_id!r} not found")
        if self._throttle is not None:
            await self._throttle.reset_user(user.username)

    async def delete(self, user_id: str) -> None:
        if not user_id:
            raise InvalidRequest("Missing 'user_id'")
        if not await self._store.delete(user_id):
            raise NotFound(f"User {user_id!r} not found")

    async def claims(self, user_id: str, scopes: Iterable[str]) -> UserClaims:
        """OpenID Connect Core section 5.4: ``sub`` always, and the claims of each
        granted scope (common.vocabulary.CLAIMS_BY_SCOPE, which discovery lists).
        Empty values are left out (section 5.3.2)."""
        user = await self.get(user_id)
        values: dict[str, object] = {
            "sub": user.user_id,
            "name": user.name,
            "given_name": user.given_name,
            "family_name": user.family_name,
            "preferred_username": user.username,
            "updated_at": int(user.updated_at.timestamp()),
            "email": user.email,
            "email_verified": user.email_verified if user.email else None,
        }
        granted = {StandardScope.OPENID, *scopes}
        claims: dict[str, object] = {}
        for scope, names in CLAIMS_BY_SCOPE.items():
            if scope in granted:
                claims.update({n: values[n] for n in names if values[n] not in ("", None)})
        return UserClaims(sub=user.user_id, claims=claims, enabled=user.enabled)
