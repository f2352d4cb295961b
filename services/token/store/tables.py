"""Tables of the token schema. No schema names: the connection's search_path picks it."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    Index,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    text,
)

metadata = MetaData()

signing_keys = Table(
    "signing_keys",
    metadata,
    # RFC 7638 thumbprint of the public key.
    Column("kid", String(64), primary_key=True),
    Column("alg", String(16), nullable=False),
    # active | previous | retired
    Column("status", String(16), nullable=False),
    # The public JWK as JSON text (RFC 7517 section 4).
    Column("public_jwk", Text, nullable=False),
    # 96-bit nonce || AES-256-GCM ciphertext of the PKCS#8 PEM, kid as associated data.
    Column("private_key_enc", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("retired_at", DateTime(timezone=True), nullable=True),
    # When a ``previous`` key retires by itself: every token it signed has expired.
    Column("retire_after", DateTime(timezone=True), nullable=True),
)

# At most one active key per alg, whatever replicas race at start-up.
Index(
    "uq_signing_keys_active_alg",
    signing_keys.c.alg,
    unique=True,
    postgresql_where=text("status = 'active'"),
    sqlite_where=text("status = 'active'"),
)

revoked_tokens = Table(
    "revoked_tokens",
    metadata,
    Column("jti", String(128), primary_key=True),
    Column("client_id", String(255), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=False),
)

Index("ix_revoked_tokens_expires_at", revoked_tokens.c.expires_at)
Index("ix_revoked_tokens_revoked_at", revoked_tokens.c.revoked_at)

# Revoked grant families: every access token whose grant_id names one is dead.
# Separate from grant_families so that a family can be revoked before (or without)
# its row existing: a replayed code races the exchange of its first use.
revoked_families = Table(
    "revoked_families",
    metadata,
    Column("family_id", String(128), primary_key=True),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=False),
)

Index("ix_revoked_families_expires_at", revoked_families.c.expires_at)
Index("ix_revoked_families_revoked_at", revoked_families.c.revoked_at)

# Not-before entries (docs/operators.md): access tokens of the subject or client issued
# at or before not_before are dead. A later revocation moves not_before forward.
revoked_principals = Table(
    "revoked_principals",
    metadata,
    # subject | client
    Column("kind", String(16), primary_key=True),
    Column("principal_id", String(255), primary_key=True),
    Column("not_before", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

Index("ix_revoked_principals_expires_at", revoked_principals.c.expires_at)
Index("ix_revoked_principals_not_before", revoked_principals.c.not_before)

# Everything issued from one authorization code (docs/signin.md, Grant families).
grant_families = Table(
    "grant_families",
    metadata,
    # sha256_hex of the authorization code (its code_id).
    Column("family_id", String(128), primary_key=True),
    Column("client_id", String(255), nullable=False),
    Column("subject", String(255), nullable=False),
    Column("scope", Text, nullable=False),
    Column("auth_time", DateTime(timezone=True), nullable=True),
    # Authentication methods references (RFC 8176) as a JSON list.
    Column("amr", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_used_at", DateTime(timezone=True), nullable=True),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Column("revoke_reason", String(255), nullable=True),
    # RFC 8707: the resource its access tokens are for ("" the default audience; 0004).
    Column("resource", Text, nullable=False, server_default=""),
    # The browser session of the sign-in ("" none; 0005): Back-Channel Logout 1.0.
    Column("sid", Text, nullable=False, server_default=""),
    # RFC 9449 section 5: the DPoP key its refresh tokens are bound to ("" none; 0006).
    Column("dpop_jkt", Text, nullable=False, server_default=""),
)

Index("ix_grant_families_subject", grant_families.c.subject)
Index("ix_grant_families_sid", grant_families.c.sid)
Index("ix_grant_families_client_id", grant_families.c.client_id)
Index("ix_grant_families_expires_at", grant_families.c.expires_at)

# Refresh tokens, only as SHA-256 hex of the opaque value (RFC 6749 section 10.4).
refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("family_id", String(128), nullable=False),
    Column("client_id", String(255), nullable=False),
    Column("subject", String(255), nullable=False),
    Column("scope", Text, nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True), nullable=True),
)

Index("ix_refresh_tokens_family_id", refresh_tokens.c.family_id)
Index("ix_refresh_tokens_expires_at", refresh_tokens.c.expires_at)
