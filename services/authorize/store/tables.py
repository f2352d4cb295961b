"""The authorize schema. No schema name: on PostgreSQL the connection's
search_path selects the service's own schema (see common/db.py)."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from common.sqltypes import JsonStringList

metadata = MetaData()

users = Table(
    "users",
    metadata,
    Column("user_id", String(36), primary_key=True),
    Column("username", String(256), nullable=False),
    # The lowercased username: what makes usernames unique case-insensitively.
    Column("username_key", String(256), nullable=False),
    # NULL when unset, so that the unique constraint allows many users without one.
    Column("email", String(320), nullable=True),
    Column("email_key", String(320), nullable=True),
    Column("email_verified", Boolean, nullable=False),
    # Argon2id PHC string; NULL for accounts that only sign in elsewhere.
    Column("password_hash", Text, nullable=True),
    Column("enabled", Boolean, nullable=False),
    Column("given_name", String(200), nullable=False),
    Column("family_name", String(200), nullable=False),
    Column("name", String(401), nullable=False),
    Column("provider", String(64), nullable=True),
    Column("provider_user_id", String(255), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # Set by SetPassword: sessions signed in before it no longer count (0003).
    Column("password_changed_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("username_key", name="uq_users_username_key"),
    UniqueConstraint("email_key", name="uq_users_email_key"),
    UniqueConstraint("provider", "provider_user_id", name="uq_users_provider_subject"),
)

consents = Table(
    "consents",
    metadata,
    Column("client_id", String(128), nullable=False),
    Column("user_id", String(36), nullable=False),
    Column("scopes", JsonStringList, nullable=False),
    Column("granted_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("client_id", "user_id", name="pk_consents"),
    Index("ix_consents_user_id", "user_id", "client_id"),
)

authorization_codes = Table(
    "authorization_codes",
    metadata,
    # SHA-256 hex of the code; the code itself is never stored.
    Column("code_id", String(64), primary_key=True),
    Column("client_id", String(128), nullable=False),
    Column("user_id", String(36), nullable=False),
    Column("redirect_uri", Text, nullable=False),
    Column("redirect_uri_in_request", Boolean, nullable=False),
    Column("scopes", JsonStringList, nullable=False),
    Column("code_challenge", String(128), nullable=False),
    Column("code_challenge_method", String(16), nullable=False),
    Column("nonce", Text, nullable=False),
    Column("auth_time", DateTime(timezone=True), nullable=False),
    Column("amr", JsonStringList, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True), nullable=True),
    # RFC 8707: the resource of the authorization request ("" none; 0006).
    Column("resource", Text, nullable=False, server_default=""),
    # The browser session that approved the request ("" none; 0007).
    Column("sid", Text, nullable=False, server_default=""),
    # RFC 9449 section 10: the DPoP key the code is bound to ("" unbound; 0008).
    Column("dpop_jkt", Text, nullable=False, server_default=""),
    Index("ix_authorization_codes_user_id", "user_id"),
    Index("ix_authorization_codes_expires_at", "expires_at"),
)

interactions = Table(
    "interactions",
    metadata,
    # SHA-256 hex of the interaction id; the id itself is never stored.
    Column("interaction_key", String(64), primary_key=True),
    # SHA-256 hex of the browser session's binding.
    Column("binding_key", String(64), nullable=False),
    Column("client_id", String(128), nullable=False),
    # The validated authorization request as JSON (store/sql.py).
    Column("request", Text, nullable=False),
    Column("subject", String(36), nullable=False),
    Column("auth_time", DateTime(timezone=True), nullable=True),
    Column("amr", JsonStringList, nullable=False),
    Column("fresh_login", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    # A device's request (RFC 8628): the SHA-256 of its device_code; "" otherwise (0005).
    Column("device_key", String(64), nullable=False, server_default=""),
    Index("ix_interactions_expires_at", "expires_at"),
)

device_authorizations = Table(
    "device_authorizations",
    metadata,
    # SHA-256 hex of the device_code; the code itself is never stored.
    Column("device_key", String(64), primary_key=True),
    # SHA-256 hex of the normalised user_code.
    Column("user_code_key", String(64), nullable=False),
    Column("client_id", String(128), nullable=False),
    Column("scopes", JsonStringList, nullable=False),
    Column("interval", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    # pending | approved | denied | redeemed (DeviceStatus)
    Column("status", String(16), nullable=False),
    Column("next_poll_at", DateTime(timezone=True), nullable=True),
    Column("subject", String(36), nullable=False),
    Column("auth_time", DateTime(timezone=True), nullable=True),
    Column("amr", JsonStringList, nullable=False),
    Column("decided_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("user_code_key", name="uq_device_authorizations_user_code_key"),
    Index("ix_device_authorizations_expires_at", "expires_at"),
)
