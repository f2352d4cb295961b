"""The admin API's response bodies (docs/operators.md), as pydantic models.

:mod:`gateway.admin.convert` builds them from the AdminService's messages; the
same models are their schemas in ``GET /openapi.json``. Clients use the RFC 7591
section 2 metadata names, users the OpenID Connect Core section 5.1 claim names.
"""

from __future__ import annotations

from typing import Any, Generic, Self, TypeVar

from oauth2.v1 import common_pb2
from pydantic import Field

from common.vocabulary import AuditOutcome, ClientAuthMethod
from gateway.models import DateTime, Omitted, Resource

Item = TypeVar("Item", bound=Resource)


class Page(Resource, Generic[Item]):
    """One page of a list; ``next_page_token`` fetches the next (cursor paging)."""

    items: list[Item]
    next_page_token: str | Omitted = Field(
        default=None, description="Omitted on the last page; pass as page_token"
    )

    @classmethod
    def of(cls, items: list[Item], page: common_pb2.PageResponse) -> Self:
        return cls(items=items, next_page_token=page.next_page_token or None)


class Client(Resource):
    """A client in RFC 7591 section 2 metadata names."""

    client_id: str
    client_name: str
    grant_types: list[str]
    redirect_uris: list[str]
    response_types: list[str]
    scope: str = Field(description="Space-separated scopes (RFC 6749 section 3.3)")
    token_endpoint_auth_method: str = Field(description=" | ".join(ClientAuthMethod))
    require_pkce: bool
    post_logout_redirect_uris: list[str]
    always_issue_refresh_token: bool
    access_token_signing_alg: str
    contacts: list[str]
    client_uri: str
    logo_uri: str
    dynamically_registered: bool
    revision: int
    allowed_cors_origins: list[str]
    introspection: bool = Field(description="May introspect tokens of other clients")
    enabled: bool
    require_pushed_authorization_requests: bool = Field(
        description="RFC 9126 section 6: its authorization requests must be pushed"
    )
    jwks: dict[str, Any] | Omitted = Field(
        default=None, description="RFC 7591 section 2: its JWK Set; omitted when it has none"
    )
    jwks_uri: str = Field(description="RFC 7591 section 2: the URL of its JWK Set, or empty")
    require_signed_request_object: bool = Field(
        description="RFC 9101 section 10.5: its authorization requests must be signed"
    )
    request_object_signing_alg: str = Field(
        description="The JWS alg of its request objects; empty for any accepted one"
    )
    backchannel_logout_uri: str = Field(
        description="Back-Channel Logout 1.0 section 2.2: where logout tokens go, or empty"
    )
    backchannel_logout_session_required: bool = Field(
        description="Its logout tokens carry the session's sid"
    )
    token_exchange_audiences: list[str] = Field(
        description="RFC 8693: the audiences it may exchange tokens for"
    )
    dpop_bound_access_tokens: bool = Field(
        description="RFC 9449 section 5.2: its access tokens must be DPoP-bound"
    )
    tls_client_auth_subject_dn: str = Field(
        description="RFC 8705 section 2.1.2: the subject DN its TLS certificate must have "
        "(tls_client_auth), or empty"
    )
    tls_client_auth_san_dns: str = Field(
        description="tls_client_auth: the dNSName SAN its certificate must have, or empty"
    )
    tls_client_auth_san_uri: str = Field(
        description="tls_client_auth: the URI SAN its certificate must have, or empty"
    )
    tls_client_auth_san_ip: str = Field(
        description="tls_client_auth: the iPAddress SAN its certificate must have, or empty"
    )
    tls_client_auth_san_email: str = Field(
        description="tls_client_auth: the rfc822Name SAN its certificate must have, or empty"
    )
    tls_client_certificate_bound_access_tokens: bool = Field(
        description="RFC 8705 section 3.4: its access tokens are bound to its TLS certificate"
    )
    client_secret_expires_at: int = Field(
        description="RFC 7591 section 3.2.1: seconds since the epoch, 0 for never"
    )
    created_at: DateTime | Omitted = None
    updated_at: DateTime | Omitted = None


class ClientWithSecret(Client):
    """The client and, when one was generated, its client_secret."""

    client_secret: str | Omitted = Field(
        default=None, description="Shown once; omitted for public clients, which have none"
    )


class ClientList(Page[Client]):
    """Clients, a page at a time."""


class ResourceServer(Resource):
    """A registered resource server (RFC 8707 section 2), named by its identifier."""

    identifier: str = Field(description="An absolute URI: the aud of its access tokens")
    name: str
    scopes: list[str] = Field(description="The scopes it defines")
    access_token_ttl_seconds: int = Field(
        description="Lifetime of its access tokens; 0: the server's access_token_ttl_seconds"
    )
    introspection_client_id: str = Field(
        description="The client it introspects with; empty for none"
    )
    created_at: DateTime | Omitted = None
    updated_at: DateTime | Omitted = None


class ResourceServerList(Page[ResourceServer]):
    """Resource servers ordered by identifier, a page at a time."""


class User(Resource):
    """A person who signs in; never a password hash."""

    user_id: str
    username: str
    email: str
    email_verified: bool
    enabled: bool
    given_name: str
    family_name: str
    name: str
    provider: str | Omitted = None
    provider_user_id: str | Omitted = None
    created_at: DateTime | Omitted = None
    updated_at: DateTime | Omitted = None


class UserList(Page[User]):
    """Users, a page at a time."""


class Consent(Resource):
    client_id: str
    user_id: str
    scopes: list[str]
    granted_at: DateTime | Omitted = None


class Family(Resource):
    """A refresh-token family: one grant's chain of rotated refresh tokens."""

    family_id: str
    client_id: str
    user_id: str
    scope: str
    created_at: DateTime | Omitted = None
    last_used_at: DateTime | Omitted = None
    expires_at: DateTime | Omitted = None


class Grants(Page[Family]):
    """Consents (whole) and refresh-token families (paged)."""

    consents: list[Consent]


class Revoked(Resource):
    revoked: int


class Key(Resource):
    """A token signing key (public facts only)."""

    kid: str
    alg: str
    status: str = Field(description="active | previous | retired")
    created_at: DateTime | Omitted = None
    retired_at: DateTime | Omitted = None


class KeyList(Resource):
    items: list[Key]


class Stats(Resource):
    clients: int
    users: int
    active_grants: int
    tokens_issued_by_grant_type: dict[str, int]
    since: DateTime | Omitted = None


class AuditEvent(Resource):
    """One audited action or security event."""

    event_id: str
    action: str = Field(description="e.g. client.created, key.rotated")
    actor: str = Field(description="client:<id>, user:<id>, cli or system")
    remote_addr: str
    target: str = Field(description="client:<id>, user:<id>, key:<kid>...")
    outcome: str = Field(description=" | ".join(AuditOutcome))
    trace_id: str = Field(description="W3C trace id of the cause")
    source: str
    details: dict[str, str]
    time: DateTime | Omitted = None


class AuditEventList(Page[AuditEvent]):
    """Audit events, newest first, a page at a time."""


class RegistrationToken(Resource):
    """An RFC 7591 section 3 initial access token, shown once."""

    initial_access_token: str
    expires_at: DateTime | Omitted = None
