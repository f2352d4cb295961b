"""What every grant is given and returns (RFC 6749 sections 4 and 5.1)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, ClassVar, Protocol

from common.audit import AuditSink, NoAudit
from common.errors import InvalidTarget
from common.resources import ResourceDirectory, ResourceInfo, single_resource, usable_resource
from services.token.domain.confirmation import NO_CONFIRMATION, Confirmation
from services.token.domain.ports import (
    AuthenticatedClient,
    ClientCredentials,
    CodeConsumer,
    DeviceCodeConsumer,
    UserDirectory,
)

if TYPE_CHECKING:
    # Types only: the gateway reads the grants' declarations for discovery
    # (gateway/routes/discovery.py) and has no use for keys, JWTs or metrics.
    from services.token.domain.dpop import DpopProof
    from services.token.domain.grant_families import GrantFamilies
    from services.token.domain.id_token import IdTokenIssuer
    from services.token.domain.jwt_access_token import JwtAccessTokenIssuer
    from services.token.domain.subject_tokens import SubjectTokens
    from services.token.domain.unfinished_exchanges import UnfinishedExchanges


@dataclass(frozen=True)
class TokenRequest:
    """A token request (RFC 6749 section 4.x.2/4.x.3), already parsed by the gateway.

    Beyond ``grant_type`` and ``credentials``, each field is a request parameter of
    the contract (oauth2.v1.TokenRequest); a grant is handed only those it declares
    in ``PARAMETERS``, the others empty (see :class:`TokenEndpoint`).
    """

    grant_type: str
    credentials: ClientCredentials
    # Space-separated; empty means the client's registered scope.
    scope: str = ""
    code: str = ""
    redirect_uri: str = ""
    code_verifier: str = ""
    refresh_token: str = field(default="", repr=False)
    resource: tuple[str, ...] = ()
    device_code: str = field(default="", repr=False)
    # RFC 8693 section 2.1.
    subject_token: str = field(default="", repr=False)
    subject_token_type: str = ""
    actor_token: str = field(default="", repr=False)
    actor_token_type: str = ""
    requested_token_type: str = ""
    audience: tuple[str, ...] = ()
    # RFC 9449: the request's DPoP proof (the ``DPoP`` header) ...
    dpop: DpopProof | None = field(default=None, repr=False)
    # ... and, once the token endpoint checked it (and the client's TLS certificate,
    # RFC 8705), what every grant binds the access tokens it issues to (``cnf``).
    confirmation: Confirmation = NO_CONFIRMATION


#: What every grant is handed, whatever it declares.
_ALWAYS_GIVEN: frozenset[str] = frozenset({"grant_type", "credentials", "dpop", "confirmation"})
#: The request parameters a TokenRequest carries, which grants declare from.
REQUEST_PARAMETERS: frozenset[str] = frozenset(
    item.name for item in fields(TokenRequest) if item.name not in _ALWAYS_GIVEN
)


@dataclass(frozen=True)
class TokenResponse:
    """RFC 6749 section 5.1."""

    access_token: str = field(repr=False)
    expires_in: int
    scope: str = ""
    token_type: str = "Bearer"  # noqa: S105 - a token type, not a secret
    refresh_token: str = field(default="", repr=False)
    id_token: str = field(default="", repr=False)
    # RFC 8693 section 2.2.1: the token exchange grant's only.
    issued_token_type: str = ""
    # RFC 9449 section 8: a fresh server nonce for the client's next DPoP proof.
    dpop_nonce: str = ""


@dataclass(frozen=True)
class GrantServices:
    """What grants are built with; each takes the parts it needs."""

    access_tokens: JwtAccessTokenIssuer
    id_tokens: IdTokenIssuer
    codes: CodeConsumer
    users: UserDirectory
    families: GrantFamilies
    # Security events for the admin service's audit log (docs/operators.md).
    audit: AuditSink = field(default_factory=NoAudit)
    # Codes consumed by an exchange that then answered 503, for the client's retry.
    unfinished: UnfinishedExchanges | None = None
    # RFC 8628; None: the device authorization grant is not wired (its requests fail).
    devices: DeviceCodeConsumer | None = None
    # RFC 8707: the registered resource servers; None: a ``resource`` is invalid_target.
    resources: ResourceDirectory | None = None
    # RFC 8693: reads the tokens a token exchange presents; None: not wired (it fails).
    subject_tokens: SubjectTokens | None = None


async def resolve_target(
    services: GrantServices,
    client: AuthenticatedClient,
    requested: tuple[str, ...],
    granted: str = "",
) -> ResourceInfo | None:
    """The resource (RFC 8707) the token is for: the request's, else the grant's
    (``granted``); None for the default audience. A request naming another resource
    than its grant's is invalid_target (section 2.2: a grant is not widened)."""
    identifier = single_resource(requested)
    if granted and identifier and identifier != granted:
        raise InvalidTarget("The resource is not the one this grant was made for")
    identifier = identifier or granted
    if not identifier:
        return None
    if services.resources is None:
        raise InvalidTarget("Resource indicators are not configured on this server")
    return await usable_resource(services.resources, identifier, client.scope)


class Grant(Protocol):
    GRANT_TYPE: ClassVar[str]
    # The request parameters the grant reads (node-oidc-provider's ``parameters``),
    # a subset of REQUEST_PARAMETERS; the token endpoint hands it no others.
    PARAMETERS: ClassVar[frozenset[str]]
    # token_endpoint_auth_method values a client must use for this grant; the token
    # endpoint refuses other clients with unauthorized_client before calling the grant.
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[tuple[str, ...]]

    def __init__(self, services: GrantServices) -> None: ...

    async def create_token_response(
        self, client: AuthenticatedClient, request: TokenRequest
    ) -> TokenResponse: ...
