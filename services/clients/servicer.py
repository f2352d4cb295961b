"""ClientsService over gRPC: proto -> domain, one registry call, domain -> proto."""

from __future__ import annotations

from google.protobuf import empty_pb2
from oauth2.v1 import clients_pb2, clients_pb2_grpc, common_pb2

from common.grpc_types import Context
from common.timeutil import to_timestamp
from services.clients.domain import (
    Client,
    ClientMetadata,
    ClientRegistration,
    ClientRegistry,
    Registration,
    Resource,
    ResourceFields,
    ResourceRegistry,
)


def metadata_from_proto(message: clients_pb2.ClientMetadata) -> ClientMetadata:
    return ClientMetadata(
        client_name=message.client_name,
        redirect_uris=tuple(message.redirect_uris),
        grant_types=tuple(message.grant_types),
        response_types=tuple(message.response_types),
        scope=message.scope,
        token_endpoint_auth_method=message.token_endpoint_auth_method,
        require_pkce=message.require_pkce if message.HasField("require_pkce") else None,
        post_logout_redirect_uris=tuple(message.post_logout_redirect_uris),
        access_token_signing_alg=message.access_token_signing_alg,
        always_issue_refresh_token=message.always_issue_refresh_token,
        contacts=tuple(message.contacts),
        client_uri=message.client_uri,
        logo_uri=message.logo_uri,
        introspection=message.introspection,
        allowed_cors_origins=tuple(message.allowed_cors_origins),
        enabled=message.enabled if message.HasField("enabled") else None,
        require_pushed_authorization_requests=message.require_pushed_authorization_requests,
        jwks=message.jwks,
        jwks_uri=message.jwks_uri,
        require_signed_request_object=message.require_signed_request_object,
        request_object_signing_alg=message.request_object_signing_alg,
        backchannel_logout_uri=message.backchannel_logout_uri,
        backchannel_logout_session_required=message.backchannel_logout_session_required,
        token_exchange_audiences=tuple(message.token_exchange_audiences),
        dpop_bound_access_tokens=message.dpop_bound_access_tokens,
        tls_client_auth_subject_dn=message.tls_client_auth_subject_dn,
        tls_client_auth_san_dns=message.tls_client_auth_san_dns,
        tls_client_auth_san_uri=message.tls_client_auth_san_uri,
        tls_client_auth_san_ip=message.tls_client_auth_san_ip,
        tls_client_auth_san_email=message.tls_client_auth_san_email,
        tls_client_certificate_bound_access_tokens=message.tls_client_certificate_bound_access_tokens,
    )


def client_to_proto(client: Client) -> clients_pb2.Client:
    """The client as the contract shows it; the secret hash stays inside."""
    return clients_pb2.Client(
        client_id=client.client_id,
        client_name=client.client_name,
        redirect_uris=client.redirect_uris,
        grant_types=client.grant_types,
        response_types=client.response_types,
        scope=client.scope,
        token_endpoint_auth_method=client.token_endpoint_auth_method,
        require_pkce=client.require_pkce,
        post_logout_redirect_uris=client.post_logout_redirect_uris,
        access_token_signing_alg=client.access_token_signing_alg,
        always_issue_refresh_token=client.always_issue_refresh_token,
        contacts=client.contacts,
        client_uri=client.client_uri,
        logo_uri=client.logo_uri,
        created_at=to_timestamp(client.created_at),
        updated_at=to_timestamp(client.updated_at),
        client_secret_expires_at=to_timestamp(client.client_secret_expires_at),
        dynamically_registered=client.dynamically_registered,
        revision=client.revision,
        introspection=client.introspection,
        allowed_cors_origins=client.allowed_cors_origins,
        enabled=client.enabled,
        require_pushed_authorization_requests=client.require_pushed_authorization_requests,
        jwks=client.jwks,
        jwks_uri=client.jwks_uri,
        require_signed_request_object=client.require_signed_request_object,
        request_object_signing_alg=client.request_object_signing_alg,
        backchannel_logout_uri=client.backchannel_logout_uri,
        backchannel_logout_session_required=client.backchannel_logout_session_required,
        token_exchange_audiences=client.token_exchange_audiences,
        dpop_bound_access_tokens=client.dpop_bound_access_tokens,
        tls_client_auth_subject_dn=client.tls_client_auth_subject_dn,
        tls_client_auth_san_dns=client.tls_client_auth_san_dns,
        tls_client_auth_san_uri=client.tls_client_auth_san_uri,
        tls_client_auth_san_ip=client.tls_client_auth_san_ip,
        tls_client_auth_san_email=client.tls_client_auth_san_email,
        tls_client_certificate_bound_access_tokens=client.tls_client_certificate_bound_access_tokens,
    )


def registration_to_proto(registration: Registration) -> clients_pb2.RegisterClientResponse:
    """RFC 7591 section 3.2.1 client information; the gateway renders it as JSON."""
    client = registration.client
    return clients_pb2.RegisterClientResponse(
        client=client_to_proto(client),
        client_secret=registration.client_secret,
        registration_access_token=registration.registration_access_token,
        client_id_issued_at=to_timestamp(client.created_at),
    )


def resource_fields_from_proto(message: clients_pb2.Resource) -> ResourceFields:
    return ResourceFields(
        name=message.name,
        scopes=tuple(message.scopes),
        access_token_ttl_seconds=message.access_token_ttl_seconds,
        introspection_client_id=message.introspection_client_id,
    )


def resource_to_proto(resource: Resource) -> clients_pb2.Resource:
    return clients_pb2.Resource(
        identifier=resource.identifier,
        name=resource.name,
        scopes=resource.scopes,
        access_token_ttl_seconds=resource.access_token_ttl_seconds,
        introspection_client_id=resource.introspection_client_id,
        created_at=to_timestamp(resource.created_at),
        updated_at=to_timestamp(resource.updated_at),
    )


class ClientsServicer(clients_pb2_grpc.ClientsServiceServicer):
    """oauth2.v1.ClientsService (RFC 6749 section 2 registry and section 2.3
    authentication; RFC 7591 registration and RFC 7592 management; the resource
    servers of RFC 8707)."""

    def __init__(
        self,
        registry: ClientRegistry,
        registration: ClientRegistration,
        resources: ResourceRegistry,
    ) -> None:
        self._registry = registry
        self._registration = registration
        self._resources = resources

    async def CreateClient(
        self, request: clients_pb2.CreateClientRequest, context: Context
    ) -> clients_pb2.CreateClientResponse:
        client, secret = await self._registry.create(
            metadata_from_proto(request.metadata),
            client_id=request.client_id,
            client_secret_plain=request.client_secret,
        )
        return clients_pb2.CreateClientResponse(
            client=client_to_proto(client), client_secret=secret
        )

    async def GetClient(
        self, request: clients_pb2.GetClientRequest, context: Context
    ) -> clients_pb2.Client:
        return client_to_proto(await self._registry.get(request.client_id))

    async def ListClients(
        self, request: clients_pb2.ListClientsRequest, context: Context
    ) -> clients_pb2.ListClientsResponse:
        page = await self._registry.list(
            page_size_requested=request.page.page_size,
            page_token=request.page.page_token,
            search=request.search,
        )
        return clients_pb2.ListClientsResponse(
            clients=[client_to_proto(client) for client in page.clients],
            page=common_pb2.PageResponse(
                next_page_token=page.next_page_token, total_size=page.total_size
            ),
        )

    async def UpdateClient(
        self, request: clients_pb2.UpdateClientRequest, context: Context
    ) -> clients_pb2.Client:
        client = await self._registry.update(
            request.client_id, metadata_from_proto(request.metadata), request.update_mask
        )
        return client_to_proto(client)

    async def DeleteClient(
        self, request: clients_pb2.DeleteClientRequest, context: Context
    ) -> empty_pb2.Empty:
        await self._registry.delete(request.client_id)
        return empty_pb2.Empty()

    async def RotateClientSecret(
        self, request: clients_pb2.RotateClientSecretRequest, context: Context
    ) -> clients_pb2.RotateClientSecretResponse:
        client, secret = await self._registry.rotate_secret(request.client_id)
        return clients_pb2.RotateClientSecretResponse(
            client=client_to_proto(client), client_secret=secret
        )

    async def AuthenticateClient(
        self, request: clients_pb2.AuthenticateClientRequest, context: Context
    ) -> clients_pb2.Client:
        credentials = request.credentials
        client = await self._registry.authenticate(
            credentials.client_id,
            credentials.client_secret,
            credentials.auth_method,
            credentials.client_assertion,
            credentials.client_certificate,
        )
        return client_to_proto(client)

    async def ValidateRedirectUri(
        self, request: clients_pb2.ValidateRedirectUriRequest, context: Context
    ) -> clients_pb2.ValidateRedirectUriResponse:
        valid, client = await self._registry.validate_redirect_uri(
            request.client_id, request.redirect_uri, request.kind
        )
        return clients_pb2.ValidateRedirectUriResponse(valid=valid, client=client_to_proto(client))

    async def RegisterClient(
        self, request: clients_pb2.RegisterClientRequest, context: Context
    ) -> clients_pb2.RegisterClientResponse:
        registration = await self._registration.register(
            metadata_from_proto(request.metadata),
            initial_access_token=request.initial_access_token,
            remote_addr=request.actor.remote_addr,
        )
        return registration_to_proto(registration)

    async def GetRegistration(
        self, request: clients_pb2.RegistrationAccessRequest, context: Context
    ) -> clients_pb2.RegisterClientResponse:
        registration = await self._registration.get(
            request.client_id, request.registration_access_token
        )
        return registration_to_proto(registration)

    async def UpdateRegistration(
        self, request: clients_pb2.UpdateRegistrationRequest, context: Context
    ) -> clients_pb2.RegisterClientResponse:
        registration = await self._registration.update(
            request.client_id,
            request.registration_access_token,
            metadata_from_proto(request.metadata),
            client_secret=request.client_secret,
            remote_addr=request.actor.remote_addr,
        )
        return registration_to_proto(registration)

    async def DeleteRegistration(
        self, request: clients_pb2.RegistrationAccessRequest, context: Context
    ) -> empty_pb2.Empty:
        await self._registration.delete(request.client_id, request.registration_access_token)
        return empty_pb2.Empty()

    async def CreateInitialAccessToken(
        self, request: clients_pb2.CreateInitialAccessTokenRequest, context: Context
    ) -> clients_pb2.CreateInitialAccessTokenResponse:
        plain, token = await self._registration.create_initial_access_token(
            expires_in=request.expires_in, max_uses=request.max_uses
        )
        return clients_pb2.CreateInitialAccessTokenResponse(
            initial_access_token=plain, expires_at=to_timestamp(token.expires_at)
        )

    # --- resource servers (RFC 8707) ---

    async def CreateResource(
        self, request: clients_pb2.CreateResourceRequest, context: Context
    ) -> clients_pb2.Resource:
        resource = await self._resources.create(
            request.resource.identifier, resource_fields_from_proto(request.resource)
        )
        return resource_to_proto(resource)

    async def GetResource(
        self, request: clients_pb2.GetResourceRequest, context: Context
    ) -> clients_pb2.Resource:
        return resource_to_proto(await self._resources.get(request.identifier))

    async def ListResources(
        self, request: clients_pb2.ListResourcesRequest, context: Context
    ) -> clients_pb2.ListResourcesResponse:
        page = await self._resources.list(
            page_size_requested=request.page.page_size, page_token=request.page.page_token
        )
        return clients_pb2.ListResourcesResponse(
            resources=[resource_to_proto(resource) for resource in page.resources],
            page=common_pb2.PageResponse(
                next_page_token=page.next_page_token, total_size=page.total_size
            ),
        )

    async def UpdateResource(
        self, request: clients_pb2.UpdateResourceRequest, context: Context
    ) -> clients_pb2.Resource:
        resource = await self._resources.update(
            request.resource.identifier,
            resource_fields_from_proto(request.resource),
            request.update_mask,
        )
        return resource_to_proto(resource)

    async def DeleteResource(
        self, request: clients_pb2.DeleteResourceRequest, context: Context
    ) -> empty_pb2.Empty:
        await self._resources.delete(request.identifier)
        return empty_pb2.Empty()
