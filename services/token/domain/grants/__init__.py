"""The grants of the token endpoint, one module each, in one explicit registry."""

from __future__ import annotations

from common.vocabulary import GrantType
from services.token.domain.grants.authorization_code import AuthorizationCodeGrant
from services.token.domain.grants.base import Grant, GrantServices, TokenRequest, TokenResponse
from services.token.domain.grants.client_credentials import ClientCredentialsGrant
from services.token.domain.grants.device_code import DeviceCodeGrant
from services.token.domain.grants.refresh_token import RefreshTokenGrant
from services.token.domain.grants.token_exchange import TokenExchangeGrant

#: grant_type -> grant class. A grant type missing here is unsupported_grant_type.
#: Discovery lists them in this order (grant_types_supported, RFC 8414 section 2).
GRANTS: dict[str, type[Grant]] = {
    grant.GRANT_TYPE: grant
    for grant in (
        AuthorizationCodeGrant,
        RefreshTokenGrant,
        ClientCredentialsGrant,
        DeviceCodeGrant,
        TokenExchangeGrant,
    )
}

#: Grant types of the product that a later release implements.
PLANNED_GRANT_TYPES = frozenset(GrantType) - frozenset(GRANTS)

__all__ = [
    "GRANTS",
    "PLANNED_GRANT_TYPES",
    "Grant",
    "GrantServices",
    "TokenRequest",
    "TokenResponse",
]
