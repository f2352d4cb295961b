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
