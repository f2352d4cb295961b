"""The token endpoint (RFC 6749 section 3.2) as a list of small named steps.

grant_type known? -> authenticate the client -> grant allowed for the client
(its kind of authentication, then its registered grant_types) -> the DPoP proof,
when there is one (RFC 9449; required for a client registered with
``dpop_bound_access_tokens``), its key handed to the grant -> only the parameters
the grant declares -> the grant validates the scope -> issue. Each step raises one
specific error.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from common.errors import (
    InvalidClient,
    InvalidDpopProof,
    InvalidRequest,
    UnauthorizedClient,
    UnsupportedGrantType,
)
from common.vocabulary import TLS_AUTH_METHODS, ClientAuthMethod
from services.token.domain.confirmation import certificate_thumbprint
from services.token.domain.dpop import DpopVerifier
from services.token.domain.grants import GRANTS, PLANNED_GRANT_TYPES, Grant
from services.token.domain.grants.base import (
    REQUEST_PARAMETERS,
    GrantServices,
    TokenRequest,
    TokenResponse,
)
from services.token.domain.ports import AuthenticatedClient, ClientAuthenticator
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
        dpop: DpopVerifier | None = None,
    ) -> None:
        self._authenticator = authenticator
        # None: DPoP is not configured, and a request with a proof is refused.
        self._dpop = dpop
        self._services = services
        self._grants = GRANTS if grants is None else grants
        self._stats = stats
        # Per grant_type, the empty values of the parameters its grant does not read.
        self._irrelevant = {
            grant_type: irrelevant_parameters(grant_cls)
            for grant_type, grant_cls in self._grants.items()
        }

    async def exchange(self, request: TokenRequest) -> TokenResponse:
        grant_cls = self.find_grant(request.grant_type)
        client = await self.authenticate_client(request)
        self.check_grant_allowed(client, grant_cls)
        request, next_nonce = await self.prove_possession(client, request)
        request = self.bind_certificate(client, request)
        grant = grant_cls(self._services)
        response = await grant.create_token_response(
            client, self.only_declared(request, self._irrelevant[grant_cls.GRANT_TYPE])
        )
        if next_nonce:
            response = dataclasses.replace(response, dpop_nonce=next_nonce)
        TOKENS_ISSUED.labels(grant_cls.GRANT_TYPE).inc()
        if self._stats is not None:
            self._stats.record_issued(grant_cls.GRANT_TYPE, response.scope)
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
            if method == ClientAuthMethod.NONE:
                raise UnauthorizedClient(f"Public clients may not use grant_type '{grant_type}'")
            raise UnauthorizedClient(
                f"Clients using '{method}' may not use grant_type '{grant_type}'"
            )
        if grant_type not in client.grant_types:
            raise UnauthorizedClient(f"The client is not allowed to use grant_type '{grant_type}'")

    async def prove_possession(
        self, client: AuthenticatedClient, request: TokenRequest
    ) -> tuple[TokenRequest, str]:
        """RFC 9449 section 5: the request with the key of its DPoP proof, which the
        grant binds its tokens to, and the nonce for the client's next proof ("")."""
        if request.dpop is None or not request.dpop.proof:
            if client.dpop_bound_access_tokens:
                raise InvalidDpopProof(
                    "This client's access tokens must be DPoP-bound: send a DPoP proof"
                )
            return request, ""
        if self._dpop is None:
            raise InvalidDpopProof("DPoP is not enabled on this server")
        proven = await self._dpop.verify(request.dpop)
        confirmation = dataclasses.replace(request.confirmation, jkt=proven.jkt)
        return dataclasses.replace(request, confirmation=confirmation), proven.next_nonce

    @staticmethod
    def bind_certificate(client: AuthenticatedClient, request: TokenRequest) -> TokenRequest:
        """RFC 8705 section 3: the access tokens of a client that authenticated with its
        TLS certificate, or registered tls_client_certificate_bound_access_tokens, are
        bound to the certificate of the connection (``cnf.x5t#S256``)."""
        certificate = request.credentials.client_certificate
        bound = (
            client.token_endpoint_auth_method in TLS_AUTH_METHODS
            or client.tls_client_certificate_bound_access_tokens
        )
        if not bound:
            return request
        if not certificate:
            raise InvalidRequest(
                "This client's access tokens are bound to its TLS client certificate: "
                "connect with it (mutual TLS)"
            )
        confirmation = dataclasses.replace(
            request.confirmation, x5t_s256=certificate_thumbprint(certificate)
        )
        return dataclasses.replace(request, confirmation=confirmation)

    @staticmethod
    def only_declared(request: TokenRequest, irrelevant: Mapping[str, Any]) -> TokenRequest:
        """The request with the parameters the grant does not read emptied (RFC 6749
        section 3.2: unrecognised parameters are ignored). A request that sent none
        of them, the usual case, is passed on as it is: no copy on the token path."""
        for name in irrelevant:
            if getattr(request, name):
                return dataclasses.replace(request, **irrelevant)
        return request


def irrelevant_parameters(grant_cls: type[Grant]) -> dict[str, Any]:
    """The empty value of every request parameter ``grant_cls`` does not declare; a
    grant that declares one the contract does not carry fails at start-up."""
    unknown = grant_cls.PARAMETERS - REQUEST_PARAMETERS
    if unknown:
        raise ValueError(
            f"grant {grant_cls.GRANT_TYPE!r} declares parameters TokenRequest does not "
            f"carry: {', '.join(sorted(unknown))}"
        )
    defaults = {item.name: item.default for item in dataclasses.fields(TokenRequest)}
    return {name: defaults[name] for name in sorted(REQUEST_PARAMETERS - grant_cls.PARAMETERS)}
