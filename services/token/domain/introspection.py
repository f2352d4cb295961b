"""Token introspection (RFC 7662) and bearer-token verification (RFC 6750).

Only authenticated confidential clients may introspect (section 2.1 requires
authorisation; section 4 warns against token scanning). Whatever is wrong with
the token itself, the answer is ``{"active": false}`` and nothing else
(section 2.2): no error tells a caller why.

And a caller learns only about tokens that concern it (section 4: "the
authorization server MAY respond ... to protect against token scanning"): a
token issued to it, an access token whose ``aud`` names its client_id (it is
that token's resource server), or any token when an operator gave it the
``introspection`` permission (``oauth2ctl client create --introspection``), or an
access token for a registered resource (RFC 8707) whose ``introspection_client_id``
is the caller (``oauth2ctl resource create --introspection-client``).
Any other token, valid or not, is ``{"active": false}`` too, so that
introspection never tells one client that another client's token exists.

A JWT is looked up as an access token: signature, expiry, neither its
``jti`` nor its ``grant_id`` (the grant family) revoked, and issued after the
not-before of its ``sub`` and of its ``client_id`` (docs/operators.md). Anything else is
looked up as a refresh token by its SHA-256.

``verify_bearer`` is the same access-token check for the gateway's protected
resources (userinfo, admin API): it fails with ``invalid_token`` or
``insufficient_scope`` (RFC 6750 section 3.1) instead of answering inactive. A
DPoP-bound token (``cnf.jkt``, RFC 9449) is accepted there only under the ``DPoP``
scheme with a proof of its key whose ``ath`` is the token's hash (section 7), and
introspection shows the binding (section 6.2: ``token_type`` DPoP and ``cnf``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from common.errors import (
    DpopBoundToken,
    InsufficientScope,
    InvalidClient,
    InvalidDpopProof,
    InvalidToken,
)
from common.resources import ResourceDirectory
from services.token.domain.confirmation import (
    BEARER,
    DPOP,
    Confirmation,
    certificate_thumbprint,
)
from services.token.domain.denylist import RevocationList
from services.token.domain.dpop import DpopProof, DpopVerifier
from services.token.domain.grant_families import GrantFamilies
from services.token.domain.jwt_access_token import JwtAccessTokenVerifier
from services.token.domain.ports import (
    AuthenticatedClient,
    ClientAuthenticator,
    ClientCredentials,
)

REFRESH_TOKEN_TYPE = "refresh_token"  # noqa: S105 - a token type, not a secret
#: The token_type of access tokens: a bearer token or a DPoP-bound one.
ACCESS_TOKEN_TYPES = (BEARER, DPOP)


@dataclass(frozen=True)
class IntrospectionResult:
    """RFC 7662 section 2.2; every field but ``active`` is empty when inactive."""

    active: bool
    scope: str = ""
    client_id: str = ""
    token_type: str = ""
    exp: int = 0
    iat: int = 0
    sub: str = ""
    aud: tuple[str, ...] = ()
    iss: str = ""
    jti: str = ""
    auth_time: int = 0
    # RFC 9449 section 6: the DPoP key (``cnf.jkt``) the token is bound to; "" none.
    cnf_jkt: str = ""
    # RFC 8705 section 3.2: the TLS certificate (``cnf.x5t#S256``) it is bound to.
    cnf_x5t_s256: str = ""

    @property
    def is_access_token(self) -> bool:
        return self.token_type in ACCESS_TOKEN_TYPES

    @property
    def scopes(self) -> list[str]:
        return [token for token in self.scope.split(" ") if token]

    @property
    def carries_user(self) -> bool:
        """A client_credentials token's ``sub`` is its client_id (RFC 6749 4.4, and
        RFC 9068 section 2.2); a user's ``sub`` is a UUID, which the registry never
        accepts as a client_id, so the two never meet."""
        return bool(self.sub) and self.sub != self.client_id


INACTIVE = IntrospectionResult(active=False)


def looks_like_jwt(token: str) -> bool:
    """A JWS compact serialisation has three parts; our refresh tokens have no dot."""
    return token.count(".") == 2


async def authenticate_confidential_caller(
    authenticator: ClientAuthenticator, credentials: ClientCredentials
) -> AuthenticatedClient:
    """An authenticated confidential client, else invalid_client."""
    if not credentials.client_id:
        raise InvalidClient("Client authentication failed")
    client = await authenticator.authenticate(credentials)
    if not client.is_confidential:
        raise InvalidClient("Introspection requires a confidential client")
    return client


async def serves_resource(
    resources: ResourceDirectory | None,
    issuer: str,
    caller: AuthenticatedClient,
    audience: tuple[str, ...],
) -> bool:
    """The caller is the introspection client of a registered resource (RFC 8707)
    named in an access token's ``aud``: that token's resource server."""
    if resources is None:
        return False
    for identifier in audience:
        if identifier == issuer:
            continue
        resource = await resources.get(identifier)
        if resource is not None and resource.introspection_client_id == caller.client_id:
            return True
    return False


def may_introspect(caller: AuthenticatedClient, result: IntrospectionResult) -> bool:
    """RFC 7662 section 2.1/4: the token was issued to the caller, names the caller
    in its ``aud``, or the caller holds the operator's introspection permission."""
    if not result.active:
        return True  # inactive tells nothing either way
    return (
        caller.introspection
        or result.client_id == caller.client_id
        or caller.client_id in result.aud
    )


class Introspection:
    """RFC 7662 section 2: is this token active, and what does it carry?"""

    def __init__(
        self,
        authenticator: ClientAuthenticator,
        verifier: JwtAccessTokenVerifier,
        revocations: RevocationList,
        families: GrantFamilies,
        issuer: str,
        resources: ResourceDirectory | None = None,
        *,
        dpop: DpopVerifier | None = None,
    ) -> None:
        self._resources = resources
        # None: DPoP is off, and a DPoP-bound token is accepted nowhere.
        self._dpop = dpop
        self._authenticator = authenticator
        self._verifier = verifier
        self._revocations = revocations
        self._families = families
        self._issuer = issuer

    async def introspect(
        self, token: str, token_type_hint: str, credentials: ClientCredentials
    ) -> IntrospectionResult:
        caller = await authenticate_confidential_caller(self._authenticator, credentials)
        # token_type_hint is only a hint (section 2.1), and the shape of a token already
        # tells which kind it is.
        del token_type_hint
        if looks_like_jwt(token):
            result = await self.access_token(token)
        else:
            result = await self.refresh_token(token)
        if may_introspect(caller, result) or await self._resource_server_of(caller, result):
            return result
        return INACTIVE

    async def _resource_server_of(
        self, caller: AuthenticatedClient, result: IntrospectionResult
    ) -> bool:
        """The caller introspects for a resource the token is for (RFC 8707)."""
        if not result.is_access_token:
            return False
        return await serves_resource(self._resources, self._issuer, caller, result.aud)

    async def access_token(self, token: str) -> IntrospectionResult:
        claims = await self._verifier.verify(token)
        if claims is None or await self._revocations.is_token_revoked(claims):
            return INACTIVE
        return _access_token_result(claims)

    async def refresh_token(self, token: str) -> IntrospectionResult:
        if not token:
            return INACTIVE
        found = await self._families.active_refresh_token(token)
        if found is None:
            return INACTIVE
        stored, family = found
        return IntrospectionResult(
            active=True,
            scope=" ".join(stored.scope),
            client_id=stored.client_id,
            token_type=REFRESH_TOKEN_TYPE,
            exp=int(stored.expires_at.timestamp()),
            iat=int(stored.issued_at.timestamp()),
            sub=stored.subject,
            iss=self._issuer,
            cnf_jkt=family.dpop_jkt,
        )

    async def verify_bearer(
        self,
        token: str,
        required_scopes: list[str] | tuple[str, ...] = (),
        audience: str = "",
        *,
        require_user: bool = False,
        scheme: str = BEARER,
        dpop: DpopProof | None = None,
        client_certificate: bytes = b"",
    ) -> IntrospectionResult:
        """RFC 6750 section 3.1: the active access token, or invalid_token /
        insufficient_scope. With ``audience``, the token's aud must contain it
        (RFC 9068 section 4). With ``require_user``, a token that carries no user
        (client_credentials) is invalid_token, as at the userinfo endpoint.
        ``scheme`` and ``dpop``: how it was presented (RFC 9449 section 7);
        ``client_certificate``: the connection's (RFC 8705 section 3)."""
        result = await self.access_token(token) if looks_like_jwt(token) else INACTIVE
        if not result.active:
            raise InvalidToken("The access token is invalid or expired")
        await self.check_sender(result, token, scheme, dpop)
        if result.cnf_x5t_s256 and (
            not client_certificate
            or certificate_thumbprint(client_certificate) != result.cnf_x5t_s256
        ):
            raise InvalidToken(
                "The access token is bound to a TLS client certificate this request lacks"
            )
        if audience and audience not in result.aud:
            raise InvalidToken("The access token is not meant for this audience")
        if require_user and not result.carries_user:
            raise InvalidToken("The access token carries no user")
        granted = result.scopes
        for scope in required_scopes:
            if scope not in granted:
                raise InsufficientScope(f"The access token lacks scope '{scope}'")
        return result

    async def check_sender(
        self, result: IntrospectionResult, token: str, scheme: str, dpop: DpopProof | None
    ) -> None:
        """RFC 9449 section 7: a DPoP-bound token only under the DPoP scheme, with a
        proof of its key for this request and this token; a bearer token only as Bearer."""
        if scheme.lower() != DPOP.lower():
            if result.cnf_jkt:
                raise DpopBoundToken(
                    "The access token is DPoP-bound: present it with the DPoP scheme and a proof"
                )
            return
        if not result.cnf_jkt:
            raise InvalidToken("The access token is not DPoP-bound: present it as Bearer")
        if dpop is None or not dpop.proof:
            raise InvalidDpopProof("A DPoP-bound access token needs a DPoP proof")
        if self._dpop is None:
            raise InvalidDpopProof("DPoP is not enabled on this server")
        proven = await self._dpop.verify(dpop, access_token=token)
        if proven.jkt != result.cnf_jkt:
            raise InvalidDpopProof("The DPoP proof's key is not the one the token is bound to")


def audience_of(claims: Mapping[str, Any]) -> tuple[str, ...]:
    """``aud`` as a tuple (RFC 7519 section 4.1.3: a string or a list of them)."""
    aud = claims.get("aud", ())
    return (aud,) if isinstance(aud, str) else tuple(str(a) for a in aud)


def _access_token_result(claims: dict[str, Any]) -> IntrospectionResult:
    auth_time = claims.get("auth_time")
    confirmation = Confirmation.of(claims)
    return IntrospectionResult(
        active=True,
        scope=str(claims.get("scope", "")),
        client_id=claims["client_id"],
        token_type=confirmation.token_type,
        cnf_jkt=confirmation.jkt,
        cnf_x5t_s256=confirmation.x5t_s256,
        exp=int(claims["exp"]),
        iat=int(claims["iat"]),
        sub=str(claims.get("sub", "")),
        aud=audience_of(claims),
        iss=str(claims["iss"]),
        jti=claims["jti"],
        auth_time=auth_time if isinstance(auth_time, int) else 0,
    )
