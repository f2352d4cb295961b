"""ClientAuthenticator over gRPC: asks the clients service (RFC 6749 section 2.3).

ServiceClient already turns failed calls into common.errors classes:
invalid_client for bad credentials, temporarily_unavailable when the clients
service is down or slow. Both travel up unchanged, so a stopped clients
service is a 503 at the gateway, never a 500.
"""

from __future__ import annotations

from datetime import UTC

from oauth2.v1 import clients_pb2, common_pb2

from common.errors import InvalidClient, NotFound
from common.services import ClientsClient
from services.token.domain.backchannel_logout import LogoutReceiver
from services.token.domain.ports import AuthenticatedClient, ClientCredentials


def to_authenticated_client(client: clients_pb2.Client) -> AuthenticatedClient:
    return AuthenticatedClient(
        client_id=client.client_id,
        token_endpoint_auth_method=client.token_endpoint_auth_method,
        grant_types=tuple(client.grant_types),
        # The registry validated the scope when it was registered; a plain split suffices.
        scope=tuple(dict.fromkeys(token for token in client.scope.split(" ") if token)),
        access_token_signing_alg=client.access_token_signing_alg,
        always_issue_refresh_token=client.always_issue_refresh_token,
        introspection=client.introspection,
        token_exchange_audiences=tuple(client.token_exchange_audiences),
        dpop_bound_access_tokens=client.dpop_bound_access_tokens,
        tls_client_certificate_bound_access_tokens=(
            client.tls_client_certificate_bound_access_tokens
        ),
        credentials_expire_at=(
            client.client_secret_expires_at.ToDatetime(tzinfo=UTC)
            if client.HasField("client_secret_expires_at")
            else None
        ),
    )


class GrpcClientAuthenticator:
    """ClientAuthenticator backed by ClientsService.AuthenticateClient (RFC 6749 section 2.3)."""

    def __init__(self, clients: ClientsClient) -> None:
        self._clients = clients

    async def authenticate(self, credentials: ClientCredentials) -> AuthenticatedClient:
        request = clients_pb2.AuthenticateClientRequest(
            credentials=common_pb2.ClientCredentials(
                client_id=credentials.client_id,
                client_secret=credentials.client_secret,
                auth_method=credentials.auth_method,
                client_assertion=credentials.client_assertion,
                client_certificate=credentials.client_certificate,
            )
        )
        try:
            client = await self._clients.call.AuthenticateClient(request)
        except NotFound:
            # An unknown client is a failed authentication (RFC 6749 section 5.2), not a 404.
            raise InvalidClient("Client authentication failed") from None
        return to_authenticated_client(client)


class GrpcLogoutReceivers:
    """LogoutReceivers (services/token/domain/backchannel_logout.py) backed by
    ClientsService.GetClient: a client's back-channel logout registration, read
    when a session of it ends (rare enough to need no cache)."""

    def __init__(self, clients: ClientsClient) -> None:
        self._clients = clients

    async def receiver(self, client_id: str) -> LogoutReceiver | None:
        try:
            client = await self._clients.call.GetClient(
                clients_pb2.GetClientRequest(client_id=client_id)
            )
        except NotFound:
            return None
        if not client.backchannel_logout_uri or not client.enabled:
            return None
        return LogoutReceiver(
            client_id=client.client_id,
            uri=client.backchannel_logout_uri,
            session_required=client.backchannel_logout_session_required,
        )
