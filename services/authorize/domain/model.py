"""What the authorize service keeps and answers: people (users), their consent
per client, authorization requests (RFC 6749 section 4.1.1, OpenID Connect Core
section 3.1.2.1) and authorization codes (RFC 6749 section 4.1.2, RFC 7636)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Final

from common.vocabulary import ClientAuthMethod

# RFC 8176 section 2: password-based authentication.
AMR_PASSWORD: Final = "pwd"  # noqa: S105 - a method name, not a password

# Fields an UpdateUser may change (its update_mask).
UPDATABLE_USER_FIELDS: Final = frozenset(
    {"enabled", "email", "email_verified", "given_name", "family_name", "name"}
)


@dataclass(frozen=True, slots=True)
class User:
    """A person who signs in. ``email`` is "" when unset; ``password_hash`` is an
    Argon2id PHC string, or None for an account without a password (social login)."""

    user_id: str
    username: str
    email: str
    email_verified: bool
    enabled: bool
    given_name: str
    family_name: str
    name: str
    created_at: datetime
    updated_at: datetime
    provider: str = ""
    provider_user_id: str = ""
    password_hash: str | None = field(default=None, repr=False)
    # When the password was last set by SetPassword (None: never since the account
    # was created). A browser session signed in before then no longer counts.
    password_changed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class NewUser:
    """What CreateUser is given; the password is still plain here."""

    username: str
    password: str = field(repr=False)
    email: str = ""
    given_name: str = ""
    family_name: str = ""


@dataclass(frozen=True, slots=True)
class UserChanges:
    """The new values of an UpdateUser; only the fields in its mask are used."""

    enabled: bool = True
    email: str = ""
    email_verified: bool = False
    given_name: str = ""
    family_name: str = ""
    name: str = ""


@dataclass(frozen=True, slots=True)
class UserPage:
    users: list[User]
    next_page_token: str
    total_size: int


@dataclass(frozen=True, slots=True)
class LoginResult:
    user: User
    auth_time: datetime
    amr: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Consent:
    """What a user allowed a client (OpenID Connect Core section 3.1.2.4)."""

    client_id: str
    user_id: str
    scopes: tuple[str, ...]
    granted_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ConsentPage:
    consents: list[Consent]
    next_page_token: str
    total_size: int


@dataclass(frozen=True, slots=True)
class PresentedCredentials:
    """A client's authentication as the gateway read it (RFC 6749 section 2.3):
    checked by the clients service, never here."""

    client_id: str
    client_secret: str = field(repr=False)
    auth_method: str
    #: private_key_jwt, client_secret_jwt: the client assertion (RFC 7523 section 2.2).
    client_assertion: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """The parts of a registered client (owned by the clients service) that an
    authorization request is checked against."""

    client_id: str
    client_name: str
    redirect_uris: tuple[str, ...]
    grant_types: tuple[str, ...]
    scope: tuple[str, ...]
    token_endpoint_auth_method: str
    require_pkce: bool
    client_uri: str = ""
    logo_uri: str = ""
    #: RFC 9126 section 6: its authorization requests must be pushed.
    require_pushed_authorization_requests: bool = False
    #: Its public keys (RFC 7591 section 2): a JWK Set's JSON text, or where to fetch one.
    jwks: str = ""
    jwks_uri: str = ""
    #: RFC 9101 section 10.5: its authorization requests must be signed request objects.
    require_signed_request_object: bool = False
    #: The one alg its request objects use ("" : any of ClientSigningAlg).
    request_object_signing_alg: str = ""

    @property
    def is_public(self) -> bool:
        """RFC 6749 section 2.1: a client without credentials."""
        return self.token_endpoint_auth_method == ClientAuthMethod.NONE


@dataclass(frozen=True, slots=True)
class CodeRequest:
    """What an authorization code is bound to (RFC 6749 section 4.1.2, RFC 7636 4.4)."""

    client_id: str
    user_id: str
    redirect_uri: str
    redirect_uri_in_request: bool
    scopes: tuple[str, ...]
    code_challenge: str
    code_challenge_method: str
    nonce: str
    auth_time: datetime | None
    amr: tuple[str, ...]
    #: RFC 8707: the resource of the request ("" none).
    resource: str = ""
    #: The browser session that approved the request (OpenID Connect Back-Channel
    #: Logout 1.0, the ``sid`` claim; "" none).
    sid: str = ""
    #: RFC 9449 section 10: the DPoP key (RFC 7638 thumbprint) the code is bound to
    #: ("" unbound).
    dpop_jkt: str = ""


@dataclass(frozen=True, slots=True)
class AuthorizationCode:
    """A stored authorization code: only ``code_id`` (its SHA-256) identifies it."""

    code_id: str
    client_id: str
    user_id: str
    redirect_uri: str
    redirect_uri_in_request: bool
    scopes: tuple[str, ...]
    code_challenge: str
    code_challenge_method: str
    nonce: str
    auth_time: datetime
    amr: tuple[str, ...]
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None
    resource: str = ""
    sid: str = ""
    dpop_jkt: str = ""


@dataclass(frozen=True, slots=True)
class IssuedCode:
    code: str = field(repr=False)
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class UserClaims:
    """OpenID Connect Core section 5.1 claims of one user for some scopes."""

    sub: str
    claims: dict[str, object]
    enabled: bool


class DeviceStatus(StrEnum):
    """Where a device authorization stands (RFC 8628 section 3.3 to 3.5)."""

    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    # Its tokens were issued: the device_code is spent.
    REDEEMED = "redeemed"


@dataclass(frozen=True, slots=True)
class DeviceAuthorization:
    """A stored device authorization (RFC 8628 section 3.2): only the SHA-256 of
    the device_code (``device_key``, which also names the grant family of its
    tokens) and of the normalised user_code (``user_code_key``) identify it."""

    device_key: str
    user_code_key: str
    client_id: str
    scopes: tuple[str, ...]
    # Seconds the device waits between polls; slow_down adds 5 (section 3.5).
    interval: int
    created_at: datetime
    expires_at: datetime
    status: DeviceStatus = DeviceStatus.PENDING
    # The earliest moment the next poll is not too fast (None: never polled).
    next_poll_at: datetime | None = None
    # Who approved it, and how they signed in (empty until approved).
    subject: str = ""
    auth_time: datetime | None = None
    amr: tuple[str, ...] = ()
    decided_at: datetime | None = None
