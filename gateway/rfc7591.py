"""Dynamic client registration bodies: RFC 7591 section 2 client metadata (the
request), section 3.2.1 client information (the answer) and the RFC 7592
section 2.2 update, as pydantic models, and their protobuf counterparts.

The models validate the bodies of ``/oauth/register`` and are their schemas in
``GET /openapi.json``. Faults are RFC 7591 section 3.2.2 errors:
``invalid_redirect_uri`` for the redirect URI lists, ``invalid_client_metadata``
for the rest. ``null`` counts as an omitted member.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Final, Self

from oauth2.v1 import clients_pb2
from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    ValidationInfo,
    model_validator,
)
from pydantic_core import PydanticCustomError

from common.errors import InvalidClientMetadata, InvalidRedirectUri
from common.vocabulary import ClientAuthMethod, ClientSigningAlg
from gateway.models import BodyModel, ErrorPolicy, Omitted, Resource

#: RFC 7592 section 2.2: the server sets these; an update must not send them.
SERVER_FIELDS: Final = (
    "registration_access_token",
    "registration_client_uri",
    "client_secret_expires_at",
    "client_id_issued_at",
)

MESSAGES: Final = {
    "string_type": "'{field}' must be a string",
    "string_unicode": "Invalid characters in '{field}'",
    "list_type": "'{field}' must be an array of strings",
    "bool_type": "'{field}' must be true or false",
    "bool_parsing": "'{field}' must be true or false",
    "dict_type": "'{field}' must be a JSON object",
    "jwks_and_jwks_uri": "'jwks' and 'jwks_uri' must not both be present (RFC 7591 section 2); "
    "register one of them",
    "string_array": "'{field}' must be an array of strings",
    "client_id_mismatch": "'client_id' must be present and match the URL",
    "server_field": "'{field}' is set by the server; leave it out",
}
ERRORS: Final = ErrorPolicy(
    MESSAGES,
    InvalidClientMetadata,
    by_field={"redirect_uris": InvalidRedirectUri, "post_logout_redirect_uris": InvalidRedirectUri},
)


def _all_strings(value: object) -> object:
    # The whole list is checked before any one item is: a number anywhere is
    # reported as such even when an earlier item has bad characters.
    if isinstance(value, list) and not all(isinstance(item, str) for item in value):
        raise PydanticCustomError("string_array", "string_array")
    return value


def _encodable(value: str) -> str:
    # JSON may carry lone surrogates ("\ud800"), which protobuf cannot send.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise PydanticCustomError("string_unicode", "string_unicode") from None
    return value


Utf8 = Annotated[str, AfterValidator(_encodable)]
Text = Utf8 | None
Texts = Annotated[list[Utf8], BeforeValidator(_all_strings)] | None


class ClientRegistrationRequest(BodyModel):
    """RFC 7591 section 2 client metadata. Members this server does not keep are
    ignored, as section 2 requires."""

    model_config = ConfigDict(extra="ignore")
    error_policy = ERRORS

    client_name: Text = None
    scope: Text = Field(default=None, description="Space-separated scopes (RFC 6749 section 3.3)")
    token_endpoint_auth_method: Text = Field(default=None, description=" | ".join(ClientAuthMethod))
    client_uri: Text = None
    logo_uri: Text = None
    redirect_uris: Texts = None
    grant_types: Texts = None
    response_types: Texts = None
    contacts: Texts = None
    post_logout_redirect_uris: Texts = None
    allowed_cors_origins: Texts = Field(
        default=None,
        description="Extension (as ORY Hydra's): browser origins scheme://host[:port] "
        "allowed to call the token, revocation and userinfo endpoints",
    )
    require_pushed_authorization_requests: StrictBool | None = Field(
        default=None, description="RFC 9126 section 6: only pushed authorization requests"
    )
    jwks: dict[str, Any] | None = Field(
        default=None,
        description='The client\'s public keys, a JWK Set {"keys": [...]} of RSA, EC or OKP '
        "public keys; never with jwks_uri",
    )
    jwks_uri: Text = Field(default=None, description="The https URL of the client's JWK Set")
    require_signed_request_object: StrictBool | None = Field(
        default=None,
        description="RFC 9101 section 10.5: only signed request objects",
    )
    request_object_signing_alg: Text = Field(
        default=None,
        description="OpenID Connect Registration 1.0 section 2: "
        + " | ".join(ClientSigningAlg)
        + "; any of them when omitted",
    )
    backchannel_logout_uri: Text = Field(
        default=None,
        description="OpenID Connect Back-Channel Logout 1.0 section 2.2: the https URL "
        "logout tokens are POSTed to",
    )
    backchannel_logout_session_required: StrictBool | None = Field(
        default=None, description="Its logout tokens must carry the session's sid"
    )
    dpop_bound_access_tokens: StrictBool | None = Field(
        default=None,
        description="RFC 9449 section 5.2: its access tokens must be DPoP-bound",
    )
    tls_client_auth_subject_dn: Text = Field(
        default=None,
        description="RFC 8705 section 2.1.2: tls_client_auth only, the subject DN (RFC 4514) "
        "its TLS certificate must have; one of the five tls_client_auth_* members",
    )
    tls_client_auth_san_dns: Text = Field(
        default=None, description="RFC 8705 section 2.1.2: a dNSName SAN of its certificate"
    )
    tls_client_auth_san_uri: Text = Field(
        default=None,
        description="RFC 8705 section 2.1.2: a uniformResourceIdentifier SAN of its certificate",
    )
    tls_client_auth_san_ip: Text = Field(
        default=None,
        description="RFC 8705 section 2.1.2: an iPAddress SAN (IPv4 or IPv6) of its certificate",
    )
    tls_client_auth_san_email: Text = Field(
        default=None, description="RFC 8705 section 2.1.2: an rfc822Name SAN of its certificate"
    )
    tls_client_certificate_bound_access_tokens: StrictBool | None = Field(
        default=None,
        description="RFC 8705 section 3.4: its access tokens are bound to its TLS certificate",
    )

    @model_validator(mode="after")
    def _one_key_source(self) -> Self:
        # RFC 7591 section 2: jwks and jwks_uri MUST NOT both be present. The
        # clients service checks it too; here the request is whole, so refused as sent.
        if self.jwks is not None and self.jwks_uri:
            raise PydanticCustomError("jwks_and_jwks_uri", "jwks_and_jwks_uri")
        return self

    def metadata(self) -> clients_pb2.ClientMetadata:
        return clients_pb2.ClientMetadata(
            client_name=self.client_name or "",
            scope=self.scope or "",
            token_endpoint_auth_method=self.token_endpoint_auth_method or "",
            client_uri=self.client_uri or "",
            logo_uri=self.logo_uri or "",
            redirect_uris=self.redirect_uris or [],
            grant_types=self.grant_types or [],
            response_types=self.response_types or [],
            contacts=self.contacts or [],
            post_logout_redirect_uris=self.post_logout_redirect_uris or [],
            allowed_cors_origins=self.allowed_cors_origins or [],
            require_pushed_authorization_requests=bool(self.require_pushed_authorization_requests),
            # JSON text; the clients service validates it and keeps it canonical.
            jwks=json.dumps(self.jwks, separators=(",", ":")) if self.jwks is not None else "",
            jwks_uri=self.jwks_uri or "",
            require_signed_request_object=bool(self.require_signed_request_object),
            request_object_signing_alg=self.request_object_signing_alg or "",
            backchannel_logout_uri=self.backchannel_logout_uri or "",
            backchannel_logout_session_required=bool(self.backchannel_logout_session_required),
            dpop_bound_access_tokens=bool(self.dpop_bound_access_tokens),
            tls_client_auth_subject_dn=self.tls_client_auth_subject_dn or "",
            tls_client_auth_san_dns=self.tls_client_auth_san_dns or "",
            tls_client_auth_san_uri=self.tls_client_auth_san_uri or "",
            tls_client_auth_san_ip=self.tls_client_auth_san_ip or "",
            tls_client_auth_san_email=self.tls_client_auth_san_email or "",
            tls_client_certificate_bound_access_tokens=bool(
                self.tls_client_certificate_bound_access_tokens
            ),
        )


class ClientRegistrationUpdate(ClientRegistrationRequest):
    """RFC 7592 section 2.2: the full metadata, with the client_id of the URL and
    none of the members the server sets."""

    client_id: str
    client_secret: Text = Field(default=None, description="May be sent back as it was read")

    @model_validator(mode="before")
    @classmethod
    def _section_2_2(cls, data: object, info: ValidationInfo) -> object:
        # Checked ahead of any member, in this order.
        if isinstance(data, dict):
            if data.get("client_id") != (info.context or {}).get("client_id"):
                raise PydanticCustomError("client_id_mismatch", "client_id_mismatch")
            for name in SERVER_FIELDS:
                if name in data:
                    raise PydanticCustomError("server_field", "server_field", {"field": name})
        return data


class ClientRegistrationResponse(Resource):
    """RFC 7591 section 3.2.1 client information response, with RFC 7592 section
    3's registration_client_uri. Empty metadata members are left out."""

    client_id: str
    client_secret: str | Omitted = Field(default=None, description="Confidential clients only")
    client_id_issued_at: int
    client_secret_expires_at: int | Omitted = Field(
        default=None, description="0: the secret does not expire; absent for public clients"
    )
    registration_access_token: str
    registration_client_uri: str
    client_name: str | Omitted = None
    scope: str | Omitted = None
    token_endpoint_auth_method: str | Omitted = None
    client_uri: str | Omitted = None
    logo_uri: str | Omitted = None
    redirect_uris: list[str] | Omitted = None
    grant_types: list[str] | Omitted = None
    response_types: list[str] | Omitted = None
    contacts: list[str] | Omitted = None
    post_logout_redirect_uris: list[str] | Omitted = None
    allowed_cors_origins: list[str] | Omitted = None
    require_pushed_authorization_requests: bool | Omitted = None
    jwks: dict[str, Any] | Omitted = None
    jwks_uri: str | Omitted = None
    require_signed_request_object: bool | Omitted = None
    request_object_signing_alg: str | Omitted = None
    backchannel_logout_uri: str | Omitted = None
    backchannel_logout_session_required: bool | Omitted = None
    dpop_bound_access_tokens: bool | Omitted = None
    tls_client_auth_subject_dn: str | Omitted = None
    tls_client_auth_san_dns: str | Omitted = None
    tls_client_auth_san_uri: str | Omitted = None
    tls_client_auth_san_ip: str | Omitted = None
    tls_client_auth_san_email: str | Omitted = None
    tls_client_certificate_bound_access_tokens: bool | Omitted = None


def client_information(
    answer: clients_pb2.RegisterClientResponse, registration_client_uri: str
) -> ClientRegistrationResponse:
    """The answer of RegisterClient, GetRegistration and UpdateRegistration."""
    client = answer.client
    public = client.token_endpoint_auth_method == ClientAuthMethod.NONE
    return ClientRegistrationResponse(
        client_id=client.client_id,
        client_secret=answer.client_secret or None,
        client_id_issued_at=answer.client_id_issued_at.seconds,
        client_secret_expires_at=None if public else client.client_secret_expires_at.seconds,
        registration_access_token=answer.registration_access_token,
        registration_client_uri=registration_client_uri,
        client_name=client.client_name or None,
        scope=client.scope or None,
        token_endpoint_auth_method=client.token_endpoint_auth_method or None,
        client_uri=client.client_uri or None,
        logo_uri=client.logo_uri or None,
        redirect_uris=list(client.redirect_uris) or None,
        grant_types=list(client.grant_types) or None,
        response_types=list(client.response_types) or None,
        contacts=list(client.contacts) or None,
        post_logout_redirect_uris=list(client.post_logout_redirect_uris) or None,
        allowed_cors_origins=list(client.allowed_cors_origins) or None,
        require_pushed_authorization_requests=client.require_pushed_authorization_requests or None,
        jwks=json.loads(client.jwks) if client.jwks else None,
        jwks_uri=client.jwks_uri or None,
        require_signed_request_object=client.require_signed_request_object or None,
        request_object_signing_alg=client.request_object_signing_alg or None,
        backchannel_logout_uri=client.backchannel_logout_uri or None,
        backchannel_logout_session_required=client.backchannel_logout_session_required or None,
        dpop_bound_access_tokens=client.dpop_bound_access_tokens or None,
        tls_client_auth_subject_dn=client.tls_client_auth_subject_dn or None,
        tls_client_auth_san_dns=client.tls_client_auth_san_dns or None,
        tls_client_auth_san_uri=client.tls_client_auth_san_uri or None,
        tls_client_auth_san_ip=client.tls_client_auth_san_ip or None,
        tls_client_auth_san_email=client.tls_client_auth_san_email or None,
        tls_client_certificate_bound_access_tokens=(
            client.tls_client_certificate_bound_access_tokens or None
        ),
    )
