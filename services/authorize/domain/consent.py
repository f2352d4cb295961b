"""Consent records: what each user allowed each client (OpenID Connect Core
section 3.1.2.4). A second sign-in that asks for no more than was granted
skips the consent page unless ``prompt=consent``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from common.errors import InvalidRequest, NotFound
from common.paging import decode_page_token, encode_page_token, page_size
from common.scopes import parse_scope
from common.timeutil import utcnow
from services.authorize.domain.model import Consent, ConsentPage
from services.authorize.domain.ports import ConsentStore, UserStore

# Separates client_id and user_id in a list cursor; neither can contain it
# (client_id is printable ASCII, user_id a UUID).
_CURSOR_SEPARATOR = "\n"


class ConsentRegistry:
    def __init__(
        self,
        store: ConsentStore,
        users: UserStore,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._users = users
        self._clock = clock

    async def get(self, client_id: str, user_id: str) -> Consent | None:
        """None when the user never consented to the client."""
        _require(client_id=client_id, user_id=user_id)
        return await self._store.get(client_id, user_id)

    async def grant(self, client_id: str, user_id: str, scopes: Iterable[str]) -> Consent:
        """Add ``scopes`` to what the user granted the client before."""
        _require(client_id=client_id, user_id=user_id)
        tokens = parse_scope(" ".join(scopes), InvalidRequest)
        if await self._users.get(user_id) is None:
            raise NotFound(f"User {user_id!r} not found")
        return await self._store.merge(client_id, user_id, tuple(tokens), self._clock())

    async def list(
        self,
        *,
        user_id: str = "",
        client_id: str = "",
        page_size_requested: int = 0,
        page_token: str = "",
    ) -> ConsentPage:
        if not user_id and not client_id:
            raise InvalidRequest("Give 'user_id' or 'client_id'")
        limit = page_size(page_size_requested)
        after = _decode_cursor(page_token)
        consents, total = await self._store.list(
            user_id=user_id, client_id=client_id, after=after, limit=limit + 1
        )
        next_token = ""
        if len(consents) > limit:
            last = consents[limit - 1]
            next_token = encode_page_token(last.client_id + _CURSOR_SEPARATOR + last.user_id)
        return ConsentPage(consents=consents[:limit], next_page_token=next_token, total_size=total)

    async def revoke(self, client_id: str, user_id: str) -> None:
        _require(client_id=client_id, user_id=user_id)
        if not await self._store.delete(client_id, user_id):
            raise NotFound(f"No consent of user {user_id!r} for client {client_id!r}")

    async def revoke_all(self, *, client_id: str = "", user_id: str = "") -> int:
        """Every consent of a client, of a user or of the pair; how many were revoked.
        None to revoke is not an error: a repeated cascade finds nothing left."""
        if not client_id and not user_id:
            raise InvalidRequest("Give 'user_id' or 'client_id'")
        return await self._store.delete_all(client_id=client_id, user_id=user_id)


def _require(**parameters: str) -> None:
    for name, value in parameters.items():
        if not value:
            raise InvalidRequest(f"Missing '{name}'")


def _decode_cursor(page_token: str) -> tuple[str, str] | None:
    raw = decode_page_token(page_token)
    if raw is None:
        return None
    client_id, separator, user_id = raw.partition(_CURSOR_SEPARATOR)
    if not separator:
        raise InvalidRequest("Invalid 'page_token'")
    return client_id, user_id
