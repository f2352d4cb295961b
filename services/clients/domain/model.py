"""The registered client (RFC 6749 section 2) and its metadata (RFC 7591 section 2)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from common.vocabulary import (
    CONFIDENTIAL_AUTH_METHODS,
    SECRET_AUTH_METHODS,
    ClientAuthMethod,
    ClientSigningAlg,
    GrantType,
    ResponseType,
    SigningAlg,
)

# RFC 7591 section 2: token_endpoint_auth_method values this server supports.
AUTH_METHODS: Final = frozenset(ClientAuthMethod)
# The confidential clients' methods (RFC 6749 section 2.1), and those with a secret.
CONFIDENTIAL_METHODS: Final = frozenset(CONFIDENTIAL_AUTH_METHODS)
SECRET_METHODS: Final = frozenset(SECRET_AUTH_METHODS)
GRANT_TYPES: Final = frozenset(GrantType)
RESPONSE_TYPES: Final = frozenset(ResponseType)
# Empty means the token service's default algorithm.
ACCESS_TOKEN_SIGNING_ALGS: Final = frozenset({"", *SigningAlg})
# Empty means any of them.
REQUEST_OBJECT_SIGNING_ALGS: Final = frozenset({"", *ClientSigningAlg})


@dataclass(frozen=True, slots=True)
class ClientMetadata:
    """What an operator (or, later, an RFC 7591 registrant) asks for.

    ``require_pkce`` is None when unset, so that the server default applies.
    """

    client_name: str = ""
    redirect_uris: tuple[str, ...] = ()
    grant_types: tuple[str, ...] = ()
    response_types: tuple[str, ...] = ()
    scope: str = ""
    token_endpoint_auth_method: str = ""
    require_pkce: bool | None = None
    post_logout_redirect_uris: tuple[str, ...] = ()
    access_token_signing_alg: str = ""
    always_issue_refresh_token: bool = False
    contacts: tuple[str, ...] = ()
    client_uri: str = ""
    logo_uri: str = ""
    #: Operators only: may introspect tokens issued to other clients (RFC 7662 2.1).
    introspection: bool = False
    #: Browser origins allowed to call the CORS endpoints (Hydra's allowed_cors_origins).
    allowed_cors_origins: tuple[str, ...] = ()
    #: Operators only; None when unset, so that the default (enabled) applies.
    enabled: bool | None = None
    #: RFC 9126 section 6: its authorization requests must be pushed (POST /oauth/par).
    require_pushed_authorization_requests: bool = False
    #: RFC 7591 section 2: its public keys, a JWK Set as canonical JSON text ("" none).
    jwks: str = ""
    #: RFC 7591 section 2: where its JWK Set is fetched ("" none); never with ``jwks``.
    jwks_uri: str = ""
    #: RFC 9101 section 10.5: its authorization requests must be signed request objects.
    require_signed_request_object: bool = False
    #: OpenID Connect Registration section 2: the JWS alg of its request objects
    #: ("" any of ClientSigningAlg).
    request_object_signing_alg: str = ""
    #: OpenID Connect Back-Channel Logout 1.0 section 2.2: where logout tokens are
    #: POSTed ("" none), and whether they must carry the session's sid.
    backchannel_logout_uri: str = ""
    backchannel_logout_session_required: bool = False
    #: RFC 8693: the audiences it may exchange tokens for; operators only.
    token_exchange_audiences: tuple[str, ...] = ()
    #: RFC 9449 section 5.2: every access token it gets must be DPoP-bound.
    dpop_bound_access_tokens: bool = False
    #: RFC 8705 section 2.1.2: the one subject attribute a tls_client_auth client's
    #: certificate must carry ("" for the others): its subject DN (RFC 4514 text),
    #: or a DNS name, URI, IP address or e-mail address among its SANs.
    tls_client_auth_subject_dn: str = ""
    tls_client_auth_san_dns: str = ""
    tls_client_auth_san_uri: str = ""
    tls_client_auth_san_ip: str = ""
    tls_client_auth_san_email: str = ""
    #: RFC 8705 section 3.4: its access tokens are bound to its TLS certificate
    #: (always so for the TLS methods).
    tls_client_certificate_bound_access_tokens: bool = False


#: The RFC 8705 section 2.1.2 subject attributes, one of which a tls_client_auth
#: client registers.
TLS_SUBJECT_FIELDS: Final = (
    "tls_client_auth_subject_dn",
    "tls_client_auth_san_dns",
    "tls_client_auth_san_uri",
    "tls_client_auth_san_ip",
    "tls_client_auth_san_email",
)

#: Field names an UpdateClient ``update_mask`` may name.
METADATA_FIELDS: Final = frozenset(f.name for f in dataclasses.fields(ClientMetadata))


@dataclass(frozen=True, slots=True)
class Client:
    """A registered client with validated metadata.

    ``client_secret_hash`` is the stored form of the secret (see
    :mod:`services.clients.domain.client_secret`); it never leaves the service,
    nor does ``client_secret_encrypted``, the secret itself sealed under the
    service's key-encryption key, kept for ``client_secret_jwt`` clients only (the
    MAC of their assertions is checked with it; None for every other method).
    """

    client_id: str
    client_name: str
    redirect_uris: tuple[str, ...]
    grant_types: tuple[str, ...]
    response_types: tuple[str, ...]
    scope: str
    token_endpoint_auth_method: str
    require_pkce: bool
    post_logout_redirect_uris: tuple[str, ...]
    access_token_signing_alg: str
    always_issue_refresh_token: bool
    contacts: tuple[str, ...]
    client_uri: str
    logo_uri: str
    created_at: datetime
    updated_at: datetime
    revision: int = 1
    client_secret_hash: str | None = field(default=None, repr=False)
    client_secret_expires_at: datetime | None = None
    client_secret_encrypted: bytes | None = field(default=None, repr=False)
    dynamically_registered: bool = False
    #: SHA-256 hex of the RFC 7592 registration access token; None unless
    #: ``dynamically_registered``.
    registration_access_token_hash: str | None = field(default=None, repr=False)
    introspection: bool = False
    allowed_cors_origins: tuple[str, ...] = ()
    #: A disabled client cannot authenticate nor start an authorization.
    enabled: bool = True
    require_pushed_authorization_requests: bool = False
    jwks: str = ""
    jwks_uri: str = ""
    require_signed_request_object: bool = False
    request_object_signing_alg: str = ""
    backchannel_logout_uri: str = ""
    backchannel_logout_session_required: bool = False
    token_exchange_audiences: tuple[str, ...] = ()
    dpop_bound_access_tokens: bool = False
    tls_client_auth_subject_dn: str = ""
    tls_client_auth_san_dns: str = ""
    tls_client_auth_san_uri: str = ""
    tls_client_auth_san_ip: str = ""
    tls_client_auth_san_email: str = ""
    tls_client_certificate_bound_access_tokens: bool = False

    @property
    def is_confidential(self) -> bool:
        """RFC 6749 section 2.1: a client that can keep a credential (a secret, a
        private key, a TLS certificate's)."""
        return self.token_endpoint_auth_method in CONFIDENTIAL_METHODS

    @property
    def holds_secret(self) -> bool:
        """It authenticates with a client secret the server issued (or imported)."""
        return self.token_endpoint_auth_method in SECRET_METHODS

    def metadata(self) -> ClientMetadata:
        return ClientMetadata(
            **{name: getattr(self, name) for name in METADATA_FIELDS},
        )


@dataclass(frozen=True, slots=True)
class InitialAccessToken:
    """An RFC 7591 section 3 initial access token, stored as its SHA-256 hex only.

    It allows ``max_uses`` registrations until ``expires_at``.
    """

    token_hash: str = field(repr=False)
    created_at: datetime
    expires_at: datetime
    max_uses: int
    uses: int = 0


@dataclass(frozen=True, slots=True)
class ResourceFields:
    """What an operator sets on a resource server (RFC 8707 section 2); see
    :mod:`services.clients.domain.resources` for the rules."""

    name: str = ""
    scopes: tuple[str, ...] = ()
    #: 0: the server's access_token_ttl_seconds.
    access_token_ttl_seconds: int = 0
    #: The client the resource server introspects with ("" none).
    introspection_client_id: str = ""


#: Field names an UpdateResource ``update_mask`` may name.
RESOURCE_FIELDS: Final = tuple(f.name for f in dataclasses.fields(ResourceFields))


@dataclass(frozen=True, slots=True)
class Resource:
    """A registered resource server: the audience (``aud``) of the access tokens a
    ``resource`` parameter (RFC 8707) asks for. ``identifier`` is its key and never
    changes; ``revision`` guards against lost updates and stays inside the service."""

    identifier: str
    name: str
    scopes: tuple[str, ...]
    access_token_ttl_seconds: int
    introspection_client_id: str
    created_at: datetime
    updated_at: datetime
    revision: int = 1

    def fields(self) -> ResourceFields:
        return ResourceFields(**{name: getattr(self, name) for name in RESOURCE_FIELDS})
