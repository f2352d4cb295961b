"""The ClientDirectory port over gRPC: the clients service owns the registry
(DESIGN.md: a service never reads another service's tables)."""

from __future__ import annotations

from oauth2.v1 import clients_pb2, common_pb2

from common.errors import NotFound
from common.grpc_client import ChannelSecurity
from common.resources import GrpcResourceDirectory
from common.services import ClientsClient, clients_client
from common.settings import CommonSettings
from services.authorize.domain.model import ClientInfo, PresentedCredentials


def client_info(client: clients_pb2.Client) -> ClientInfo:
    return ClientInfo(
        client_id=client.client_id,
        client_name=client.client_name,
        redirect_uris=tuple(client.redirect_uris),
        grant_types=tuple(client.grant_types),
        scope=tuple(client.scope.split()),
        token_endpoint_auth_method=client.token_endpoint_auth_method,
        require_pkce=client.require_pkce,
        client_uri=client.client_uri,
        logo_uri=client.logo_uri,
        require_pushed_authorization_requests=client.require_pushed_authorization_requests,
        jwks=client.jwks,
        jwks_uri=client.jwks_uri,
        require_signed_request_object=client.require_signed_request_object,
        request_object_signing_alg=client.request_object_signing_alg,
    )


class GrpcClientDirectory:
    def __init__(self, clients: ClientsClient) -> None:
        self._clients = clients

    @classmethod
    def from_settings(cls, settings: CommonSettings) -> GrpcClientDirectory:
        return cls(
            clients_client(
                settings.clients_target,
                settings.grpc_deadline_seconds,
                ChannelSecurity.from_settings(settings),
            )
        )

    def resources(self) -> GrpcResourceDirectory:
        """The registered resource servers (RFC 8707), over the same channel."""
        return GrpcResourceDirectory(self._clients)

    async def get_client(self, client_id: str) -> ClientInfo | None:
        try:
            client = await self._clients.call.GetClient(
                clients_pb2.GetClientRequest(client_id=client_id)
            )
        except NotFound:
            return None
        # A disabled client may start no authorization: to the pipeline it is unknown.
        return client_info(client) if client.enabled else None

    async def authenticate(self, credentials: PresentedCredentials) -> str:
        """The clients service checks them (and refuses a disabled client): the
        client_id it authenticated, or its InvalidClient."""
        client = await self._clients.call.AuthenticateClient(
            clients_pb2.AuthenticateClientRequest(
                credentials=common_pb2.ClientCredentials(
                    client_id=credentials.client_id,
                    client_secret=credentials.client_secret,
                    auth_method=credentials.auth_method,
                    client_assertion=credentials.client_assertion,
                )
            )
        )
        return client.client_id

    async def close(self) -> None:
        await self._clients.close()
