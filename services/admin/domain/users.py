"""User administration: the accounts are AuthorizeService's; this adds the audit
trail and takes back what a disabled or deleted user holds."""

from __future__ import annotations

from oauth2.v1 import authorize_pb2

from common.errors import InvalidRequest
from services.admin.domain.audit import AuditLog
from services.admin.domain.grants import GrantAdministration
from services.admin.domain.model import (
    USER_CREATED,
    USER_DELETED,
    USER_DISABLED,
    USER_ENABLED,
    USER_PASSWORD_SET,
    USER_UPDATED,
)
from services.admin.domain.ports import UserDirectory

USER_DISABLED_REASON = "user disabled"
USER_DELETED_REASON = "user deleted"
PASSWORD_SET_REASON = "password changed"  # noqa: S105 - a revocation reason


def update_action(request: authorize_pb2.UpdateUserRequest) -> str:
    if "enabled" not in request.update_mask:
        return USER_UPDATED
    return USER_ENABLED if request.user.enabled else USER_DISABLED


class UserAdministration:
    """End-user accounts through AuthorizeService, audited; disabling or deleting one
    revokes its grants (docs/operators.md, "Who orchestrates")."""

    def __init__(self, users: UserDirectory, grants: GrantAdministration, audit: AuditLog) -> None:
        self._users = users
        self._grants = grants
        self._audit = audit

    async def create(self, request: authorize_pb2.CreateUserRequest) -> authorize_pb2.User:
        async with self._audit.audited(
            USER_CREATED, request.actor.id, remote_addr=request.actor.remote_addr
        ) as entry:
            user = await self._users.create_user(request)
            entry.target = f"user:{user.user_id}"
            return user

    async def get(self, request: authorize_pb2.GetUserRequest) -> authorize_pb2.User:
        return await self._users.get_user(request)

    async def list(
        self, request: authorize_pb2.ListUsersRequest
    ) -> authorize_pb2.ListUsersResponse:
        return await self._users.list_users(request)

    async def update(self, request: authorize_pb2.UpdateUserRequest) -> authorize_pb2.User:
        """UpdateUser; when it leaves the user disabled, then TokenService.RevokeGrants
        (subject): refresh-token families and, through the not-before entry, every
        access token issued to the user until now."""
        actor = request.actor
        async with self._audit.audited(
            update_action(request),
            actor.id,
            f"user:{request.user_id}",
            remote_addr=actor.remote_addr,
        ) as entry:
            entry.details["fields"] = ",".join(request.update_mask)
            user = await self._users.update_user(request)
            if "enabled" in request.update_mask and not user.enabled:
                revoked = await self._grants.revoke_families(
                    subject=user.user_id, reason=USER_DISABLED_REASON, actor=actor
                )
                entry.details["families_revoked"] = str(revoked)
            return user

    async def set_password(self, request: authorize_pb2.SetPasswordRequest) -> None:
        """SetPassword (which also ends the user's browser sessions: AuthorizeService
        records when), then TokenService.RevokeGrants (subject): a reset password
        takes back every refresh token and access token the old one led to. When
        the revocation fails the call fails, and repeating it is safe."""
        actor = request.actor
        async with self._audit.audited(
            USER_PASSWORD_SET,
            actor.id,
            f"user:{request.user_id}",
            remote_addr=actor.remote_addr,
        ) as entry:
            await self._users.set_password(request)
            revoked = await self._grants.revoke_families(
                subject=request.user_id, reason=PASSWORD_SET_REASON, actor=actor
            )
            entry.details["families_revoked"] = str(revoked)

    async def delete(self, request: authorize_pb2.DeleteUserRequest) -> None:
        """Revoke the user's grants first (so a failure leaves the account in place
        to retry), then DeleteUser, which removes its consents with it."""
        actor = request.actor
        async with self._audit.audited(
            USER_DELETED, actor.id, f"user:{request.user_id}", remote_addr=actor.remote_addr
        ) as entry:
            if not request.user_id:
                raise InvalidRequest("Missing 'user_id'")
            revoked = await self._grants.revoke_families(
                subject=request.user_id, reason=USER_DELETED_REASON, actor=actor
            )
            entry.details["families_revoked"] = str(revoked)
            await self._users.delete_user(request.user_id, actor)
