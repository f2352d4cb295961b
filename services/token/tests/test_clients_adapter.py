"""GrpcClientAuthenticator against a stand-in ClientsService over real gRPC."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import grpc
import pytest
from oauth2.v1 import clients_pb2, clients_pb2_grpc

from common.errors import InvalidClient, NotFound, TemporarilyUnavailable
from common.grpc_server import ErrorInterceptor
from common.grpc_types import Context
from common.services import clients_client
from common.timeutil import to_timestamp
from services.token.clients_adapter import (
    GrpcClientAuthenticator,
    GrpcLogoutReceivers,
    to_authenticated_client,
)
from services.token.domain.backchannel_logout import LogoutReceiver
from services.token.domain.ports import AuthenticatedClient, ClientCredentials


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class StandInClients(clients_pb2_grpc.ClientsServiceServicer):
    async def AuthenticateClient(
        self, request: clients_pb2.AuthenticateClientRequest, context: Context
    ) -> clients_pb2.Client:
        creds = request.credentials
        if creds.client_id == "ghost":
            raise NotFound("no such client")
        if (creds.client_id, creds.client_secret, creds.auth_method) != (
            "svc",
            "s3cret",
            "client_secret_post",
        ):
            raise InvalidClient("Client authentication failed")
        return clients_pb2.Client(
            client_id="svc",
            grant_types=["client_credentials"],
            scope="read  write read",
            token_endpoint_auth_method="client_secret_post",
            access_token_signing_alg="RS256",
        )

    async def GetClient(
        self, request: clients_pb2.GetClientRequest, context: Context
    ) -> clients_pb2.Client:
        uri = "https://rp.example/bcl"
        known = {
            "rp": clients_pb2.Client(
                client_id="rp",
                enabled=True,
                backchannel_logout_uri=uri,
                backchannel_logout_session_required=True,
            ),
            "off": clients_pb2.Client(client_id="off", enabled=False, backchannel_logout_uri=uri),
            "none": clients_pb2.Client(client_id="none", enabled=True),
        }
        if request.client_id not in known:
            raise NotFound("no such client")
        return known[request.client_id]


@pytest.fixture
async def target() -> AsyncIterator[str]:
    server = grpc.aio.server(interceptors=[ErrorInterceptor()])
    clients_pb2_grpc.add_ClientsServiceServicer_to_server(StandInClients(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield f"127.0.0.1:{port}"
    await server.stop(None)


async def test_authenticates_through_the_clients_service(target: str) -> None:
    clients = clients_client(target, deadline=5)
    try:
        authenticator = GrpcClientAuthenticator(clients)
        client = await authenticator.authenticate(
            ClientCredentials("svc", "s3cret", "client_secret_post")
        )
        assert client == AuthenticatedClient(
            client_id="svc",
            token_endpoint_auth_method="client_secret_post",
            grant_types=("client_credentials",),
            scope=("read", "write"),
            access_token_signing_alg="RS256",
        )
        with pytest.raises(InvalidClient):
            await authenticator.authenticate(ClientCredentials("svc", "bad", "client_secret_post"))
        with pytest.raises(InvalidClient):
            await authenticator.authenticate(ClientCredentials("ghost", "x", "client_secret_post"))
    finally:
        await clients.close()


async def test_stopped_clients_service_is_temporarily_unavailable() -> None:
    clients = clients_client(f"127.0.0.1:{free_port()}", deadline=1)
    try:
        with pytest.raises(TemporarilyUnavailable):
            await GrpcClientAuthenticator(clients).authenticate(
                ClientCredentials("svc", "s3cret", "client_secret_post")
            )
    finally:
        await clients.close()


def test_the_secrets_expiry_travels_so_a_cache_keeps_it_no_longer() -> None:
    expires = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    proto = clients_pb2.Client(client_id="svc", client_secret_expires_at=to_timestamp(expires))
    assert to_authenticated_client(proto).credentials_expire_at == expires
    assert (
        to_authenticated_client(clients_pb2.Client(client_id="svc")).credentials_expire_at is None
    )


def test_exchange_audiences_travel() -> None:
    proto = clients_pb2.Client(
        client_id="svc",
        token_endpoint_auth_method="client_secret_basic",
        backchannel_logout_uri="https://rp.example/logout?tenant=a",
        backchannel_logout_session_required=True,
        token_exchange_audiences=["https://api.example", "billing"],
    )
    client = to_authenticated_client(proto)
    assert client.token_exchange_audiences == ("https://api.example", "billing")
    bare = to_authenticated_client(clients_pb2.Client(client_id="svc"))
    assert bare.token_exchange_audiences == ()


async def test_logout_receivers_through_the_clients_service(target: str) -> None:
    """Only an enabled client with a backchannel_logout_uri hears of logouts."""
    clients = clients_client(target, deadline=5)
    try:
        receivers = GrpcLogoutReceivers(clients)
        assert await receivers.receiver("rp") == LogoutReceiver(
            client_id="rp", uri="https://rp.example/bcl", session_required=True
        )
        for client_id in ("off", "none", "ghost"):
            assert await receivers.receiver(client_id) is None, client_id
    finally:
        await clients.close()
