"""Settings of the clients process (TOML table ``[clients]``, env ``OAUTH2_<KEY>``)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, SecretStr, field_validator

from common.kek import check_key_encryption_key
from common.settings import ServiceSettings
from common.vocabulary import ClientAuthMethod, GrantType
from services.clients.domain.model import AUTH_METHODS, GRANT_TYPES
from services.clients.domain.registration_policy import FORBIDDEN_SCOPES, OPERATOR_GRANT_TYPES

RegistrationMode = Literal["open", "token", "closed"]


class ClientsSettings(ServiceSettings):
    """The client registry service. Each key is documented beside its default."""

    PROCESS: ClassVar[str] = "clients"

    # Port of the ClientsService gRPC server (clients_target of the other processes).
    grpc_port: int = Field(default=50053, ge=0, le=65535)
    # Seconds a client record stays in the KeyValue cache. Writes through this
    # service invalidate it at once; the TTL only bounds a rare read/write race.
    client_cache_ttl_seconds: float = Field(default=300, gt=0, le=86_400)

    # Dynamic client registration (RFC 7591) at the gateway's /oauth/register:
    # "open" lets anyone register; "token" requires an initial access token
    # (RFC 7591 section 3, `oauth2ctl registration-token create`); "closed" refuses.
    # Unset: "open" on the embedded default (no REDIS_URL), "token" otherwise.
    registration_mode: RegistrationMode | None = None
    # grant_types a self-registered client may ask for; never the token exchange
    # grant (urn:ietf:params:oauth:grant-type:token-exchange), which operators give.
    registration_allowed_grant_types: list[str] = Field(
        default=[
            GrantType.AUTHORIZATION_CODE,
            GrantType.REFRESH_TOKEN,
            GrantType.CLIENT_CREDENTIALS,
        ],
        min_length=1,
    )
    # Scopes a self-registered client may ask for; never "admin". A registration
    # that names no scope gets all of them.
    registration_allowed_scopes: list[str] = Field(
        default=["openid", "profile", "email", "offline_access"]
    )
    # token_endpoint_auth_method values a self-registered client may use.
    registration_allowed_auth_methods: list[str] = Field(
        default=list(ClientAuthMethod), min_length=1
    )
    # private_key_jwt and client_secret_jwt (RFC 7523): the longest a client assertion
    # may live (exp - iat; Authlib and most libraries make them live 3600 s), and the
    # clock skew allowed on its exp, nbf and iat. Its jti is remembered until it expires.
    client_assertion_max_lifetime_seconds: int = Field(default=3600, ge=10, le=86_400)
    client_assertion_leeway_seconds: int = Field(default=30, ge=0, le=300)
    # base64url of exactly 32 random bytes: the AES-256-GCM key that encrypts the
    # secrets of client_secret_jwt clients at rest (their assertions' HMAC key; every
    # other secret is only hashed). Its own key, not the token service's. Unset on the
    # embedded (SQLite) default: a development key is generated into
    # <data_dir>/clients-kek with a warning. Unset with PostgreSQL: start-up fails.
    key_encryption_key: SecretStr | None = None
    # Allow the generated development KEK even with PostgreSQL (`make run` with
    # DATABASE_URL sets it). Never in production: the key lies beside the data.
    allow_development_kek: bool = False
    # Lifetime of an initial access token when its creator names none (1 day).
    initial_access_token_ttl_seconds: int = Field(default=86_400, ge=60, le=365 * 86_400)

    @property
    def effective_registration_mode(self) -> RegistrationMode:
        if self.registration_mode is not None:
            return self.registration_mode
        return "open" if self.embedded else "token"

    @field_validator("key_encryption_key")
    @classmethod
    def _kek_is_32_bytes(cls, value: SecretStr | None) -> SecretStr | None:
        return check_key_encryption_key(value)

    @field_validator("registration_allowed_grant_types")
    @classmethod
    def _known_grant_types(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - GRANT_TYPES)
        if unknown:
            raise ValueError(f"unknown grant type {unknown[0]!r}")
        operators_only = sorted(set(value) & OPERATOR_GRANT_TYPES)
        if operators_only:
            raise ValueError(f"{operators_only[0]!r} may never be self-registered")
        return value

    @field_validator("registration_allowed_auth_methods")
    @classmethod
    def _known_auth_methods(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - AUTH_METHODS)
        if unknown:
            raise ValueError(f"unknown token_endpoint_auth_method {unknown[0]!r}")
        return value

    @field_validator("registration_allowed_scopes")
    @classmethod
    def _no_privileged_scopes(cls, value: list[str]) -> list[str]:
        forbidden = sorted(set(value) & FORBIDDEN_SCOPES)
        if forbidden:
            raise ValueError(f"{forbidden[0]!r} may never be self-registered")
        for scope in value:
            if not scope or " " in scope:
                raise ValueError(f"invalid scope {scope!r}")
        return value
