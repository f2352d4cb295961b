"""One way to reach each service: its stub, its gRPC service name and which of its
methods are safe to retry on UNAVAILABLE (reads, and checks that change nothing).

Every process builds its clients here (with ``ChannelSecurity.from_settings``: its
certificate when mTLS is on), so the knowledge of a contract lives in one
place beside common.grpc_client rather than once per caller.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, TypeAlias

from oauth2.v1 import admin_pb2_grpc, authorize_pb2_grpc, clients_pb2_grpc, token_pb2_grpc

from common.grpc_client import PLAINTEXT, ChannelSecurity, ServiceClient

if TYPE_CHECKING:
    # The async stubs exist in the typed stubs (mypy-protobuf) only.
    from oauth2.v1.admin_pb2_grpc import AdminServiceAsyncStub
    from oauth2.v1.authorize_pb2_grpc import AuthorizeServiceAsyncStub
    from oauth2.v1.clients_pb2_grpc import ClientsServiceAsyncStub
    from oauth2.v1.token_pb2_grpc import TokenServiceAsyncStub

CLIENTS_SERVICE: Final = "oauth2.v1.ClientsService"
AUTHORIZE_SERVICE: Final = "oauth2.v1.AuthorizeService"
TOKEN_SERVICE: Final = "oauth2.v1.TokenService"  # noqa: S105 - a service name
ADMIN_SERVICE: Final = "oauth2.v1.AdminService"

# Never Exchange, Revoke, Create*, Issue*, Consume* or anything else that writes,
# except where writing twice is the same as writing once (RevokeGrants).
_CLIENTS_RETRYABLE = (
    "GetClient",
    "ListClients",
    "AuthenticateClient",
    "ValidateRedirectUri",
    "GetRegistration",
    "GetResource",
    "ListResources",
)
_AUTHORIZE_RETRYABLE = (
    "GetUser",
    "ListUsers",
    "ListConsents",
    "GetUserClaims",
)
_TOKEN_RETRYABLE = (
    "GetJwks",
    "Introspect",
    "VerifyAccessToken",
    "DecodeIdTokenHint",
    "ListSigningKeys",
    "ListGrants",
    "GetTokenStats",
    "RevokeGrants",
)
_ADMIN_RETRYABLE = (
    "GetClient",
    "ListClients",
    "GetResource",
    "ListResources",
    "GetUser",
    "ListUsers",
    "ListGrants",
    "ListSigningKeys",
    "GetStats",
    "ListEvents",
)

ClientsClient: TypeAlias = "ServiceClient[ClientsServiceAsyncStub]"
AuthorizeClient: TypeAlias = "ServiceClient[AuthorizeServiceAsyncStub]"
TokenClient: TypeAlias = "ServiceClient[TokenServiceAsyncStub]"
AdminClient: TypeAlias = "ServiceClient[AdminServiceAsyncStub]"


def clients_client(
    target: str, deadline: float, security: ChannelSecurity = PLAINTEXT
) -> ClientsClient:
    return ServiceClient(
        clients_pb2_grpc.ClientsServiceStub,
        target,
        CLIENTS_SERVICE,
        deadline=deadline,
        security=security,
        idempotent_methods=_CLIENTS_RETRYABLE,
    )


def authorize_client(
    target: str, deadline: float, security: ChannelSecurity = PLAINTEXT
) -> AuthorizeClient:
    return ServiceClient(
        authorize_pb2_grpc.AuthorizeServiceStub,
        target,
        AUTHORIZE_SERVICE,
        deadline=deadline,
        security=security,
        idempotent_methods=_AUTHORIZE_RETRYABLE,
    )


def token_client(
    target: str, deadline: float, security: ChannelSecurity = PLAINTEXT
) -> TokenClient:
    return ServiceClient(
        token_pb2_grpc.TokenServiceStub,
        target,
        TOKEN_SERVICE,
        deadline=deadline,
        security=security,
        idempotent_methods=_TOKEN_RETRYABLE,
    )


def admin_client(
    target: str, deadline: float, security: ChannelSecurity = PLAINTEXT
) -> AdminClient:
    return ServiceClient(
        admin_pb2_grpc.AdminServiceStub,
        target,
        ADMIN_SERVICE,
        deadline=deadline,
        security=security,
        idempotent_methods=_ADMIN_RETRYABLE,
    )
