"""Grants for operators (docs/operators.md): the refresh-token families a user or a
client holds, and revoking them by family, by subject or by client.

Revoking by subject or client also writes a not-before entry, so every access
token of that subject or client issued until now is inactive at introspection
and at the gateway at once, whichever family (or none, for client_credentials)
it came from. Revoking by subject (an operator disabled the user, set their
password, or deleted them) also ends their sessions at the clients that registered
for back-channel logout (services/token/domain/backchannel_logout.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from common.errors import InvalidRequest, NotFound
from common.paging import decode_page_token, encode_page_token, page_size
from common.timeutil import utcnow
from services.token.domain.backchannel_logout import BackchannelLogout
from services.token.domain.denylist import RevocationList
from services.token.domain.grant_families import GrantFamilies
from services.token.domain.ports import GrantFamily, GrantStore

# Between the created_at and the family_id of a cursor; neither contains it.
_CURSOR_SEPARATOR = "|"
#: The most families of one subject whose clients hear of a revocation by subject.
LOGOUT_FAMILIES_MAX = 1000
DEFAULT_REASON = "revoked by an operator"


@dataclass(frozen=True)
class GrantPage:
    grants: list[GrantFamily]
    next_page_token: str
    total_size: int


class GrantAdministration:
    """ListGrants and RevokeGrants of oauth2.v1.TokenService."""

    def __init__(
        self,
        store: GrantStore,
        families: GrantFamilies,
        revocations: RevocationList,
        *,
        logout: BackchannelLogout | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._families = families
        self._revocations = revocations
        self._logout = logout
        self._clock = clock

    async def list(
        self,
        *,
        subject: str = "",
        client_id: str = "",
        page_size_requested: int = 0,
        page_token: str = "",
    ) -> GrantPage:
        """Families neither revoked nor expired, newest first."""
        if not subject and not client_id:
            raise InvalidRequest("Give 'subject' or 'client_id'")
        limit = page_size(page_size_requested)
        families, total = await self._store.list_families(
            self._clock(),
            subject=subject,
            client_id=client_id,
            after=_decode_cursor(page_token),
            limit=limit + 1,
        )
        next_token = ""
        if len(families) > limit:
            last = families[limit - 1]
            next_token = encode_page_token(
                last.created_at.isoformat() + _CURSOR_SEPARATOR + last.family_id
            )
        return GrantPage(grants=families[:limit], next_page_token=next_token, total_size=total)

    async def revoke(
        self, *, family_id: str = "", subject: str = "", client_id: str = "", reason: str = ""
    ) -> int:
        """Revoke by exactly one selector; returns how many families this call revoked."""
        given = [name for name, value in _selectors(family_id, subject, client_id) if value]
        if len(given) != 1:
            raise InvalidRequest("Give exactly one of 'family_id', 'subject' or 'client_id'")
        reason = reason or DEFAULT_REASON
        if family_id:
            if await self._store.get_family(family_id) is None:
                raise NotFound(f"Grant {family_id!r} not found")
            return int(await self._families.revoke(family_id, reason))
        ending: list[GrantFamily] = []
        if subject and self._logout is not None:
            ending, _total = await self._store.list_families(
                self._clock(), subject=subject, limit=LOGOUT_FAMILIES_MAX
            )
        # The not-before entry first: it is what stops access tokens at once.
        if subject:
            await self._revocations.revoke_principal("subject", subject)
        else:
            await self._revocations.revoke_principal("client", client_id)
        revoked = await self._store.revoke_families(
            subject=subject, client_id=client_id, reason=reason, now=self._clock()
        )
        if ending and self._logout is not None:
            await self._logout.notify(ending)
        return len(revoked)


def _selectors(family_id: str, subject: str, client_id: str) -> list[tuple[str, str]]:
    return [("family_id", family_id), ("subject", subject), ("client_id", client_id)]


def _decode_cursor(page_token: str) -> tuple[datetime, str] | None:
    raw = decode_page_token(page_token)
    if raw is None:
        return None
    created_at, separator, family_id = raw.partition(_CURSOR_SEPARATOR)
    try:
        when = datetime.fromisoformat(created_at)
    except ValueError:
        when = None
    if not separator or not family_id or when is None or when.tzinfo is None:
        raise InvalidRequest("Invalid 'page_token'")
    return when, family_id
