"""Grants an operator can see and take back: consents (AuthorizeService) and
refresh-token families (TokenService); revoking by user or client also writes
the token service's not-before entry, so access tokens stop working at once
(docs/operators.md, "Who orchestrates"; RFC 7009 section 2.1 for the family).
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Final

from oauth2.v1 import authorize_pb2, common_pb2, token_pb2

from common.errors import InvalidRequest
from common.paging import MAX_PAGE_SIZE
from services.admin.domain.audit import AuditLog
from services.admin.domain.model import GRANT_REVOKED
from services.admin.domain.ports import TokenAuthority, UserDirectory

#: Consents are listed whole (AdminGrants pages over families only); a user or
#: client with more than this many is cut off rather than loaded without bound.
MAX_CONSENTS: Final = 5000
REVOKED_BY_ADMIN: Final = "revoked by an administrator"


@dataclass(frozen=True, slots=True)
class GrantListing:
    consents: list[authorize_pb2.Consent]
    families: list[token_pb2.Grant]
    #: Cursor over families; empty on their last page.
    next_page_token: str
    total_size: int


def grant_target(request: token_pb2.RevokeGrantsRequest) -> str:
    if request.family_id:
        return f"grant:{request.family_id}"
    if request.subject:
        return f"user:{request.subject}"
    return f"client:{request.client_id}" if request.client_id else ""


class GrantAdministration:
    """Consents and refresh-token families (RFC 6749 section 10.4, RFC 7009) of a user
    or a client, listed and revoked across AuthorizeService and TokenService."""

    def __init__(self, users: UserDirectory, tokens: TokenAuthority, audit: AuditLog) -> None:
        self._users = users
        self._tokens = tokens
        self._audit = audit

    async def list(self, request: token_pb2.ListGrantsRequest) -> GrantListing:
        """A user's or a client's consents (all) and refresh-token families (a page)."""
        if not request.subject and not request.client_id:
            raise InvalidRequest("Give 'user_id' or 'client_id'")
        families = await self._tokens.list_grants(request)
        consents = await self.consents(user_id=request.subject, client_id=request.client_id)
        return GrantListing(
            consents=consents,
            families=list(families.grants),
            next_page_token=families.page.next_page_token,
            total_size=families.page.total_size,
        )

    async def revoke(self, request: token_pb2.RevokeGrantsRequest) -> int:
        """Revoke one family, or everything a user or a client holds (families,
        then consents). Answers how many families were revoked."""
        actor = request.actor
        async with self._audit.audited(
            GRANT_REVOKED, actor.id, grant_target(request), remote_addr=actor.remote_addr
        ) as entry:
            selectors = [
                name for name in ("family_id", "subject", "client_id") if getattr(request, name)
            ]
            if len(selectors) != 1:
                raise InvalidRequest("Give exactly one of 'family_id', 'user_id' or 'client_id'")
            forwarded = token_pb2.RevokeGrantsRequest()
            forwarded.CopyFrom(request)
            forwarded.reason = request.reason or REVOKED_BY_ADMIN
            revoked = await self._tokens.revoke_grants(forwarded)
            entry.details["families_revoked"] = str(revoked)
            if not request.family_id:
                consents = await self.revoke_consents(
                    user_id=request.subject, client_id=request.client_id, actor=request.actor
                )
                entry.details["consents_revoked"] = str(consents)
        return revoked

    async def revoke_families(
        self, *, subject: str = "", client_id: str = "", reason: str, actor: common_pb2.Actor
    ) -> int:
        """TokenService.RevokeGrants by subject or client: families and not-before."""
        return await self._tokens.revoke_grants(
            token_pb2.RevokeGrantsRequest(
                subject=subject, client_id=client_id, reason=reason, actor=actor
            )
        )

    async def consents(
        self, *, user_id: str = "", client_id: str = ""
    ) -> builtins.list[authorize_pb2.Consent]:
        found: builtins.list[authorize_pb2.Consent] = []
        page_token = ""
        while len(found) < MAX_CONSENTS:
            page = await self._users.list_consents(
                user_id=user_id,
                client_id=client_id,
                page=common_pb2.PageRequest(page_size=MAX_PAGE_SIZE, page_token=page_token),
            )
            found.extend(page.consents)
            page_token = page.page.next_page_token
            if not page_token:
                break
        return found[:MAX_CONSENTS]

    async def revoke_consents(
        self, *, user_id: str = "", client_id: str = "", actor: common_pb2.Actor
    ) -> int:
        """AuthorizeService.RevokeConsents: every consent of a user or of a client in
        one call; answers how many."""
        return await self._users.revoke_consents(user_id=user_id, client_id=client_id, actor=actor)
