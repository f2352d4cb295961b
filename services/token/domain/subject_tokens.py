"""Tokens presented to a token exchange (RFC 8693 section 2.1): the subject token and
the actor token, each read as the token type the client says it is.

Only tokens of this server are accepted, and only by a client they concern:

- an access token (``urn:ietf:params:oauth:token-type:access_token``): valid and not
  revoked (as at introspection), and issued to the client, or naming it in its
  ``aud``, or for a registered resource (RFC 8707) whose introspection client it is;
  that is, a token the client was shown as its resource server;
- a refresh token: active, and issued to the client itself (never another's);
- an ID token: our signature and issuer, not expired, and issued to the client
  (its ``aud`` or ``azp``).

Anything else is invalid_request, as section 2.2.2 assigns ("if either the
subject_token or actor_token are invalid for any reason, or are unacceptable based
on policy"), with one message that does not tell which check failed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from common.errors import InvalidRequest
from common.resources import ResourceDirectory
from services.token.domain.denylist import RevocationList
from services.token.domain.grant_families import GrantFamilies
from services.token.domain.id_token import issued_to
from services.token.domain.introspection import audience_of, serves_resource
from services.token.domain.jwt_access_token import JwtAccessTokenVerifier
from services.token.domain.ports import AuthenticatedClient


class TokenTypeUri(StrEnum):
    """RFC 8693 section 3: token type identifiers."""

    ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105 - a URN
    REFRESH_TOKEN = "urn:ietf:params:oauth:token-type:refresh_token"  # noqa: S105 - a URN
    ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token"  # noqa: S105 - a URN


#: What a subject token may be; an actor token may be an access token or an ID token.
SUBJECT_TOKEN_TYPES = frozenset(TokenTypeUri)
ACTOR_TOKEN_TYPES = frozenset({TokenTypeUri.ACCESS_TOKEN, TokenTypeUri.ID_TOKEN})

UNACCEPTABLE = "The {name} is invalid, expired, or not one this client may exchange"


@dataclass(frozen=True)
class PresentedToken:
    """What a presented token says, once accepted."""

    token_type: TokenTypeUri
    subject: str
    # The client the token was issued to.
    client_id: str
    scope: tuple[str, ...] = ()
    audience: tuple[str, ...] = ()
    # When it stops being valid (epoch seconds; 0 for a refresh token, which the
    # family's lifetime bounds instead).
    expires_at: int = 0
    # The grant family it belongs to ("" none: client_credentials, an ID token).
    family_id: str = ""
    # RFC 8707: the resource a refresh token's family is for.
    resource: str = ""
    auth_time: int | None = None
    # RFC 8693 section 4.1: the actor chain it already carries, if any.
    act: Mapping[str, Any] | None = None

    @property
    def carries_user(self) -> bool:
        """A client_credentials token's ``sub`` is its own client_id."""
        return self.subject != self.client_id


class IdTokenVerifier(Protocol):
    async def verify(self, token: str) -> dict[str, Any] | None:
        """The claims of an ID token we issued that has not expired, else None."""
        ...


class SubjectTokens:
    """Reads subject and actor tokens for :class:`TokenExchangeGrant`."""

    def __init__(
        self,
        access_tokens: JwtAccessTokenVerifier,
        revocations: RevocationList,
        families: GrantFamilies,
        id_tokens: IdTokenVerifier,
        issuer: str,
        resources: ResourceDirectory | None = None,
    ) -> None:
        self._access_tokens = access_tokens
        self._revocations = revocations
        self._families = families
        self._id_tokens = id_tokens
        self._issuer = issuer
        self._resources = resources

    async def read(
        self, client: AuthenticatedClient, token: str, token_type: str, *, name: str
    ) -> PresentedToken:
        """``name`` is the parameter (subject_token, actor_token), for the message."""
        presented: PresentedToken | None = None
        if token_type == TokenTypeUri.ACCESS_TOKEN:
            presented = await self._access_token(client, token)
        elif token_type == TokenTypeUri.REFRESH_TOKEN:
            presented = await self._refresh_token(client, token)
        elif token_type == TokenTypeUri.ID_TOKEN:
            presented = await self._id_token(client, token)
        if presented is None:
            raise InvalidRequest(UNACCEPTABLE.format(name=name.replace("_", " ")))
        return presented

    async def _access_token(self, client: AuthenticatedClient, token: str) -> PresentedToken | None:
        if token.count(".") != 2:
            return None
        claims = await self._access_tokens.verify(token)
        if claims is None or await self._revocations.is_token_revoked(claims):
            return None
        presented = PresentedToken(
            token_type=TokenTypeUri.ACCESS_TOKEN,
            subject=str(claims.get("sub", "")),
            client_id=claims["client_id"],
            scope=tuple(token for token in str(claims.get("scope", "")).split(" ") if token),
            audience=audience_of(claims),
            expires_at=int(claims["exp"]),
            family_id=_string(claims.get("grant_id")),
            auth_time=_integer(claims.get("auth_time")),
            act=_act(claims.get("act")),
        )
        if not presented.subject or not await self._concerns(client, presented):
            return None
        return presented

    async def _concerns(self, client: AuthenticatedClient, presented: PresentedToken) -> bool:
        """Issued to the client, for it (``aud``), or for a resource it serves."""
        if client.client_id in (presented.client_id, *presented.audience):
            return True
        return await serves_resource(self._resources, self._issuer, client, presented.audience)

    async def _refresh_token(
        self, client: AuthenticatedClient, token: str
    ) -> PresentedToken | None:
        if not token or "." in token:
            return None
        found = await self._families.active_refresh_token(token)
        if found is None:
            return None
        stored, family = found
        if stored.client_id != client.client_id:
            return None
        auth_time = family.auth_time
        return PresentedToken(
            token_type=TokenTypeUri.REFRESH_TOKEN,
            subject=stored.subject,
            client_id=stored.client_id,
            scope=tuple(stored.scope),
            family_id=family.family_id,
            resource=family.resource,
            auth_time=int(auth_time.timestamp()) if auth_time is not None else None,
        )

    async def _id_token(self, client: AuthenticatedClient, token: str) -> PresentedToken | None:
        if token.count(".") != 2:
            return None
        claims = await self._id_tokens.verify(token)
        if claims is None:
            return None
        audience = audience_of(claims)
        subject = _string(claims.get("sub"))
        if not subject or issued_to(claims) != client.client_id or client.client_id not in audience:
            return None
        return PresentedToken(
            token_type=TokenTypeUri.ID_TOKEN,
            subject=subject,
            client_id=client.client_id,
            # An ID token grants no scope: what is exchanged for it carries none.
            scope=(),
            audience=audience,
            expires_at=int(claims["exp"]),
            auth_time=_integer(claims.get("auth_time")),
        )


def _string(value: object) -> str:
    return value if isinstance(value, str) else ""


def _integer(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _act(value: object) -> Mapping[str, Any] | None:
    return value if isinstance(value, dict) and value else None
