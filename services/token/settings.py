"""Settings of the token service (grants, signing keys, introspection, revocation)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr, field_validator

from common.kek import check_key_encryption_key
from common.settings import ServiceSettings
from common.vocabulary import SigningAlg


class TokenSettings(ServiceSettings):
    """Settings of ``python -m services.token``; each key is documented beside its default."""

    PROCESS: ClassVar[str] = "token"

    # Port of the TokenService gRPC server.
    grpc_port: int = Field(default=50052, ge=0, le=65535)
    # Lifetime of access tokens (RFC 9068 `exp` - `iat`), 1 minute to 1 day.
    access_token_ttl_seconds: int = Field(default=3600, ge=60, le=86400)
    # JWS alg of access tokens for clients that do not ask for one (RFC 9068 section 2.1).
    access_token_signing_alg: SigningAlg = SigningAlg.ES256
    # JWS alg of OpenID Connect ID tokens (OpenID Connect Core section 2 requires RS256 support).
    id_token_signing_alg: SigningAlg = SigningAlg.RS256
    # Lifetime of ID tokens (OpenID Connect Core section 2 `exp` - `iat`), 1 minute to 1 day.
    id_token_ttl_seconds: int = Field(default=3600, ge=60, le=86400)
    # Lifetime of one refresh token (default 30 days); each use rotates it into a new one.
    refresh_token_ttl_seconds: int = Field(default=30 * 86400, ge=60, le=365 * 86400)
    # Absolute lifetime of a grant family (default 90 days): no refresh token of one
    # authorization code outlives it, however often it is rotated; then the user signs in.
    refresh_family_max_age_seconds: int = Field(default=90 * 86400, ge=60, le=3 * 365 * 86400)
    # base64url of exactly 32 random bytes: the AES-256-GCM key that encrypts the private
    # signing keys at rest. Unset on the embedded (SQLite) default: a development key is
    # generated into <data_dir>/token-kek with a warning. Unset with PostgreSQL: start-up fails.
    key_encryption_key: SecretStr | None = None
    # Allow the generated development KEK even with PostgreSQL (`make run` with
    # DATABASE_URL sets it). Never in production: the key lies beside the data.
    allow_development_kek: bool = False
    # `aud` of access tokens (RFC 9068 section 3); empty means the issuer itself.
    # In the environment a JSON list: OAUTH2_ACCESS_TOKEN_AUDIENCE='["https://api.example"]'.
    access_token_audience: list[str] = []
    # Seconds a successful client authentication is kept in this process and served
    # without asking the clients service; 0 disables. Only with Redis shared with the
    # clients service (the same redis_url and redis_key_prefix): every change of a
    # client is checked on each lookup (docs/operators.md), this is only a backstop.
    client_auth_cache_seconds: float = Field(default=30, ge=0, le=3600)
    # How many (client, credential) pairs the cache keeps, least recently used out first.
    client_auth_cache_entries: int = Field(default=10_000, ge=1, le=1_000_000)
    # OpenID Connect Back-Channel Logout 1.0: how long one POST of a logout token to a
    # client's backchannel_logout_uri may take; how many tries a delivery gets; the
    # wait before the second try (then doubled each time).
    backchannel_logout_timeout_seconds: float = Field(default=5, gt=0, le=60)
    backchannel_logout_attempts: int = Field(default=4, ge=1, le=10)
    backchannel_logout_retry_base_seconds: float = Field(default=1, ge=0, le=60)
    # DPoP (RFC 9449) section 8: every proof must carry a server nonce (DPoP-Nonce,
    # use_dpop_nonce). Nonces derive from key_encryption_key: every replica accepts them.
    dpop_nonce_required: bool = False
    # How old a proof's iat may be, and how far ahead of this clock (section 11.1); its
    # jti is remembered (Redis, shared by the replicas) for as long as it could be accepted.
    dpop_proof_max_age_seconds: int = Field(default=300, ge=10, le=3600)
    dpop_clock_skew_seconds: int = Field(default=60, ge=0, le=600)

    @field_validator("key_encryption_key")
    @classmethod
    def _kek_is_32_bytes(cls, value: SecretStr | None) -> SecretStr | None:
        return check_key_encryption_key(value)

    @field_validator("access_token_audience")
    @classmethod
    def _audience_not_blank(cls, value: list[str]) -> list[str]:
        if any(not item.strip() for item in value):
            raise ValueError("audience values must not be empty")
        return value
