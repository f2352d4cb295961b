"""The RFC vocabulary of the system, defined once.

Every process spells grant types, client authentication methods, signing
algorithms, response types and modes, PKCE methods and audit outcomes with these
names. The contracts carry them as strings (protos/oauth2/v1 has no enums for
them; the comments there list the same values), so each member is a ``StrEnum``
equal to the string on the wire: ``GrantType.REFRESH_TOKEN == "refresh_token"``.

Declaration order is the order in which they are listed to the outside
(discovery, error messages), so it is part of the behaviour.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class Term(StrEnum):
    """A term of the vocabulary: a ``str`` in every respect, ``repr`` included, so
    that a message quoting a value (``f"{grant_type!r}"``) reads the same whether
    the value came from the wire or from a default."""

    def __repr__(self) -> str:
        return repr(self.value)


class GrantType(Term):
    """Grant types of the token endpoint (RFC 6749 section 4, RFC 8628 section 3.4)
    and of a client's ``grant_types`` (RFC 7591 section 2)."""

    AUTHORIZATION_CODE = "authorization_code"
    REFRESH_TOKEN = "refresh_token"  # noqa: S105 - a grant type, not a secret
    CLIENT_CREDENTIALS = "client_credentials"
    # RFC 8628: the device authorization grant.
    DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"
    # RFC 8693: token exchange.
    TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105 - a URN


class ClientAuthMethod(Term):
    """``token_endpoint_auth_method`` values (RFC 7591 section 2) and the
    ``ClientCredentials.auth_method`` of the contract (RFC 6749 section 2.3.1)."""

    CLIENT_SECRET_BASIC = "client_secret_basic"  # noqa: S105 - a method name
    CLIENT_SECRET_POST = "client_secret_post"  # noqa: S105 - a method name
    # RFC 7523 section 2.2 (OpenID Connect Core section 9): a JWT the client signs
    # with an HMAC (ClientSecretSigningAlg) keyed by the client secret it was issued.
    CLIENT_SECRET_JWT = "client_secret_jwt"  # noqa: S105 - a method name
    # RFC 7523 section 2.2 (OpenID Connect Core section 9): a JWT the client signs
    # with a private key whose public half it registered (jwks or jwks_uri).
    PRIVATE_KEY_JWT = "private_key_jwt"
    # RFC 8705 section 2.1: mutual TLS with a certificate that chains to a trusted CA
    # and carries the one subject attribute the client registered (PKI).
    TLS_CLIENT_AUTH = "tls_client_auth"
    # RFC 8705 section 2.2: mutual TLS with a certificate whose public key is one of
    # the client's registered keys (jwks or jwks_uri).
    SELF_SIGNED_TLS_CLIENT_AUTH = "self_signed_tls_client_auth"
    # Public clients, which hold no secret (RFC 6749 section 2.1).
    NONE = "none"


#: The methods of confidential clients (RFC 6749 section 2.1): they hold a credential.
CONFIDENTIAL_AUTH_METHODS: Final[tuple[ClientAuthMethod, ...]] = (
    ClientAuthMethod.CLIENT_SECRET_BASIC,
    ClientAuthMethod.CLIENT_SECRET_POST,
    ClientAuthMethod.CLIENT_SECRET_JWT,
    ClientAuthMethod.PRIVATE_KEY_JWT,
    ClientAuthMethod.TLS_CLIENT_AUTH,
    ClientAuthMethod.SELF_SIGNED_TLS_CLIENT_AUTH,
)
#: The confidential methods whose credential is a client secret the server issues
#: (sent as it is, or, for client_secret_jwt, the key of the client's assertions).
SECRET_AUTH_METHODS: Final[tuple[ClientAuthMethod, ...]] = (
    ClientAuthMethod.CLIENT_SECRET_BASIC,
    ClientAuthMethod.CLIENT_SECRET_POST,
    ClientAuthMethod.CLIENT_SECRET_JWT,
)
#: RFC 8705 section 2: the methods by which a client authenticates with its TLS
#: client certificate (checked by services/clients/domain/client_certificates.py).
TLS_AUTH_METHODS: Final[tuple[ClientAuthMethod, ...]] = (
    ClientAuthMethod.TLS_CLIENT_AUTH,
    ClientAuthMethod.SELF_SIGNED_TLS_CLIENT_AUTH,
)
#: RFC 7523 section 2.2: ``client_assertion_type`` of a JWT client assertion.
JWT_BEARER_ASSERTION_TYPE: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class SigningAlg(Term):
    """JWS algorithms the token service keeps a signing key for (RFC 7518 section 3.1):
    access tokens (RFC 9068) and ID tokens (OpenID Connect Core section 2)."""

    ES256 = "ES256"
    # OpenID Connect Core section 15.1: mandatory for ID tokens.
    RS256 = "RS256"


class ClientSigningAlg(Term):
    """JWS algorithms accepted from clients, verified with their registered public keys:
    request objects (RFC 9101) and ``private_key_jwt`` client assertions (RFC 7523).
    Never ``none``, never a MAC (the keys are public)."""

    RS256 = "RS256"
    PS256 = "PS256"
    ES256 = "ES256"
    EDDSA = "EdDSA"


class ClientSecretSigningAlg(Term):
    """JWS algorithms of ``client_secret_jwt`` client assertions (RFC 7523 section 2.2,
    OpenID Connect Core section 9): HMACs keyed by the client secret (RFC 7518
    section 3.2), only where the secret is shared with the server alone."""

    HS256 = "HS256"
    HS384 = "HS384"
    HS512 = "HS512"


class ResponseType(Term):
    """Authorization endpoint response types (RFC 6749 section 3.1.1); OAuth 2.1
    keeps only the code flow's."""

    CODE = "code"


class ResponseMode(Term):
    """How the authorization response travels (OAuth 2.0 Multiple Response Type
    Encoding Practices section 2.1)."""

    QUERY = "query"
    #: OAuth 2.0 Form Post Response Mode: an auto-submitting form POSTs the response.
    FORM_POST = "form_post"


class CodeChallengeMethod(Term):
    """PKCE ``code_challenge_method`` values (RFC 7636 section 4.2 and 6.2.2, the
    "PKCE Code Challenge Methods" registry); checked in common/pkce.py."""

    S256 = "S256"
    # Allowed only where an operator opts in for legacy clients; never advertised.
    PLAIN = "plain"


class AuditOutcome(Term):
    """``AuditEvent.outcome`` (docs/operators.md, "Audit events")."""

    SUCCESS = "success"
    FAILURE = "failure"
    DENIED = "denied"


class StandardScope(Term):
    """The scopes OpenID Connect Core defines (section 3.1.2.1, 5.4, 11)."""

    OPENID = "openid"
    PROFILE = "profile"
    EMAIL = "email"
    # Section 11: a refresh token, for access while the person is away.
    OFFLINE_ACCESS = "offline_access"


#: OpenID Connect Core section 5.4: the claims each scope releases (in the order
#: they are listed in discovery). The authorize service releases exactly these.
CLAIMS_BY_SCOPE: Final[dict[StandardScope, tuple[str, ...]]] = {
    StandardScope.OPENID: ("sub",),
    StandardScope.PROFILE: (
        "name",
        "given_name",
        "family_name",
        "preferred_username",
        "updated_at",
    ),
    StandardScope.EMAIL: ("email", "email_verified"),
    StandardScope.OFFLINE_ACCESS: (),
}

#: OpenID Connect Core section 2: the claims of an ID token besides the person's.
ID_TOKEN_CLAIMS: Final = (
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "amr",
    "azp",
    "at_hash",
    # OpenID Connect Back-Channel Logout 1.0 section 2.4: the session.
    "sid",
)
