"""The clients schema. No schema name: on PostgreSQL the connection's
search_path selects the service's own schema (see common/db.py)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    false,
    true,
)

from common.sqltypes import JsonStringList

metadata = MetaData()

clients = Table(
    "clients",
    metadata,
    Column("client_id", String(128), primary_key=True),
    Column("client_name", String(200), nullable=False),
    Column("redirect_uris", JsonStringList, nullable=False),
    Column("grant_types", JsonStringList, nullable=False),
    Column("response_types", JsonStringList, nullable=False),
    Column("scope", Text, nullable=False),
    Column("token_endpoint_auth_method", String(32), nullable=False),
    Column("require_pkce", Boolean, nullable=False),
    Column("post_logout_redirect_uris", JsonStringList, nullable=False),
    Column("access_token_signing_alg", String(16), nullable=False),
    Column("always_issue_refresh_token", Boolean, nullable=False),
    Column("contacts", JsonStringList, nullable=False),
    Column("client_uri", Text, nullable=False),
    Column("logo_uri", Text, nullable=False),
    # "sha256$<hex>" or an Argon2id PHC string; NULL for public clients.
    Column("client_secret_hash", Text, nullable=True),
    Column("client_secret_expires_at", DateTime(timezone=True), nullable=True),
    # client_secret_jwt only: nonce || AES-256-GCM(KEK, secret, client_id) (common.kek).
    Column("client_secret_encrypted", LargeBinary, nullable=True),
    Column("dynamically_registered", Boolean, nullable=False),
    # SHA-256 hex of the RFC 7592 registration access token (self-registered only).
    Column("registration_access_token_hash", String(64), nullable=True),
    Column("revision", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # May introspect tokens of other clients (RFC 7662 section 2.1); operators only.
    Column("introspection", Boolean, nullable=False, server_default=false()),
    # Origins (scheme://host[:port]) the gateway allows for CORS.
    Column("allowed_cors_origins", JsonStringList, nullable=False, server_default="[]"),
    Column("enabled", Boolean, nullable=False, server_default=true()),
    # RFC 9126 section 6: only pushed authorization requests (POST /oauth/par).
    Column(
        "require_pushed_authorization_requests", Boolean, nullable=False, server_default=false()
    ),
    # RFC 7591 section 2: the client's JWK Set as canonical JSON text, or the URL of
    # one; "" for none (never both).
    Column("jwks", Text, nullable=False, server_default=""),
    Column("jwks_uri", Text, nullable=False, server_default=""),
    # RFC 9101 section 10.5: only signed request objects.
    Column("require_signed_request_object", Boolean, nullable=False, server_default=false()),
    # "" (any accepted alg) or one of ClientSigningAlg.
    Column("request_object_signing_alg", String(16), nullable=False, server_default=""),
    # OpenID Connect Back-Channel Logout 1.0 section 2.2.
    Column("backchannel_logout_uri", Text, nullable=False, server_default=""),
    Column("backchannel_logout_session_required", Boolean, nullable=False, server_default=false()),
    # RFC 8693: the audiences it may exchange tokens for (operators only).
    Column("token_exchange_audiences", JsonStringList, nullable=False, server_default="[]"),
    # RFC 9449 section 5.2: its access tokens must be DPoP-bound.
    Column("dpop_bound_access_tokens", Boolean, nullable=False, server_default=false()),
    # RFC 8705 section 2.1.2: the one subject attribute of a tls_client_auth client's
    # certificate ("" for the others); the DN in RFC 4514 text as registered.
    Column("tls_client_auth_subject_dn", Text, nullable=False, server_default=""),
    Column("tls_client_auth_san_dns", Text, nullable=False, server_default=""),
    Column("tls_client_auth_san_uri", Text, nullable=False, server_default=""),
    Column("tls_client_auth_san_ip", Text, nullable=False, server_default=""),
    Column("tls_client_auth_san_email", Text, nullable=False, server_default=""),
    # RFC 8705 section 3.4: its access tokens are bound to its TLS certificate.
    Column(
        "tls_client_certificate_bound_access_tokens",
        Boolean,
        nullable=False,
        server_default=false(),
    ),
)

# RFC 7591 section 3: tokens that allow registering, by the SHA-256 hex of the token.
initial_access_tokens = Table(
    "initial_access_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False, index=True),
    Column("max_uses", Integer, nullable=False),
    Column("uses", Integer, nullable=False),
)

# Resource servers (RFC 8707 section 2), by their identifier: an absolute URI, the
# aud of the access tokens issued for them.
resources = Table(
    "resources",
    metadata,
    Column("identifier", String(512), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("scopes", JsonStringList, nullable=False),
    # 0: the token service's access_token_ttl_seconds.
    Column("access_token_ttl_seconds", Integer, nullable=False),
    # The client it introspects with ("" none); a client_id, not a foreign key: a
    # deleted client leaves a name that matches no client.
    Column("introspection_client_id", String(128), nullable=False),
    Column("revision", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
