"""The admin API's request bodies (docs/operators.md), as pydantic models.

Each model is the validator of its body and, through ``model_json_schema``, its
schema in ``GET /openapi.json``. Client objects use the RFC 7591 section 2
metadata names, users the OpenID Connect Core section 5.1 claim names. Unknown
fields are refused; a PATCH may send back the read-only fields of what it read,
which are ignored, but an id that is not the path's is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any, Final

from pydantic import AfterValidator, BeforeValidator, Field, ValidationInfo, WithJsonSchema
from pydantic_core import PydanticCustomError

from common.errors import InvalidClientMetadata, InvalidRequest
from common.vocabulary import ClientAuthMethod, ClientSigningAlg, SigningAlg
from gateway.models import BodyModel, ErrorPolicy

#: Longest string accepted in any field; longer values are refused, not cut.
MAX_STRING: Final = 2048
#: Longest list accepted in any list field.
MAX_ITEMS: Final = 100
SIGNING_ALGS: Final = tuple(SigningAlg)

MESSAGES: Final = {
    "extra_forbidden": "Unknown field '{field}'",
    "path_mismatch": "'{field}' does not match the path",
    "missing": "Missing '{field}'",
    "string_type": "'{field}' must be a string",
    "string_too_long": "'{field}' is too long",
    "nul": "'{field}' must not contain NUL characters",
    "string_unicode": "'{field}' is not valid Unicode",
    "list_type": "'{field}' must be an array of strings",
    "too_long": "'{field}' has too many items",
    "bool_type": "'{field}' must be true or false",
    "dict_type": "'{field}' must be a JSON object",
    "int_type": "'{field}' must be an integer",
    "greater_than_equal": "'{field}' must be between {ge} and {le}",
    "less_than_equal": "'{field}' must be between {ge} and {le}",
    "one_of": "'{field}' must be one of {values}",
}
#: Client metadata is invalid_client_metadata (RFC 7591 section 3.2.2); the
#: operator's own fields and a wrong id are plain invalid_request.
CLIENT_ERRORS: Final = ErrorPolicy(
    MESSAGES,
    InvalidClientMetadata,
    by_field={"client_id": InvalidRequest, "client_secret": InvalidRequest},
    by_type={"path_mismatch": InvalidRequest},
)
ERRORS: Final = ErrorPolicy(MESSAGES, InvalidRequest)


def string_fault(value: str, max_length: int = MAX_STRING) -> str | None:
    """The error type of a string the API refuses, in the order it is checked;
    None for a good one. Query parameters are held to the same rule."""
    if len(value) > max_length:
        return "string_too_long"
    if "\x00" in value:
        return "nul"
    try:
        # JSON may carry lone surrogates ("\ud800"), which protobuf cannot send.
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "string_unicode"
    return None


def _checked(max_length: int) -> Callable[[object], object]:
    def check(value: object) -> object:
        # Ahead of pydantic's own string check, which reports a surrogate
        # before a length.
        fault = string_fault(value, max_length) if isinstance(value, str) else None
        if fault:
            raise PydanticCustomError(fault, fault)
        return value

    return check


def _at_most_items(value: object) -> object:
    if isinstance(value, list) and len(value) > MAX_ITEMS:
        raise PydanticCustomError("too_long", "too_long")
    return value


def _present(value: object) -> object:
    # An empty value counts as missing: "" is no username and no password.
    if not value:
        raise PydanticCustomError("missing", "missing")
    return value


def _matches_path(value: object, info: ValidationInfo) -> object:
    if value != (info.context or {}).get(info.field_name):
        raise PydanticCustomError("path_mismatch", "path_mismatch")
    return value


def _one_of(values: Sequence[str]) -> Callable[[str], str]:
    def check(value: str) -> str:
        if value and value not in values:
            raise PydanticCustomError("one_of", "one_of", {"values": ", ".join(values)})
        return value

    return check


String = Annotated[str, Field(max_length=MAX_STRING), BeforeValidator(_checked(MAX_STRING))]
Strings = Annotated[list[String], Field(max_length=MAX_ITEMS), BeforeValidator(_at_most_items)]
Required = Annotated[String, Field(min_length=1), BeforeValidator(_present)]
#: The id in the path, sent back by a PATCH: it must be the same.
PathId = Annotated[
    object,
    AfterValidator(_matches_path),
    WithJsonSchema({"type": "string", "description": "Read-only; if sent, the path's"}),
]
#: A read-only field a PATCH may send back; its value is ignored.
ReadOnly = Annotated[object, Field(description="Read-only; ignored")]


class ClientMetadata(BodyModel):
    """RFC 7591 section 2 client metadata, as the admin API sets it."""

    error_policy = CLIENT_ERRORS

    client_name: String = ""
    scope: String = Field(default="", description="Space-separated scopes (RFC 6749 section 3.3)")
    token_endpoint_auth_method: String = Field(default="", description=" | ".join(ClientAuthMethod))
    access_token_signing_alg: String = ""
    client_uri: String = ""
    logo_uri: String = ""
    redirect_uris: Strings = []
    grant_types: Strings = []
    response_types: Strings = []
    post_logout_redirect_uris: Strings = []
    contacts: Strings = []
    require_pkce: bool = False
    always_issue_refresh_token: bool = False
    allowed_cors_origins: Strings = Field(
        default=[], description="Browser origins scheme://host[:port] allowed for CORS"
    )
    introspection: bool = Field(
        default=False,
        description="May introspect tokens issued to other clients (RFC 7662 section 2.1)",
    )
    enabled: bool = Field(
        default=True,
        description="false: the client can no longer authenticate or start an authorization, "
        "and its tokens are revoked",
    )
    require_pushed_authorization_requests: bool = Field(
        default=False,
        description="RFC 9126 section 6: only pushed authorization requests (POST /oauth/par)",
    )
    jwks: dict[str, Any] | None = Field(
        default=None,
        description='RFC 7591 section 2: the client\'s public keys, a JWK Set {"keys": [...]} '
        "of RSA, EC or OKP public keys; null for none. Never with jwks_uri",
    )
    jwks_uri: String = Field(
        default="", description="RFC 7591 section 2: the https URL of its JWK Set"
    )
    require_signed_request_object: bool = Field(
        default=False,
        description="RFC 9101 section 10.5: its authorization requests must be signed "
        "request objects",
    )
    request_object_signing_alg: String = Field(
        default="",
        description="The JWS alg of its request objects: "
        + " | ".join(ClientSigningAlg)
        + "; empty for any of them",
    )
    backchannel_logout_uri: String = Field(
        default="",
        description="OpenID Connect Back-Channel Logout 1.0 section 2.2: the https URL "
        "logout tokens are POSTed to when a session it took part in ends",
    )
    backchannel_logout_session_required: bool = Field(
        default=False, description="Its logout tokens must carry the session's sid"
    )
    token_exchange_audiences: Strings = Field(
        default=[],
        description="RFC 8693: the audiences (registered resource identifiers, client_ids, "
        "other names) it may exchange tokens for with the token-exchange grant",
    )
    dpop_bound_access_tokens: bool = Field(
        default=False,
        description="RFC 9449 section 5.2: its access tokens must be DPoP-bound (its token "
        "requests must carry a DPoP proof)",
    )
    tls_client_auth_subject_dn: String = Field(
        default="",
        description="RFC 8705 section 2.1.2: tls_client_auth only, the subject DN (RFC 4514, "
        "e.g. CN=app.example.com,O=Example) its certificate must have; exactly one of the "
        "five tls_client_auth_* attributes",
    )
    tls_client_auth_san_dns: String = Field(
        default="", description="tls_client_auth: a dNSName SAN its certificate must have"
    )
    tls_client_auth_san_uri: String = Field(
        default="",
        description="tls_client_auth: a uniformResourceIdentifier SAN its certificate must have",
    )
    tls_client_auth_san_ip: String = Field(
        default="",
        description="tls_client_auth: an iPAddress SAN (IPv4 or IPv6) its certificate must have",
    )
    tls_client_auth_san_email: String = Field(
        default="", description="tls_client_auth: an rfc822Name SAN its certificate must have"
    )
    tls_client_certificate_bound_access_tokens: bool = Field(
        default=False,
        description="RFC 8705 section 3.4: its access tokens are bound to its TLS client "
        "certificate (always so for tls_client_auth and self_signed_tls_client_auth)",
    )

    def metadata_set(self) -> list[str]:
        """The metadata fields the body names, in the order declared: an update mask."""
        return [name for name in ClientMetadata.model_fields if name in self.model_fields_set]


class ClientCreate(ClientMetadata):
    """Client metadata, optionally with an id and a secret to import."""

    client_id: Annotated[str, Field(max_length=255), BeforeValidator(_checked(255))] = Field(
        default="", description="Optional operator-chosen id"
    )
    client_secret: Annotated[str, Field(max_length=512), BeforeValidator(_checked(512))] = Field(
        default="", description="Optional imported secret"
    )


class ClientUpdate(ClientMetadata):
    """The metadata fields to replace (at least one). The read-only fields of a
    client may be sent back as they were read and are ignored."""

    client_id: PathId = None
    created_at: ReadOnly = None
    updated_at: ReadOnly = None
    client_secret_expires_at: ReadOnly = None
    dynamically_registered: ReadOnly = None
    revision: ReadOnly = None


class UserCreate(BodyModel):
    """A person who signs in with a username and a password."""

    error_policy = ERRORS

    username: Required
    password: Required
    email: String = ""
    given_name: String = ""
    family_name: String = ""


class UserUpdate(BodyModel):
    """The fields to replace (at least one). The read-only fields of a user may
    be sent back as they were read and are ignored."""

    error_policy = ERRORS

    email: String = ""
    given_name: String = ""
    family_name: String = ""
    name: String = ""
    email_verified: bool = False
    enabled: bool = Field(
        default=False, description="false also revokes every grant the user holds"
    )
    user_id: PathId = None
    username: ReadOnly = None
    created_at: ReadOnly = None
    updated_at: ReadOnly = None
    provider: ReadOnly = None
    provider_user_id: ReadOnly = None

    def replaced(self) -> list[str]:
        """The fields the body sets, read-only ones aside, in the order declared:
        an update mask."""
        return [
            name
            for name, info in UserUpdate.model_fields.items()
            if name in self.model_fields_set and info.annotation is not object
        ]


class PasswordChange(BodyModel):
    """The user's new password."""

    error_policy = ERRORS

    password: Required


class KeyRotation(BodyModel):
    """Omit alg (or the whole body) for the server default."""

    error_policy = ERRORS

    alg: Annotated[String, AfterValidator(_one_of(SIGNING_ALGS))] = Field(
        default="", json_schema_extra={"enum": list(SIGNING_ALGS)}
    )


class RegistrationTokenRequest(BodyModel):
    """An RFC 7591 section 3 initial access token to issue."""

    error_policy = ERRORS

    expires_in: Annotated[int, Field(ge=0, le=31_536_000)] = Field(
        default=0, description="Lifetime in seconds; 0 or absent: the server default"
    )
    max_uses: Annotated[int, Field(ge=0, le=1_000_000)] = Field(
        default=0, description="Registrations it allows; 0 or absent: one"
    )


#: access_token_ttl_seconds: 0 (the server default) or 60 to 86400, which the
#: clients service checks; the body holds it to what the contract can carry.
ResourceTtl = Annotated[int, Field(ge=0, le=86_400)]


class ResourceFields(BodyModel):
    """What an operator sets on a resource server (RFC 8707)."""

    error_policy = ERRORS

    name: String = ""
    scopes: Strings = Field(
        default=[],
        description="The scopes it defines (RFC 6749 section 3.3 scope tokens, 1 to 50): "
        "a token for it carries only these",
    )
    access_token_ttl_seconds: ResourceTtl = Field(
        default=0,
        description="Lifetime of its access tokens: 60 to 86400 seconds; 0 for the server's "
        "access_token_ttl_seconds",
    )
    introspection_client_id: String = Field(
        default="",
        description="The client it introspects with: it is shown the tokens issued for "
        "this resource; empty for none",
    )

    def fields_set(self) -> list[str]:
        """The resource fields the body names, in the order declared: an update mask."""
        return [name for name in ResourceFields.model_fields if name in self.model_fields_set]


class ResourceCreate(ResourceFields):
    """A resource server to register."""

    identifier: Required = Field(
        description="An absolute URI without a fragment, e.g. https://api.example.com/orders "
        "(RFC 8707 section 2): the aud of its access tokens"
    )


class ResourceUpdate(ResourceFields):
    """The fields to replace (at least one). The read-only fields of a resource may
    be sent back as they were read and are ignored."""

    identifier: PathId = None
    created_at: ReadOnly = None
    updated_at: ReadOnly = None
