"""The downstream ports over gRPC (DESIGN.md: a service never reads another
service's tables; it asks the owner). Deadlines, round_robin and retries of
idempotent reads come from :class:`common.grpc_client.ServiceClient`; errors
arrive as the owner's ``common.errors`` class and travel on unchanged."""

from __future__ import annotations

from google.protobuf import empty_pb2
from oauth2.v1 import (
    authorize_pb2,
    clients_pb2,
    common_pb2,
    token_pb2,
)

from common.grpc_client import ChannelSecurity
from common.services import (
    AuthorizeClient,
    ClientsClient,
    TokenClient,
    authorize_client,
    clients_client,
    token_client,
)
from common.settings import CommonSettings


class GrpcClientRegistry:
    def __init__(self, client: ClientsClient) -> None:
        self._client = client

    @classmethod
    def from_settings(cls, settings: CommonSettings) -> GrpcClientRegistry:
        return cls(
            clients_client(
                settings.clients_target,
                settings.grpc_deadline_seconds,
                ChannelSecurity.from_settings(settings),
            )
        )

    async def create_client(
        self, request: clients_pb2.CreateClientRequest
    ) -> clients_pb2.CreateClientResponse:
        response: clients_pb2.CreateClientResponse = await self._client.call.CreateClient(request)
        return response

    async def get_client(self, client_id: str) -> clients_pb2.Client:
        client: clients_pb2.Client = await self._client.call.GetClient(
            clients_pb2.GetClientRequest(client_id=client_id)
        )
        return client

    async def list_clients(
        self, request: clients_pb2.ListClientsRequest
    ) -> clients_pb2.ListClientsResponse:
        response: clients_pb2.ListClientsResponse = await self._client.call.ListClients(request)
        return response

    async def update_client(self, request: clients_pb2.UpdateClientRequest) -> clients_pb2.Client:
        client: clients_pb2.Client = await self._client.call.UpdateClient(request)
        return client

    async def delete_client(self, client_id: str, actor: common_pb2.Actor) -> None:
        await self._client.call.DeleteClient(
            clients_pb2.DeleteClientRequest(client_id=client_id, actor=actor)
        )

    async def delete_registration(self, request: clients_pb2.RegistrationAccessRequest) -> None:
        await self._client.call.DeleteRegistration(request)

    async def get_registration(
        self, request: clients_pb2.RegistrationAccessRequest
    ) -> clients_pb2.RegisterClientResponse:
        answer: clients_pb2.RegisterClientResponse = await self._client.call.GetRegistration(
            request
        )
        return answer

    async def update_registration(
        self, request: clients_pb2.UpdateRegistrationRequest
    ) -> clients_pb2.RegisterClientResponse:
        answer: clients_pb2.RegisterClientResponse = await self._client.call.UpdateRegistration(
            request
        )
        return answer

    async def rotate_client_secret(
        self, client_id: str, actor: common_pb2.Actor
    ) -> clients_pb2.RotateClientSecretResponse:
        response: clients_pb2.RotateClientSecretResponse = (
            await self._client.call.RotateClientSecret(
                clients_pb2.RotateClientSecretRequest(client_id=client_id, actor=actor)
            )
        )
        return response

    async def create_initial_access_token(
        self, request: clients_pb2.CreateInitialAccessTokenRequest
    ) -> clients_pb2.CreateInitialAccessTokenResponse:
        response: clients_pb2.CreateInitialAccessTokenResponse = (
            await self._client.call.CreateInitialAccessToken(request)
        )
        return response

    async def create_resource(
        self, request: clients_pb2.CreateResourceRequest
    ) -> clients_pb2.Resource:
        resource: clients_pb2.Resource = await self._client.call.CreateResource(request)
        return resource

    async def get_resource(self, identifier: str) -> clients_pb2.Resource:
        resource: clients_pb2.Resource = await self._client.call.GetResource(
            clients_pb2.GetResourceRequest(identifier=identifier)
        )
        return resource

    async def list_resources(
        self, request: clients_pb2.ListResourcesRequest
    ) -> clients_pb2.ListResourcesResponse:
        response: clients_pb2.ListResourcesResponse = await self._client.call.ListResources(request)
        return response

    async def update_resource(
        self, request: clients_pb2.UpdateResourceRequest
    ) -> clients_pb2.Resource:
        resource: clients_pb2.Resource = await self._client.call.UpdateResource(request)
        return resource

    async def delete_resource(self, identifier: str, actor: common_pb2.Actor) -> None:
        await self._client.call.DeleteResource(
            clients_pb2.DeleteResourceRequest(identifier=identifier, actor=actor)
        )

    async def close(self) -> None:
        await self._client.close()


class GrpcUserDirectory:
    def __init__(self, client: AuthorizeClient) -> None:
        self._client = client

    @classmethod
    def from_settings(cls, settings: CommonSettings) -> GrpcUserDirectory:
        return cls(
            authorize_client(
                settings.authorize_target,
                settings.grpc_deadline_seconds,
                ChannelSecurity.from_settings(settings),
            )
        )

    async def create_user(self, request: authorize_pb2.CreateUserRequest) -> authorize_pb2.User:
        user: authorize_pb2.User = await self._client.call.CreateUser(request)
        return user

    async def get_user(self, request: authorize_pb2.GetUserRequest) -> authorize_pb2.User:
        user: authorize_pb2.User = await self._client.call.GetUser(request)
        return user

    async def list_users(
        self, request: authorize_pb2.ListUsersRequest
    ) -> authorize_pb2.ListUsersResponse:
        response: authorize_pb2.ListUsersResponse = await self._client.call.ListUsers(request)
        return response

    async def update_user(self, request: authorize_pb2.UpdateUserRequest) -> authorize_pb2.User:
        user: authorize_pb2.User = await self._client.call.UpdateUser(request)
        return user

    async def set_password(self, request: authorize_pb2.SetPasswordRequest) -> None:
        await self._client.call.SetPassword(request)

    async def delete_user(self, user_id: str, actor: common_pb2.Actor) -> None:
        await self._client.call.DeleteUser(
            authorize_pb2.DeleteUserRequest(user_id=user_id, actor=actor)
        )

    async def list_consents(
        self, *, user_id: str, client_id: str, page: common_pb2.PageRequest
    ) -> authorize_pb2.ListConsentsResponse:
        response: authorize_pb2.ListConsentsResponse = await self._client.call.ListConsents(
            authorize_pb2.ListConsentsRequest(user_id=user_id, client_id=client_id, page=page)
        )
        return response

    async def revoke_consents(
        self, *, user_id: str, client_id: str, actor: common_pb2.Actor
    ) -> int:
        response: authorize_pb2.RevokeConsentsResponse = await self._client.call.RevokeConsents(
            authorize_pb2.RevokeConsentsRequest(client_id=client_id, user_id=user_id, actor=actor)
        )
        return response.consents_revoked

    async def close(self) -> None:
        await self._client.close()


class GrpcTokenAuthority:
    def __init__(self, client: TokenClient) -> None:
        self._client = client

    @classmethod
    def from_settings(cls, settings: CommonSettings) -> GrpcTokenAuthority:
        return cls(
            token_client(
                settings.token_target,
                settings.grpc_deadline_seconds,
                ChannelSecurity.from_settings(settings),
            )
        )

    async def list_grants(
        self, request: token_pb2.ListGrantsRequest
    ) -> token_pb2.ListGrantsResponse:
        response: token_pb2.ListGrantsResponse = await self._client.call.ListGrants(request)
        return response

    async def revoke_grants(self, request: token_pb2.RevokeGrantsRequest) -> int:
        response: token_pb2.RevokeGrantsResponse = await self._client.call.RevokeGrants(request)
        return response.families_revoked

    async def list_signing_keys(self) -> list[token_pb2.SigningKey]:
        response: token_pb2.ListSigningKeysResponse = await self._client.call.ListSigningKeys(
            empty_pb2.Empty()
        )
        return list(response.keys)

    async def rotate_signing_key(
        self, request: token_pb2.RotateSigningKeyRequest
    ) -> token_pb2.SigningKey:
        key: token_pb2.SigningKey = await self._client.call.RotateSigningKey(request)
        return key

    async def retire_signing_key(
        self, request: token_pb2.RetireSigningKeyRequest
    ) -> token_pb2.SigningKey:
        key: token_pb2.SigningKey = await self._client.call.RetireSigningKey(request)
        return key

    async def token_stats(self) -> token_pb2.TokenStats:
        stats: token_pb2.TokenStats = await self._client.call.GetTokenStats(empty_pb2.Empty())
        return stats

    async def close(self) -> None:
        await self._client.close()
