"""The grants of the token endpoint, one module each, in one explicit registry."""

from __future__ import annotations

from services.token.domain.grants.base import Grant, TokenRequest, TokenResponse
from services.token.domain.grants.client_credentials import ClientCredentialsGrant

#: grant_type -> grant class. A grant type missing here is unsupported_grant_type.
GRANTS: dict[str, type[Grant]] = {
    ClientCredentialsGrant.GRANT_TYPE: ClientCredentialsGrant,
}

#: Grant types of the product that a later release implements.
PLANNED_GRANT_TYPES = frozenset(
    {
        "authorization_code",
        "refresh_token",
        "urn:ietf:params:oauth:grant-type:device_code",
    }
)

__all__ = ["GRANTS", "PLANNED_GRANT_TYPES", "Grant", "TokenRequest", "TokenResponse"]
