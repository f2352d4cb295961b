"""The token endpoint (RFC 6749 section 3.2) as a list of small named steps.

grant_type known? -> authenticate the client -> grant allowed for the client
(its kind of authentication, then its registered grant_types) -> the grant
validates the scope -> issue. Each step raises one specific error.
"""

from __future__ import annotations

from common.errors import InvalidClient, InvalidRequest, UnauthorizedClient, UnsupportedGrantType
from services.token.domain.grants import GRANTS, PLANNED_GRANT_TYPES, Grant
from services.token.domain.grants.base import GrantServices, TokenRequest, TokenResponse
from services.token.domain.ports import (
    PUBLIC_AUTH_METHOD,
    AuthenticatedClient,
    ClientAuthenticator,
)
from services.token.domain.stats import TokenStats
from services.token.metrics import TOKENS_ISSUED


class TokenEndpoint:
    """RFC 6749 section 3.2: dispatches a token request to its grant (section 4)."""

    def __init__(
        self,
        authenticator: ClientAuthenticator,
        services: GrantServices,
        grants: dict[str, type[Grant]] | None = None,
        stats: TokenStats | None = None,
    ) -> None:
        self._authenticator = authenticator
        self._services = services
        self._grants = GRANTS if grants is None else grants
        self._stats = stats

    async def exchange(self, request: TokenRequest) -> TokenResponse:
        grant_cls = self.find_grant(request.grant_type)
        client = await self.authenticate_client(request)
        self.check_grant_allowed(client, grant_cls)
        grant = grant_cls(self._services)
        response = await grant.create_token_response(client, request)
        TOKENS_ISSUED.labels(grant_cls.GRANT_TYPE).inc()
        if self._stats is not None:
            self._stats.record_issued(grant_cls.GRANT_TYPE)
        return response

    def find_grant(self, grant_type: str) -> type[Grant]:
        if not grant_type:
            raise InvalidRequest("Missing 'grant_type'")
        grant_cls = self._grants.get(grant_type)
        if grant_cls is not None:
            return grant_cls
        if grant_type in PLANNED_GRANT_TYPES:
            raise UnsupportedGrantType(
                f"Unsupported grant_type '{grant_type}': not supported by this server yet"
            )
        raise UnsupportedGrantType(f"Unsupported grant_type '{grant_type}'")

    async def authenticate_client(self, request: TokenRequest) -> AuthenticatedClient:
        if not request.credentials.client_id:
            raise InvalidClient("Client authentication required")
        return await self._authenticator.authenticate(request.credentials)

    @staticmethod
    def check_grant_allowed(client: AuthenticatedClient, grant_cls: type[Grant]) -> None:
        """RFC 6749 section 5.2: unauthorized_client when the client may not use the grant,
        by its kind (the grant's TOKEN_ENDPOINT_AUTH_METHODS) or by its registration."""
        grant_type = grant_cls.GRANT_TYPE
        method = client.token_endpoint_auth_method
        if method not in grant_cls.TOKEN_ENDPOINT_AUTH_METHODS:
            if method == PUBLIC_AUTH_METHOD:
                raise UnauthorizedClient(f"Public clients may not use grant_type '{grant_type}'")
            raise UnauthorizedClient(
                f"Clients using '{method}' may not use grant_type '{grant_type}'"
            )
        if grant_type not in client.grant_types:
            raise UnauthorizedClient(f"The client is not allowed to use grant_type '{grant_type}'")
