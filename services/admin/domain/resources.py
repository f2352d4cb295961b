"""Resource-server administration: the registry is ClientsService's (RFC 8707); this
adds the audit trail (``resource.created``, ``resource.updated``,
``resource.deleted``, target ``resource:<identifier>``), as for clients."""

from __future__ import annotations

from oauth2.v1 import clients_pb2

from services.admin.domain.audit import MAX_TARGET_LENGTH, AuditEntry, AuditLog
from services.admin.domain.model import RESOURCE_CREATED, RESOURCE_DELETED, RESOURCE_UPDATED
from services.admin.domain.ports import ClientRegistry


def resource_target(identifier: str) -> str:
    """``resource:<identifier>``, or "" when the request names none."""
    return f"resource:{identifier}" if identifier else ""


def _note_long_identifier(entry: AuditEntry, identifier: str) -> None:
    """An audit target holds 300 characters, an identifier up to 512: a longer target
    is cut, so the whole identifier goes into the details too."""
    if len(resource_target(identifier)) > MAX_TARGET_LENGTH:
        entry.details["identifier"] = identifier


class ResourceAdministration:
    """Resource servers (RFC 8707) through ClientsService, audited."""

    def __init__(self, clients: ClientRegistry, audit: AuditLog) -> None:
        self._clients = clients
        self._audit = audit

    async def create(self, request: clients_pb2.CreateResourceRequest) -> clients_pb2.Resource:
        identifier = request.resource.identifier
        async with self._audit.audited(
            RESOURCE_CREATED,
            request.actor.id,
            resource_target(identifier),
            remote_addr=request.actor.remote_addr,
        ) as entry:
            _note_long_identifier(entry, identifier)
            return await self._clients.create_resource(request)

    async def get(self, identifier: str) -> clients_pb2.Resource:
        return await self._clients.get_resource(identifier)

    async def list(
        self, request: clients_pb2.ListResourcesRequest
    ) -> clients_pb2.ListResourcesResponse:
        return await self._clients.list_resources(request)

    async def update(self, request: clients_pb2.UpdateResourceRequest) -> clients_pb2.Resource:
        """UpdateResource; ``details.fields`` names what it replaced (``*``: all)."""
        identifier = request.resource.identifier
        async with self._audit.audited(
            RESOURCE_UPDATED,
            request.actor.id,
            resource_target(identifier),
            remote_addr=request.actor.remote_addr,
        ) as entry:
            entry.details["fields"] = ",".join(request.update_mask) or "*"
            _note_long_identifier(entry, identifier)
            return await self._clients.update_resource(request)

    async def delete(self, request: clients_pb2.DeleteResourceRequest) -> None:
        async with self._audit.audited(
            RESOURCE_DELETED,
            request.actor.id,
            resource_target(request.identifier),
            remote_addr=request.actor.remote_addr,
        ) as entry:
            _note_long_identifier(entry, request.identifier)
            await self._clients.delete_resource(request.identifier, request.actor)
