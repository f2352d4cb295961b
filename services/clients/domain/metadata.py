"""Client metadata validation (RFC 7591 section 2, OAuth 2.1 section 2).

:func:`validate_metadata` fills in defaults and checks that the fields agree
with each other; every rejection names the field it is about.

Defaults, chosen so that the common cases need no flags:

* ``token_endpoint_auth_method``: ``client_secret_basic`` (RFC 7591 section 2).
* ``grant_types``: ``authorization_code`` + ``refresh_token`` when redirect URIs
  are given (a web or native app), otherwise ``client_credentials`` (a backend).
* ``response_types``: ``code`` when ``authorization_code`` is allowed, else none.
* ``require_pkce``: true (OAuth 2.1 section 4.1.1).
* ``client_name``: the client_id.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from urllib.parse import urlsplit

from cryptography import x509

from common.errors import InvalidClientMetadata, InvalidRedirectUri, InvalidRequest
from common.scopes import format_scope, parse_scope
from common.vocabulary import (
    CONFIDENTIAL_AUTH_METHODS,
    ClientAuthMethod,
    GrantType,
    ResponseType,
    SigningAlg,
)
from services.clients.domain.jwks import (
    check_key_source,
    validate_jwks,
    validate_jwks_uri,
    validate_request_object_signing_alg,
)
from services.clients.domain.model import (
    ACCESS_TOKEN_SIGNING_ALGS,
    AUTH_METHODS,
    CONFIDENTIAL_METHODS,
    GRANT_TYPES,
    RESPONSE_TYPES,
    TLS_SUBJECT_FIELDS,
    ClientMetadata,
)
from services.clients.domain.outbound_uris import validate_outbound_uri
from services.clients.domain.redirect_uris import (
    LOOPBACK_HOSTS,
    MAX_URI_LENGTH,
    check_redirect_uri,
)

MAX_CLIENT_ID_LENGTH = 128
MAX_NAME_LENGTH = 200
MAX_URIS = 50
MAX_CONTACTS = 20
MAX_SCOPE_LENGTH = 4000
MAX_SECRET_LENGTH = 512
#: An imported secret is guessable when it is short; generated ones hold 256 bits.
MIN_IMPORTED_SECRET_LENGTH = 32
MAX_CORS_ORIGINS = 50
MAX_TOKEN_EXCHANGE_AUDIENCES = 20
MAX_AUDIENCE_LENGTH = 255
#: The longest RFC 8705 subject attribute (tls_client_auth_subject_dn, ..._san_*).
MAX_TLS_SUBJECT_LENGTH = 1024

# RFC 6749 Appendix A.1: client-id = *VSCHAR, VSCHAR = %x20-7E.
_VSCHAR = re.compile(r"[\x20-\x7e]+")
_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# RFC 3986 section 3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
_URI_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:.+", re.DOTALL)
#: How a refusal names the confidential methods.
_CONFIDENTIAL = "('token_endpoint_auth_method' " + ", ".join(CONFIDENTIAL_AUTH_METHODS) + ")"


def validate_client_id(client_id: str) -> str:
    """An operator-chosen client_id: 1..128 VSCHAR (RFC 6749 Appendix A.1), and
    never a UUID.

    A client_credentials token's ``sub`` is its client_id, a user's ``sub`` is
    their user_id, which is always a UUID (services/authorize/domain/users.py).
    Refusing client_ids that parse as a UUID (in any of its spellings) keeps
    the two sets of subjects disjoint by construction, so that no client can
    act as a user at the userinfo endpoint or a resource server. Generated
    client_ids (22 URL-safe characters) never parse as one.
    """
    if len(client_id) > MAX_CLIENT_ID_LENGTH or not _VSCHAR.fullmatch(client_id):
        raise InvalidRequest(
            f"Invalid 'client_id': 1 to {MAX_CLIENT_ID_LENGTH} printable ASCII characters"
        )
    if looks_like_user_subject(client_id):
        raise InvalidRequest(
            "Invalid 'client_id': a UUID is reserved for user subjects; choose another id"
        )
    return client_id


def looks_like_user_subject(value: str) -> bool:
    """True for any string Python's UUID parser accepts (user ids are UUIDs)."""
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def validate_imported_secret(secret: str) -> str:
    """An operator-imported secret: at least 32 and at most 512 printable ASCII
    characters (a short secret can be guessed at the token endpoint)."""
    if (
        len(secret) < MIN_IMPORTED_SECRET_LENGTH
        or len(secret) > MAX_SECRET_LENGTH
        or not _VSCHAR.fullmatch(secret)
    ):
        raise InvalidRequest(
            f"Invalid 'client_secret': {MIN_IMPORTED_SECRET_LENGTH} to {MAX_SECRET_LENGTH} "
            "printable ASCII characters"
        )
    return secret


def validate_metadata(
    metadata: ClientMetadata,
    *,
    client_id: str,
    jwks_uri_allow_http: bool = False,
    backchannel_logout_uri_allow_http: bool = False,
) -> ClientMetadata:
    """The metadata with defaults applied, or InvalidClientMetadata / InvalidRedirectUri.

    ``jwks_uri_allow_http`` and ``backchannel_logout_uri_allow_http`` (the settings
    of those names, development only) accept an http ``jwks_uri`` and
    ``backchannel_logout_uri``."""
    auth_method = metadata.token_endpoint_auth_method or ClientAuthMethod.CLIENT_SECRET_BASIC
    if auth_method not in AUTH_METHODS:
        raise InvalidClientMetadata(
            f"Unsupported 'token_endpoint_auth_method' {auth_method!r}; "
            f"use one of {', '.join(sorted(AUTH_METHODS))}"
        )
    redirect_uris = _redirect_uris(metadata.redirect_uris, "redirect_uris")
    post_logout = _redirect_uris(metadata.post_logout_redirect_uris, "post_logout_redirect_uris")
    grant_types = _grant_types(metadata.grant_types, has_redirect_uris=bool(redirect_uris))
    response_types = _response_types(metadata.response_types, grant_types)

    if GrantType.AUTHORIZATION_CODE in grant_types and not redirect_uris:
        # RFC 6749 section 3.1.2.2: clients of the code flow must register them.
        raise InvalidRedirectUri(
            "'redirect_uris' is required when 'grant_types' includes authorization_code"
        )
    if auth_method not in CONFIDENTIAL_METHODS and GrantType.CLIENT_CREDENTIALS in grant_types:
        # RFC 6749 section 4.4: only confidential clients may use client_credentials.
        raise InvalidClientMetadata(
            f"'grant_types' client_credentials requires a confidential client {_CONFIDENTIAL}"
        )
    if metadata.introspection and auth_method not in CONFIDENTIAL_METHODS:
        # RFC 7662 section 2.1: the caller of introspection authenticates.
        raise InvalidClientMetadata(
            f"'introspection' requires a confidential client {_CONFIDENTIAL}"
        )
    if auth_method not in CONFIDENTIAL_METHODS and GrantType.TOKEN_EXCHANGE in grant_types:
        # RFC 8693 section 5: the exchanging client is trusted with others' tokens.
        raise InvalidClientMetadata(
            "'grant_types' urn:ietf:params:oauth:grant-type:token-exchange requires a "
            f"confidential client {_CONFIDENTIAL}"
        )
    token_exchange_audiences = _token_exchange_audiences(metadata.token_exchange_audiences)
    if token_exchange_audiences and GrantType.TOKEN_EXCHANGE not in grant_types:
        raise InvalidClientMetadata(
            "'token_exchange_audiences' needs urn:ietf:params:oauth:grant-type:token-exchange "
            "in 'grant_types'"
        )
    # Back-Channel Logout 1.0 section 2.2: the token service POSTs logout tokens
    # there, so it follows the rule of every URL the server calls (SSRF).
    backchannel_logout_uri = validate_outbound_uri(
        metadata.backchannel_logout_uri,
        "backchannel_logout_uri",
        allow_http=backchannel_logout_uri_allow_http,
    )
    if metadata.backchannel_logout_session_required and not backchannel_logout_uri:
        raise InvalidClientMetadata(
            "'backchannel_logout_session_required' needs a 'backchannel_logout_uri'"
        )
    if metadata.access_token_signing_alg not in ACCESS_TOKEN_SIGNING_ALGS:
        raise InvalidClientMetadata(
            f"Unsupported 'access_token_signing_alg' {metadata.access_token_signing_alg!r}; "
            f"use {' or '.join(SigningAlg)}"
        )
    if len(metadata.scope) > MAX_SCOPE_LENGTH:
        raise InvalidClientMetadata(f"'scope' is longer than {MAX_SCOPE_LENGTH} characters")
    if _CONTROL.search(metadata.scope):
        # Checked here too: a trailing newline slips through a "^...$" token pattern.
        raise InvalidClientMetadata("Invalid character in 'scope'")
    scope = format_scope(parse_scope(metadata.scope, InvalidClientMetadata))
    jwks = validate_jwks(metadata.jwks)
    jwks_uri = validate_jwks_uri(metadata.jwks_uri, allow_http=jwks_uri_allow_http)
    check_key_source(jwks, jwks_uri)
    if auth_method == ClientAuthMethod.PRIVATE_KEY_JWT and not (jwks or jwks_uri):
        # RFC 7523 section 2.2: its assertions are verified with its public keys.
        raise InvalidClientMetadata(
            "'token_endpoint_auth_method' private_key_jwt needs the client's public keys: "
            "register 'jwks' or 'jwks_uri'"
        )
    if auth_method == ClientAuthMethod.SELF_SIGNED_TLS_CLIENT_AUTH and not (jwks or jwks_uri):
        # RFC 8705 section 2.2.2: the certificate's key must be one of its public keys.
        raise InvalidClientMetadata(
            "'token_endpoint_auth_method' self_signed_tls_client_auth needs the client's "
            "public keys (its certificate's among them): register 'jwks' or 'jwks_uri'"
        )
    tls_subject = _tls_subject(metadata, auth_method)

    return ClientMetadata(
        client_name=_client_name(metadata.client_name, client_id),
        redirect_uris=redirect_uris,
        grant_types=grant_types,
        response_types=response_types,
        scope=scope,
        token_endpoint_auth_method=auth_method,
        require_pkce=True if metadata.require_pkce is None else metadata.require_pkce,
        post_logout_redirect_uris=post_logout,
        access_token_signing_alg=metadata.access_token_signing_alg,
        always_issue_refresh_token=metadata.always_issue_refresh_token,
        contacts=_contacts(metadata.contacts),
        client_uri=_web_uri(metadata.client_uri, "client_uri"),
        logo_uri=_web_uri(metadata.logo_uri, "logo_uri"),
        introspection=metadata.introspection,
        allowed_cors_origins=_cors_origins(metadata.allowed_cors_origins),
        enabled=True if metadata.enabled is None else metadata.enabled,
        require_pushed_authorization_requests=metadata.require_pushed_authorization_requests,
        jwks=jwks,
        jwks_uri=jwks_uri,
        require_signed_request_object=metadata.require_signed_request_object,
        request_object_signing_alg=validate_request_object_signing_alg(
            metadata.request_object_signing_alg
        ),
        backchannel_logout_uri=backchannel_logout_uri,
        backchannel_logout_session_required=metadata.backchannel_logout_session_required,
        token_exchange_audiences=token_exchange_audiences,
        dpop_bound_access_tokens=metadata.dpop_bound_access_tokens,
        **tls_subject,
        tls_client_certificate_bound_access_tokens=(
            metadata.tls_client_certificate_bound_access_tokens
        ),
    )


def _tls_subject(metadata: ClientMetadata, auth_method: str) -> dict[str, str]:
    """RFC 8705 section 2.1.2: a tls_client_auth client registers exactly one subject
    attribute of its certificate, and no other client any; each checked for its kind
    and kept as given."""
    present = {name: getattr(metadata, name) for name in TLS_SUBJECT_FIELDS}
    present = {name: value for name, value in present.items() if value}
    if auth_method != ClientAuthMethod.TLS_CLIENT_AUTH:
        if present:
            raise InvalidClientMetadata(
                f"'{next(iter(present))}' is only for 'token_endpoint_auth_method' tls_client_auth"
            )
        return dict.fromkeys(TLS_SUBJECT_FIELDS, "")
    if len(present) != 1:
        raise InvalidClientMetadata(
            "'token_endpoint_auth_method' tls_client_auth needs exactly one of "
            + ", ".join(f"'{name}'" for name in TLS_SUBJECT_FIELDS)
            + " (RFC 8705 section 2.1.2)"
            + (f"; got {len(present)}" if present else "")
        )
    ((name, value),) = present.items()
    _check_tls_subject(name, value)
    return {**dict.fromkeys(TLS_SUBJECT_FIELDS, ""), name: value}


def _check_tls_subject(name: str, value: str) -> None:
    if len(value) > MAX_TLS_SUBJECT_LENGTH:
        raise InvalidClientMetadata(f"'{name}' is longer than {MAX_TLS_SUBJECT_LENGTH} characters")
    if _CONTROL.search(value):
        raise InvalidClientMetadata(f"Invalid character in '{name}'")
    if name == "tls_client_auth_subject_dn":
        try:
            x509.Name.from_rfc4514_string(value)
        except ValueError:
            raise InvalidClientMetadata(
                f"'{name}' must be a distinguished name in RFC 4514 form, "
                "e.g. CN=app.example.com,O=Example"
            ) from None
        return
    if " " in value:
        raise InvalidClientMetadata(f"'{name}' must not contain spaces")
    if name == "tls_client_auth_san_ip":
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise InvalidClientMetadata(
                f"'{name}' must be an IPv4 or IPv6 address, e.g. 192.0.2.10 or 2001:db8::10"
            ) from None
    elif name == "tls_client_auth_san_uri":
        if not _URI_SCHEME.fullmatch(value):
            raise InvalidClientMetadata(
                f"'{name}' must be an absolute URI, e.g. spiffe://example.org/app"
            )
    elif name == "tls_client_auth_san_email":
        local, _, domain = value.partition("@")
        if not local or not domain or "@" in domain:
            raise InvalidClientMetadata(
                f"'{name}' must be an e-mail address with one '@', e.g. app@example.com"
            )


def _client_name(name: str, client_id: str) -> str:
    name = name.strip()
    if len(name) > MAX_NAME_LENGTH or any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        raise InvalidClientMetadata(
            f"Invalid 'client_name': at most {MAX_NAME_LENGTH} characters, no control characters"
        )
    return name or client_id


def _unique(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def _grant_types(values: tuple[str, ...], *, has_redirect_uris: bool) -> tuple[str, ...]:
    if not values:
        if has_redirect_uris:
            return (GrantType.AUTHORIZATION_CODE, GrantType.REFRESH_TOKEN)
        return (GrantType.CLIENT_CREDENTIALS,)
    for grant_type in values:
        if grant_type not in GRANT_TYPES:
            raise InvalidClientMetadata(f"Unsupported value {grant_type!r} in 'grant_types'")
    return _unique(values)


def _response_types(values: tuple[str, ...], grant_types: tuple[str, ...]) -> tuple[str, ...]:
    code_flow = GrantType.AUTHORIZATION_CODE in grant_types
    if not values:
        return (ResponseType.CODE,) if code_flow else ()
    for response_type in values:
        if response_type not in RESPONSE_TYPES:
            raise InvalidClientMetadata(f"Unsupported value {response_type!r} in 'response_types'")
    # RFC 7591 section 2.1: response_types and grant_types must agree.
    if not code_flow:
        raise InvalidClientMetadata(
            "'response_types' code requires authorization_code in 'grant_types'"
        )
    return _unique(values)


def _redirect_uris(values: tuple[str, ...], field: str) -> tuple[str, ...]:
    if len(values) > MAX_URIS:
        raise InvalidRedirectUri(f"Too many '{field}' (at most {MAX_URIS})")
    for uri in values:
        check_redirect_uri(uri, field)
    return _unique(values)


def _web_uri(uri: str, field: str) -> str:
    if not uri:
        return ""
    try:
        parts = urlsplit(uri)
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme not in {"http", "https"}
        or not parts.hostname
        or len(uri) > MAX_URI_LENGTH
        or _CONTROL_OR_SPACE.search(uri)
    ):
        raise InvalidClientMetadata(f"'{field}' must be an absolute http(s) URL")
    return uri


def _token_exchange_audiences(values: tuple[str, ...]) -> tuple[str, ...]:
    if len(values) > MAX_TOKEN_EXCHANGE_AUDIENCES:
        raise InvalidClientMetadata(
            f"Too many 'token_exchange_audiences' (at most {MAX_TOKEN_EXCHANGE_AUDIENCES})"
        )
    for value in values:
        if not value or len(value) > MAX_AUDIENCE_LENGTH or _CONTROL_OR_SPACE.search(value):
            raise InvalidClientMetadata(
                f"Invalid value {value[:100]!r} in 'token_exchange_audiences': 1 to "
                f"{MAX_AUDIENCE_LENGTH} characters, no spaces"
            )
    return _unique(values)


def _contacts(values: tuple[str, ...]) -> tuple[str, ...]:
    if len(values) > MAX_CONTACTS:
        raise InvalidClientMetadata(f"Too many 'contacts' (at most {MAX_CONTACTS})")
    contacts = tuple(value.strip() for value in values)
    for contact in contacts:
        if not contact or len(contact) > 320 or _CONTROL_OR_SPACE.search(contact):
            raise InvalidClientMetadata(f"Invalid value {contact[:100]!r} in 'contacts'")
    return _unique(contacts)


def _cors_origins(values: tuple[str, ...]) -> tuple[str, ...]:
    """``allowed_cors_origins``: each an origin (RFC 6454 section 6.1)
    ``scheme://host[:port]``, https or http on a loopback host, no path, query,
    fragment, userinfo or wildcard; kept in its ASCII serialisation (lower-case
    scheme and host, no default port), as a browser sends it in ``Origin``."""
    if len(values) > MAX_CORS_ORIGINS:
        raise InvalidClientMetadata(f"Too many 'allowed_cors_origins' (at most {MAX_CORS_ORIGINS})")
    return _unique(tuple(_cors_origin(value) for value in values))


def _cors_origin(value: str) -> str:
    refused = InvalidClientMetadata(
        f"Invalid origin {value[:100]!r} in 'allowed_cors_origins': use scheme://host[:port] "
        "with https (or http on a loopback host), no path and no wildcard"
    )
    if not value or len(value) > MAX_URI_LENGTH or _CONTROL_OR_SPACE.search(value):
        raise refused
    if "*" in value or "@" in value or not value.isascii():
        raise refused
    try:
        parts = urlsplit(value)
        hostname, port = parts.hostname, parts.port
    except ValueError:
        raise refused from None
    scheme = parts.scheme.lower()
    if (
        not hostname
        or parts.path
        or parts.query
        or parts.fragment
        or "#" in value
        or "?" in value
        or value.endswith("/")
        or scheme not in {"http", "https"}
        or (scheme == "http" and hostname not in LOOPBACK_HOSTS)
    ):
        raise refused
    host = f"[{hostname}]" if ":" in hostname else hostname
    default_port = 443 if scheme == "https" else 80
    return f"{scheme}://{host}" + (f":{port}" if port is not None and port != default_port else "")
