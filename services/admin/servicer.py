"""AdminService over gRPC: proto -> domain, one domain call, domain -> proto."""

from __future__ import annotations

from google.protobuf import empty_pb2
from oauth2.v1 import admin_pb2, admin_pb2_grpc, authorize_pb2, clients_pb2, common_pb2, token_pb2

from common.grpc_tls import caller_of
from common.grpc_types import Context
from common.timeutil import from_timestamp, to_timestamp, utcnow
from services.admin.domain import AdminDomain
from services.admin.domain.model import AuditFilter, AuditRecord


def event_from_proto(event: admin_pb2.AuditEvent) -> AuditRecord:
    return AuditRecord(
        event_id=event.event_id,
        action=event.action,
        actor_id=event.actor.id,
        actor_remote_addr=event.actor.remote_addr,
        target=event.target,
        outcome=event.outcome,  # type: ignore[arg-type]  # checked by AuditLog.validate
        time=from_timestamp(event.time) or utcnow(),
        trace_id=event.trace_id,
        source=event.source,
        details=dict(event.details),
    )


def event_to_proto(record: AuditRecord) -> admin_pb2.AuditEvent:
    return admin_pb2.AuditEvent(
        event_id=record.event_id,
        action=record.action,
        actor=common_pb2.Actor(id=record.actor_id, remote_addr=record.actor_remote_addr),
        target=record.target,
        outcome=record.outcome,
        time=to_timestamp(record.time),
        trace_id=record.trace_id,
        source=record.source,
        details=dict(record.details),
    )


class AdminServicer(admin_pb2_grpc.AdminServiceServicer):
    """oauth2.v1.AdminService: the operator's surface (docs/operators.md)."""

    def __init__(self, domain: AdminDomain) -> None:
        self._domain = domain

    # --- clients ---

    async def CreateClient(
        self, request: clients_pb2.CreateClientRequest, context: Context
    ) -> clients_pb2.CreateClientResponse:
        return await self._domain.clients.create(request)

    async def GetClient(
        self, request: clients_pb2.GetClientRequest, context: Context
    ) -> clients_pb2.Client:
        return await self._domain.clients.get(request.client_id)

    async def ListClients(
        self, request: clients_pb2.ListClientsRequest, context: Context
    ) -> clients_pb2.ListClientsResponse:
        return await self._domain.clients.list(request)

    async def UpdateClient(
        self, request: clients_pb2.UpdateClientRequest, context: Context
    ) -> clients_pb2.Client:
        return await self._domain.clients.update(request)

    async def DeleteClient(
        self, request: clients_pb2.DeleteClientRequest, context: Context
    ) -> empty_pb2.Empty:
        await self._domain.clients.delete(request)
        return empty_pb2.Empty()

    async def DeleteRegistration(
        self, request: clients_pb2.RegistrationAccessRequest, context: Context
    ) -> empty_pb2.Empty:
        await self._domain.clients.delete_registration(request)
        return empty_pb2.Empty()

    async def UpdateRegistration(
        self, request: clients_pb2.UpdateRegistrationRequest, context: Context
    ) -> clients_pb2.RegisterClientResponse:
        return await self._domain.clients.update_registration(request)

    async def RotateClientSecret(
        self, request: clients_pb2.RotateClientSecretRequest, context: Context
    ) -> clients_pb2.RotateClientSecretResponse:
        return await self._domain.clients.rotate_secret(request)

    async def CreateInitialAccessToken(
        self, request: clients_pb2.CreateInitialAccessTokenRequest, context: Context
    ) -> clients_pb2.CreateInitialAccessTokenResponse:
        return await self._domain.clients.create_initial_access_token(request)

    # --- resource servers (RFC 8707) ---

    async def CreateResource(
        self, request: clients_pb2.CreateResourceRequest, context: Context
    ) -> clients_pb2.Resource:
        return await self._domain.resources.create(request)

    async def GetResource(
        self, request: clients_pb2.GetResourceRequest, context: Context
    ) -> clients_pb2.Resource:
        return await self._domain.resources.get(request.identifier)

    async def ListResources(
        self, request: clients_pb2.ListResourcesRequest, context: Context
    ) -> clients_pb2.ListResourcesResponse:
        return await self._domain.resources.list(request)

    async def UpdateResource(
        self, request: clients_pb2.UpdateResourceRequest, context: Context
    ) -> clients_pb2.Resource:
        return await self._domain.resources.update(request)

    async def DeleteResource(
        self, request: clients_pb2.DeleteResourceRequest, context: Context
    ) -> empty_pb2.Empty:
        await self._domain.resources.delete(request)
        return empty_pb2.Empty()

    # --- users ---

    async def CreateUser(
        self, request: authorize_pb2.CreateUserRequest, context: Context
    ) -> authorize_pb2.User:
        return await self._domain.users.create(request)

    async def GetUser(
        self, request: authorize_pb2.GetUserRequest, context: Context
    ) -> authorize_pb2.User:
        return await self._domain.users.get(request)

    async def ListUsers(
        self, request: authorize_pb2.ListUsersRequest, context: Context
    ) -> authorize_pb2.ListUsersResponse:
        return await self._domain.users.list(request)

    async def UpdateUser(
        self, request: authorize_pb2.UpdateUserRequest, context: Context
    ) -> authorize_pb2.User:
        return await self._domain.users.update(request)

    async def SetPassword(
        self, request: authorize_pb2.SetPasswordRequest, context: Context
    ) -> empty_pb2.Empty:
        await self._domain.users.set_password(request)
        return empty_pb2.Empty()

    async def DeleteUser(
        self, request: authorize_pb2.DeleteUserRequest, context: Context
    ) -> empty_pb2.Empty:
        await self._domain.users.delete(request)
        return empty_pb2.Empty()

    # --- grants ---

    async def ListGrants(
        self, request: token_pb2.ListGrantsRequest, context: Context
    ) -> admin_pb2.AdminGrants:
        listing = await self._domain.grants.list(request)
        return admin_pb2.AdminGrants(
            consents=listing.consents,
            families=listing.families,
            page=common_pb2.PageResponse(
                next_page_token=listing.next_page_token, total_size=listing.total_size
            ),
        )

    async def RevokeGrants(
        self, request: token_pb2.RevokeGrantsRequest, context: Context
    ) -> token_pb2.RevokeGrantsResponse:
        revoked = await self._domain.grants.revoke(request)
        return token_pb2.RevokeGrantsResponse(families_revoked=revoked)

    # --- signing keys and counts ---

    async def ListSigningKeys(
        self, request: empty_pb2.Empty, context: Context
    ) -> token_pb2.ListSigningKeysResponse:
        return token_pb2.ListSigningKeysResponse(keys=await self._domain.keys.list())

    async def RotateSigningKey(
        self, request: token_pb2.RotateSigningKeyRequest, context: Context
    ) -> token_pb2.SigningKey:
        return await self._domain.keys.rotate(request)

    async def RetireSigningKey(
        self, request: token_pb2.RetireSigningKeyRequest, context: Context
    ) -> token_pb2.SigningKey:
        return await self._domain.keys.retire(request)

    async def GetStats(self, request: empty_pb2.Empty, context: Context) -> admin_pb2.Stats:
        stats = await self._domain.stats.read()
        return admin_pb2.Stats(
            clients=stats.clients,
            users=stats.users,
            active_grants=stats.active_grants,
            tokens_issued_by_grant_type=stats.tokens_issued_by_grant_type,
            since=to_timestamp(stats.since),
        )

    # --- audit trail ---

    async def RecordEvent(self, request: admin_pb2.AuditEvent, context: Context) -> empty_pb2.Empty:
        # The source is the caller's certificate, never the field it filled in.
        await self._domain.audit.record(event_from_proto(request), reporter=caller_of(context))
        return empty_pb2.Empty()

    async def ListEvents(
        self, request: admin_pb2.ListEventsRequest, context: Context
    ) -> admin_pb2.ListEventsResponse:
        page = await self._domain.audit.list(
            AuditFilter(
                action=request.action,
                actor_id=request.actor_id,
                target=request.target,
                outcome=request.outcome,
                since=from_timestamp(request.since) if request.HasField("since") else None,
                until=from_timestamp(request.until) if request.HasField("until") else None,
            ),
            page_size_requested=request.page.page_size,
            page_token=request.page.page_token,
        )
        return admin_pb2.ListEventsResponse(
            events=[event_to_proto(record) for record in page.events],
            page=common_pb2.PageResponse(next_page_token=page.next_page_token),
        )

    # --- bootstrap ---

    async def Bootstrap(
        self, request: admin_pb2.BootstrapRequest, context: Context
    ) -> clients_pb2.CreateClientResponse:
        if request.recover:
            return await self._domain.bootstrap.recover(request.client_name, request.actor)
        return await self._domain.bootstrap.bootstrap(request.client_name, request.actor)
