"""The grants of the token endpoint, one module each, in one explicit registry."""

from __future__ import annotations

from services.token.domain.grants.authorization_code import AuthorizationCodeGrant
from services.token.domain.grants.base import Grant, GrantServices, TokenRequest, TokenResponse
from services.token.domain.grants.client_credentials import ClientCredentialsGrant
from services.token.domain.grants.refresh_token import RefreshTokenGrant

#: grant_type -> grant class. A grant type missing here is unsupported_grant_type.
GRANTS: dict[str, type[Grant]] = {
    AuthorizationCodeGrant.GRANT_TYPE: AuthorizationCodeGrant,
    ClientCredentialsGrant.GRANT_TYPE: ClientCredentialsGrant,
    RefreshTokenGrant.GRANT_TYPE: RefreshTokenGrant,
}

#: Grant types of the product that a later release implements.
PLANNED_GRANT_TYPES = frozenset({"urn:ietf:params:oauth:grant-type:device_code"})

__all__ = [
    "GRANTS",
    "PLANNED_GRANT_TYPES",
    "Grant",
    "GrantServices",
    "TokenRequest",
    "TokenResponse",
]
