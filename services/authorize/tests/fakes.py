"""In-memory stand-ins for the authorize ports, a settable clock and a hasher
that counts its calls (timing is never asserted: counts are)."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from common.errors import Conflict
from services.authorize.domain.model import AuthorizationCode, ClientInfo, Consent, User
from services.authorize.domain.passwords import Argon2PasswordHasher
from services.authorize.domain.sign_in import Interaction
from services.authorize.domain.user_rules import username_key

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class CountingHasher(Argon2PasswordHasher):
    """Argon2id at the cheapest cost, counting real and dummy verifications; room
    for 64 sign-ins at once (the parallel-guess tests send 20), so that its queue
    refuses none of them unless a test means it to."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1, queue=64)
        self.calls: Counter[str] = Counter()

    async def hash(self, password: str) -> str:
        self.calls["hash"] += 1
        return await super().hash(password)

    async def verify(self, password_hash: str, password: str) -> bool:
        self.calls["verify"] += 1
        return await super().verify(password_hash, password)

    async def verify_dummy(self, password: str) -> None:
        self.calls["verify_dummy"] += 1
        await super().verify_dummy(password)

    @property
    def verifications(self) -> int:
        return self.calls["verify"] + self.calls["verify_dummy"]


class MemoryUserStore:
    def __init__(self) -> None:
        self.users: dict[str, User] = {}

    def _taken(self, user: User) -> Conflict | None:
        for other in self.users.values():
            if other.user_id == user.user_id:
                continue
            if username_key(other.username) == username_key(user.username):
                return Conflict(f"Username {user.username!r} is already taken")
            if user.email and other.email.lower() == user.email.lower():
                return Conflict(f"Email {user.email!r} is already in use")
        return None

    async def create(self, user: User) -> None:
        conflict = self._taken(user)
        if conflict is not None:
            raise conflict
        self.users[user.user_id] = user

    async def get(self, user_id: str) -> User | None:
        return self.users.get(user_id)

    async def get_by_username(self, username: str) -> User | None:
        key = username_key(username)
        return next((u for u in self.users.values() if username_key(u.username) == key), None)

    async def list(self, *, after: str | None, limit: int, search: str) -> tuple[list[User], int]:
        needle = search.lower()
        matches = sorted(
            (
                u
                for u in self.users.values()
                if needle in username_key(u.username) or needle in u.email.lower()
            ),
            key=lambda u: username_key(u.username),
        )
        page = [u for u in matches if after is None or username_key(u.username) > after]
        return page[:limit], len(matches)

    async def update(
        self, user_id: str, changes: Mapping[str, object], updated_at: datetime
    ) -> User | None:
        current = self.users.get(user_id)
        if current is None:
            return None
        updated = dataclasses.replace(current, **changes, updated_at=updated_at)  # type: ignore[arg-type]
        conflict = self._taken(updated)
        if conflict is not None:
            raise conflict
        self.users[user_id] = updated
        return updated

    async def set_password_hash(
        self, user_id: str, password_hash: str, updated_at: datetime, *, changed: bool = False
    ) -> bool:
        current = self.users.get(user_id)
        if current is None:
            return False
        self.users[user_id] = dataclasses.replace(
            current,
            password_hash=password_hash,
            updated_at=updated_at,
            password_changed_at=updated_at if changed else current.password_changed_at,
        )
        return True

    async def delete(self, user_id: str) -> bool:
        return self.users.pop(user_id, None) is not None


class MemoryConsentStore:
    def __init__(self) -> None:
        self.consents: dict[tuple[str, str], Consent] = {}

    async def get(self, client_id: str, user_id: str) -> Consent | None:
        return self.consents.get((client_id, user_id))

    async def merge(
        self, client_id: str, user_id: str, scopes: tuple[str, ...], now: datetime
    ) -> Consent:
        current = self.consents.get((client_id, user_id))
        if current is None:
            consent = Consent(client_id, user_id, scopes, granted_at=now, updated_at=now)
        else:
            merged = current.scopes + tuple(s for s in scopes if s not in current.scopes)
            consent = dataclasses.replace(current, scopes=merged, updated_at=now)
        self.consents[(client_id, user_id)] = consent
        return consent

    async def list(
        self, *, user_id: str, client_id: str, after: tuple[str, str] | None, limit: int
    ) -> tuple[list[Consent], int]:
        matches = [
            c
            for key, c in sorted(self.consents.items())
            if (not user_id or c.user_id == user_id) and (not client_id or c.client_id == client_id)
        ]
        page = [c for c in matches if after is None or (c.client_id, c.user_id) > after]
        return page[:limit], len(matches)

    async def delete(self, client_id: str, user_id: str) -> bool:
        return self.consents.pop((client_id, user_id), None) is not None

    async def delete_all(self, *, client_id: str, user_id: str) -> int:
        if not client_id and not user_id:
            raise ValueError("delete_all needs client_id or user_id")
        chosen = [
            key
            for key in self.consents
            if (not client_id or key[0] == client_id) and (not user_id or key[1] == user_id)
        ]
        for key in chosen:
            del self.consents[key]
        return len(chosen)


class MemoryCodeStore:
    def __init__(self) -> None:
        self.codes: dict[str, AuthorizationCode] = {}
        self.purged_before: list[datetime] = []

    async def create(self, code: AuthorizationCode) -> None:
        self.codes[code.code_id] = code

    async def consume(
        self, code_id: str, used_at: datetime
    ) -> tuple[AuthorizationCode | None, bool]:
        code = self.codes.get(code_id)
        if code is None:
            return None, False
        if code.used_at is not None:
            return code, False
        self.codes[code_id] = dataclasses.replace(code, used_at=used_at)
        return self.codes[code_id], True

    async def delete_expired(self, before: datetime) -> int:
        self.purged_before.append(before)
        expired = [k for k, c in self.codes.items() if c.expires_at < before]
        for key in expired:
            del self.codes[key]
        return len(expired)


class MemoryInteractionStore:
    def __init__(self) -> None:
        self.interactions: dict[str, Interaction] = {}

    async def create(self, interaction: Interaction, keep_per_binding: int) -> None:
        self.interactions[interaction.interaction_key] = interaction
        waiting = sorted(
            (
                i
                for i in self.interactions.values()
                if i.binding_key == interaction.binding_key and i.finished_at is None
            ),
            key=lambda i: (i.created_at, i.interaction_key),
            reverse=True,
        )
        for old in waiting[keep_per_binding:]:
            self._update(old.interaction_key, finished_at=interaction.created_at)

    async def get(self, interaction_key: str) -> Interaction | None:
        return self.interactions.get(interaction_key)

    async def record_login(
        self, interaction_key: str, subject: str, auth_time: datetime, amr: tuple[str, ...]
    ) -> bool:
        return self._update(
            interaction_key, subject=subject, auth_time=auth_time, amr=amr, fresh_login=True
        )

    async def finish(self, interaction_key: str, finished_at: datetime) -> bool:
        return self._update(interaction_key, finished_at=finished_at)

    def _update(self, interaction_key: str, **changes: object) -> bool:
        current = self.interactions.get(interaction_key)
        if current is None or current.finished_at is not None:
            return False
        self.interactions[interaction_key] = dataclasses.replace(current, **changes)  # type: ignore[arg-type]
        return True

    async def delete_expired(self, before: datetime) -> int:
        expired = [k for k, i in self.interactions.items() if i.expires_at < before]
        for key in expired:
            del self.interactions[key]
        return len(expired)


def make_client_info(client_id: str = "web", **changes: object) -> ClientInfo:
    client = ClientInfo(
        client_id=client_id,
        client_name="Web App",
        redirect_uris=("https://app.example.com/cb",),
        grant_types=("authorization_code", "refresh_token"),
        scope=("openid", "profile", "email", "offline_access"),
        token_endpoint_auth_method="client_secret_basic",
        require_pkce=True,
        client_uri="https://app.example.com",
        logo_uri="https://app.example.com/logo.png",
    )
    return dataclasses.replace(client, **changes)  # type: ignore[arg-type]


class FakeClientDirectory:
    def __init__(self, *clients: ClientInfo) -> None:
        self.clients = {client.client_id: client for client in clients}
        self.calls = 0

    def add(self, client: ClientInfo) -> None:
        self.clients[client.client_id] = client

    async def get_client(self, client_id: str) -> ClientInfo | None:
        self.calls += 1
        return self.clients.get(client_id)
