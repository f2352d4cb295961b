"""Authorization server metadata (RFC 8414 section 2) and its OpenID Connect
Discovery 1.0 twin (section 3), listing only what this release implements.

Nothing here is listed by hand: grant types come from the token endpoint's grant
registry, authentication methods from what those grants admit and what the
gateway's one client-authentication chain tells apart, algorithms, response types
and modes and PKCE methods from the vocabulary (common/vocabulary.py).
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from common import endpoints
from common.vocabulary import (
    CLAIMS_BY_SCOPE,
    CONFIDENTIAL_AUTH_METHODS,
    ID_TOKEN_CLAIMS,
    ClientAuthMethod,
    ClientSecretSigningAlg,
    ClientSigningAlg,
    CodeChallengeMethod,
    GrantType,
    ResponseMode,
    ResponseType,
    SigningAlg,
    StandardScope,
)
from gateway.client_auth import SUPPORTED_AUTH_METHODS
from gateway.models import Omitted, Resource
from gateway.openapi.prose import DISCOVERY
from gateway.openapi.responses import errors, ok
from gateway.openapi.spec import operation
from gateway.settings import GatewaySettings
from gateway.state import settings_of

# The token service's registry of grant classes: reading its declarations (GRANT_TYPE,
# TOKEN_ENDPOINT_AUTH_METHODS) is how a grant registered there gets advertised here.
from services.token.domain.grants import GRANTS, Grant

CACHE_CONTROL = "public, max-age=300"

#: RFC 7523 section 2.2: what client assertions may be signed with, private_key_jwt's
#: public-key algs, then client_secret_jwt's HMACs.
CLIENT_ASSERTION_SIGNING_ALGS = (*ClientSigningAlg, *ClientSecretSigningAlg)

#: OpenID Connect Core section 2 (ID token) and 5.4 (the claims of each scope).
CLAIMS_SUPPORTED = list(
    dict.fromkeys(
        [*ID_TOKEN_CLAIMS, *(claim for claims in CLAIMS_BY_SCOPE.values() for claim in claims)]
    )
)


class ServerMetadata(Resource):
    """RFC 8414 section 2 / OpenID Connect Discovery 1.0 section 3"""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    userinfo_endpoint: str
    jwks_uri: str
    introspection_endpoint: str
    revocation_endpoint: str
    end_session_endpoint: str
    registration_endpoint: str
    scopes_supported: list[str]
    response_types_supported: list[str]
    response_modes_supported: list[str]
    grant_types_supported: list[str]
    code_challenge_methods_supported: list[str]
    subject_types_supported: list[str]
    id_token_signing_alg_values_supported: list[str]
    claims_supported: list[str]
    authorization_response_iss_parameter_supported: bool
    request_parameter_supported: bool
    # RFC 9101 section 10.5 / OpenID Connect Discovery section 3.
    request_object_signing_alg_values_supported: list[str]
    request_uri_parameter_supported: bool
    token_endpoint_auth_methods_supported: list[str]
    introspection_endpoint_auth_methods_supported: list[str]
    revocation_endpoint_auth_methods_supported: list[str]
    # RFC 8414 section 2: the JWS algs of client assertions (RFC 7523): private_key_jwt's
    # and client_secret_jwt's.
    token_endpoint_auth_signing_alg_values_supported: list[str]
    introspection_endpoint_auth_signing_alg_values_supported: list[str]
    revocation_endpoint_auth_signing_alg_values_supported: list[str]
    pushed_authorization_request_endpoint: str
    require_pushed_authorization_requests: bool
    # RFC 9449 section 5.1: the JWS algs of DPoP proofs.
    dpop_signing_alg_values_supported: list[str]
    # OpenID Connect Back-Channel Logout 1.0 section 2.1.
    backchannel_logout_supported: bool
    backchannel_logout_session_supported: bool
    # RFC 8628 section 4: only while the token endpoint has the grant.
    device_authorization_endpoint: str | Omitted = None
    # RFC 8705 sections 3.3 and 5: while clients' TLS certificates reach the gateway.
    tls_client_certificate_bound_access_tokens: bool | Omitted = None
    mtls_endpoint_aliases: dict[str, str] | Omitted = None


def token_endpoint_auth_methods(grants: Mapping[str, type[Grant]]) -> list[ClientAuthMethod]:
    """Methods the gateway extracts and at least one registered grant admits."""
    admitted = {method for grant in grants.values() for method in grant.TOKEN_ENDPOINT_AUTH_METHODS}
    return [method for method in SUPPORTED_AUTH_METHODS if method in admitted]


def id_token_signing_algs() -> list[SigningAlg]:
    """Every alg the token service keeps a key for; RS256 first, the one OpenID
    Connect Discovery section 3 requires."""
    return sorted(SigningAlg, key=lambda alg: alg != SigningAlg.RS256)


def server_metadata(
    settings: GatewaySettings, grants: Mapping[str, type[Grant]] = GRANTS
) -> ServerMetadata:
    issuer = settings.issuer
    # Introspection and revocation need an authenticated client (RFC 7662 section 2.1,
    # RFC 7009 section 2.1): a confidential one.
    confidential = [
        method for method in SUPPORTED_AUTH_METHODS if method in CONFIDENTIAL_AUTH_METHODS
    ]
    return ServerMetadata(
        issuer=issuer,
        authorization_endpoint=f"{issuer}/oauth/authorize",
        token_endpoint=issuer + endpoints.TOKEN,
        userinfo_endpoint=issuer + endpoints.USERINFO,
        jwks_uri=f"{issuer}/oauth/jwks",
        introspection_endpoint=issuer + endpoints.INTROSPECTION,
        revocation_endpoint=issuer + endpoints.REVOCATION,
        # OpenID Connect RP-Initiated Logout 1.0 section 2.1.
        end_session_endpoint=f"{issuer}/logout",
        registration_endpoint=f"{issuer}/oauth/register",
        scopes_supported=list(StandardScope),
        response_types_supported=list(ResponseType),
        response_modes_supported=list(ResponseMode),
        grant_types_supported=list(grants),
        # plain is an operator's opt-in for legacy clients, never advertised.
        code_challenge_methods_supported=[CodeChallengeMethod.S256],
        subject_types_supported=["public"],
        id_token_signing_alg_values_supported=list(id_token_signing_algs()),
        claims_supported=list(CLAIMS_SUPPORTED),
        # RFC 9207: authorization responses carry iss.
        authorization_response_iss_parameter_supported=True,
        # RFC 9101: signed request objects, at the authorization and PAR endpoints.
        request_parameter_supported=True,
        request_object_signing_alg_values_supported=list(ClientSigningAlg),
        # A request_uri is a pushed request's (RFC 9126); OpenID Connect Discovery
        # section 3 asks for this to be said (its default is true).
        request_uri_parameter_supported=True,
        token_endpoint_auth_methods_supported=list(token_endpoint_auth_methods(grants)),
        introspection_endpoint_auth_methods_supported=list(confidential),
        revocation_endpoint_auth_methods_supported=list(confidential),
        token_endpoint_auth_signing_alg_values_supported=list(CLIENT_ASSERTION_SIGNING_ALGS),
        introspection_endpoint_auth_signing_alg_values_supported=list(
            CLIENT_ASSERTION_SIGNING_ALGS
        ),
        revocation_endpoint_auth_signing_alg_values_supported=list(CLIENT_ASSERTION_SIGNING_ALGS),
        # RFC 9126 section 5.
        pushed_authorization_request_endpoint=issuer + endpoints.PUSHED_AUTHORIZATION_REQUEST,
        require_pushed_authorization_requests=settings.require_pushed_authorization_requests,
        dpop_signing_alg_values_supported=list(ClientSigningAlg),
        # Logout tokens carry the session's sid whenever the session had one.
        backchannel_logout_supported=True,
        backchannel_logout_session_supported=True,
        device_authorization_endpoint=(
            issuer + endpoints.DEVICE_AUTHORIZATION if GrantType.DEVICE_CODE in grants else None
        ),
        tls_client_certificate_bound_access_tokens=True if settings.client_certificates else None,
        mtls_endpoint_aliases=mtls_endpoint_aliases(settings, grants),
    )


def mtls_endpoint_aliases(
    settings: GatewaySettings, grants: Mapping[str, type[Grant]]
) -> dict[str, str] | None:
    """RFC 8705 section 5: where a client uses mutual TLS. The same listener asks
    every client for a certificate, so the aliases are the endpoints themselves."""
    if not settings.client_certificates:
        return None
    issuer = settings.issuer
    aliases = {
        "token_endpoint": issuer + endpoints.TOKEN,
        "revocation_endpoint": issuer + endpoints.REVOCATION,
        "introspection_endpoint": issuer + endpoints.INTROSPECTION,
        "userinfo_endpoint": issuer + endpoints.USERINFO,
        "pushed_authorization_request_endpoint": issuer + endpoints.PUSHED_AUTHORIZATION_REQUEST,
    }
    if GrantType.DEVICE_CODE in grants:
        aliases["device_authorization_endpoint"] = issuer + endpoints.DEVICE_AUTHORIZATION
    return aliases


def metadata_response(request: Request) -> Response:
    return JSONResponse(
        server_metadata(settings_of(request)).body(), headers={"Cache-Control": CACHE_CONTROL}
    )


@operation(
    "authorizationServerMetadata",
    "Authorization server metadata (RFC 8414)",
    tags=DISCOVERY,
    responses={200: ok(ServerMetadata), **errors(429)},
)
async def authorization_server_metadata(request: Request) -> Response:
    return metadata_response(request)


@operation(
    "openidConfiguration",
    "OpenID Connect Discovery 1.0",
    tags=DISCOVERY,
    responses={200: ok(ServerMetadata), **errors(429)},
)
async def openid_configuration(request: Request) -> Response:
    return metadata_response(request)
