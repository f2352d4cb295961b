"""Client administration: the registry is ClientsService's (RFC 6749 section 2);
this adds the audit trail and what a deletion must take back with it."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from oauth2.v1 import clients_pb2, common_pb2

from common.errors import InvalidRequest, NotFound
from services.admin.domain.audit import AuditEntry, AuditLog
from services.admin.domain.grants import GrantAdministration
from services.admin.domain.model import (
    CLIENT_CREATED,
    CLIENT_DELETED,
    CLIENT_SECRET_ROTATED,
    CLIENT_UPDATED,
    GRANT_REVOKED,
    REGISTRATION_TOKEN_CREATED,
)
from services.admin.domain.ports import ClientRegistry

CLIENT_DELETED_REASON = "client deleted"
REGISTRATION_DELETED_REASON = "registration deleted (RFC 7592)"
SECRET_ROTATED_REASON = "client secret rotated"  # noqa: S105 - a reason, not a secret
CLIENT_DISABLED_REASON = "client disabled"


def revocation_reason(before: clients_pb2.Client, after: clients_pb2.Client) -> str:
    """Why an update takes back what the client holds, or "" when it does not:
    a scope it no longer may ask for, or being disabled. Tokens carrying a removed
    scope must not outlive the operator's decision (Keycloak's and Hydra's
    not-before)."""
    if before.enabled and not after.enabled:
        return CLIENT_DISABLED_REASON
    removed = sorted(set(before.scope.split()) - set(after.scope.split()))
    if removed:
        return "scope removed: " + " ".join(removed)
    return ""


class ClientAdministration:
    """Clients (RFC 6749 section 2, RFC 7591 metadata) through ClientsService, audited."""

    def __init__(
        self, clients: ClientRegistry, grants: GrantAdministration, audit: AuditLog
    ) -> None:
        self._clients = clients
        self._grants = grants
        self._audit = audit

    async def create(
        self, request: clients_pb2.CreateClientRequest
    ) -> clients_pb2.CreateClientResponse:
        target = f"client:{request.client_id}" if request.client_id else ""
        async with self._audit.audited(
            CLIENT_CREATED, request.actor.id, target, remote_addr=request.actor.remote_addr
        ) as entry:
            created = await self._clients.create_client(request)
            entry.target = f"client:{created.client.client_id}"
            entry.details["imported_secret"] = str(bool(request.client_secret)).lower()
        return created

    async def get(self, client_id: str) -> clients_pb2.Client:
        return await self._clients.get_client(client_id)

    async def list(
        self, request: clients_pb2.ListClientsRequest
    ) -> clients_pb2.ListClientsResponse:
        return await self._clients.list_clients(request)

    async def update(self, request: clients_pb2.UpdateClientRequest) -> clients_pb2.Client:
        """UpdateClient; then, when a scope was removed or the client disabled,
        TokenService.RevokeGrants(client_id): its refresh-token families and a
        not-before that kills every access token issued until now. After the
        update, so that nothing issued meanwhile carries the old scope."""
        async with self._audit.audited(
            CLIENT_UPDATED,
            request.actor.id,
            f"client:{request.client_id}",
            remote_addr=request.actor.remote_addr,
        ) as entry:
            entry.details["fields"] = ",".join(request.update_mask) or "*"
            before = await self._clients.get_client(request.client_id)
            updated = await self._clients.update_client(request)
            reason = revocation_reason(before, updated)
            if reason:
                await self.revoke_tokens(request.client_id, reason, request.actor, entry)
            return updated

    async def revoke_tokens(
        self, client_id: str, reason: str, actor: common_pb2.Actor, entry: AuditEntry
    ) -> None:
        """The client's not-before and refresh-token families (TokenService.RevokeGrants);
        its consents stay, so that its users need not consent again."""
        families = await self._grants.revoke_families(
            client_id=client_id, reason=reason, actor=actor
        )
        entry.details["tokens_revoked"] = reason
        entry.details["families_revoked"] = str(families)

    async def delete(self, request: clients_pb2.DeleteClientRequest) -> None:
        """DeleteClient, then what it holds (:meth:`take_back`). Deleted first so that
        it can obtain nothing new meanwhile. A client that is gone already still has
        its grants and consents revoked, so that repeating a deletion that failed
        half-way finishes it."""
        actor = request.actor
        async with self.audited_deletion(request.client_id, actor) as entry:
            if not request.client_id:
                raise InvalidRequest("Missing 'client_id'")
            missing: NotFound | None = None
            try:
                await self._clients.delete_client(request.client_id, actor)
            except NotFound as exc:
                missing = exc
            await self.take_back(request.client_id, CLIENT_DELETED_REASON, actor, entry)
            if missing is not None:
                raise missing

    async def delete_registration(self, request: clients_pb2.RegistrationAccessRequest) -> None:
        """RFC 7592 section 2.3: the client deletes itself with its registration access
        token, then the same cascade as :meth:`delete`.

        ClientsService checks the token as it deletes, before anything is audited: a
        caller without it is nobody this service acts for, and failed attempts at a
        public endpoint are not audit events (as for RFC 7591 registration). Once the
        client is gone its token is too, so there is no retrying half-way here."""
        await self._clients.delete_registration(request)
        actor = request.actor
        async with self.audited_deletion(request.client_id, actor) as entry:
            entry.details["via"] = "rfc7592"
            await self.take_back(request.client_id, REGISTRATION_DELETED_REASON, actor, entry)

    async def update_registration(
        self, request: clients_pb2.UpdateRegistrationRequest
    ) -> clients_pb2.RegisterClientResponse:
        """RFC 7592 section 2.2, then the same revocation as an operator's update
        when a scope was dropped. ClientsService checks the registration access
        token on both calls and audits the update itself (``client.updated``, via
        rfc7592); a wrong token stops everything and is not audited here, as for
        a deletion. The revocation is a ``grant.revoked`` row."""
        before = await self._clients.get_registration(
            clients_pb2.RegistrationAccessRequest(
                client_id=request.client_id,
                registration_access_token=request.registration_access_token,
            )
        )
        answer = await self._clients.update_registration(request)
        reason = revocation_reason(before.client, answer.client)
        if reason:
            actor = request.actor
            async with self._audit.audited(
                GRANT_REVOKED,
                actor.id,
                f"client:{request.client_id}",
                remote_addr=actor.remote_addr,
            ) as entry:
                entry.details["via"] = "rfc7592"
                await self.revoke_tokens(request.client_id, reason, actor, entry)
        return answer

    def audited_deletion(
        self, client_id: str, actor: common_pb2.Actor
    ) -> AbstractAsyncContextManager[AuditEntry]:
        """The one ``client.deleted`` row of a deletion, whichever way it came."""
        return self._audit.audited(
            CLIENT_DELETED, actor.id, f"client:{client_id}", remote_addr=actor.remote_addr
        )

    async def take_back(
        self, client_id: str, reason: str, actor: common_pb2.Actor, entry: AuditEntry
    ) -> None:
        """What a deleted client held: its refresh-token families and access tokens
        (TokenService.RevokeGrants(client_id) writes the not-before), then its
        consents (AuthorizeService.RevokeConsents, one call); the counts go on
        the audit row."""
        families = await self._grants.revoke_families(
            client_id=client_id, reason=reason, actor=actor
        )
        entry.details["families_revoked"] = str(families)
        consents = await self._grants.revoke_consents(client_id=client_id, actor=actor)
        entry.details["consents_revoked"] = str(consents)

    async def rotate_secret(
        self, request: clients_pb2.RotateClientSecretRequest
    ) -> clients_pb2.RotateClientSecretResponse:
        """The new secret; then what was obtained with the old one is revoked (a
        rotation is what an operator does when a secret may have leaked)."""
        async with self._audit.audited(
            CLIENT_SECRET_ROTATED,
            request.actor.id,
            f"client:{request.client_id}",
            remote_addr=request.actor.remote_addr,
        ) as entry:
            rotated = await self._clients.rotate_client_secret(request.client_id, request.actor)
            await self.revoke_tokens(request.client_id, SECRET_ROTATED_REASON, request.actor, entry)
            return rotated

    async def create_initial_access_token(
        self, request: clients_pb2.CreateInitialAccessTokenRequest
    ) -> clients_pb2.CreateInitialAccessTokenResponse:
        """An initial access token for protected registration (RFC 7591 section 3).
        The audit row holds its limits, never the token."""
        async with self._audit.audited(
            REGISTRATION_TOKEN_CREATED, request.actor.id, remote_addr=request.actor.remote_addr
        ) as entry:
            entry.details["max_uses"] = str(request.max_uses or 1)
            created = await self._clients.create_initial_access_token(request)
            entry.details["expires_at"] = created.expires_at.ToJsonString()
            return created
