"""Request objects (RFC 9101, JWT-Secured Authorization Request; docs/signin.md,
"Signed requests").

A client may send its authorization request as a JWT signed with one of its own keys
(registered ``jwks`` or ``jwks_uri``), in the ``request`` parameter of the
authorization endpoint or of a pushed request (RFC 9126). What is checked, in order,
each failure ``invalid_request_object`` (shown as a page or answered by PAR: the
redirect URI inside is not trusted yet):

1. ``client_id`` is in the query too (section 5) and names a known client; ``request``
   and ``request_uri`` are not both there.
2. The JWS header: ``alg`` from the allow-list (never ``none``, never a MAC: the key is
   the client's public one), the client's registered ``request_object_signing_alg`` when
   it has one; ``typ`` absent or ``oauth-authz-req+jwt`` (section 10.8: no other JWT of
   the client's passes for a request).
3. The signature, with the client's key (``kid`` when named; common.client_keys).
4. The claims: ``iss`` the client and ``aud`` this issuer when present (section 10.2),
   ``client_id`` the query's, ``exp``/``nbf``/``iat`` within ``leeway``, a lifetime of
   at most ``max_lifetime_seconds``; no ``request`` or ``request_uri`` inside; every
   authorization parameter a string (``max_age`` may be a number).

The request is then the object's claims alone, with the query's ``client_id``: RFC
9101 section 6.3 says the authorization server uses only the parameters in the
request object, so query parameters beside it are ignored.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Final

import jwt

from common.client_keys import ClientKeySource, ClientKeysUnavailable, NoSuchKey
from common.errors import InvalidRequest, InvalidRequestObject
from common.jws import read_header
from common.timeutil import utcnow
from common.vocabulary import ClientSigningAlg
from services.authorize.domain.authorization_request import AuthorizationRequest
from services.authorize.domain.model import ClientInfo
from services.authorize.domain.ports import ClientDirectory

#: RFC 9101 section 10.8 (and 4): the media type of a request object.
REQUEST_OBJECT_TYP: Final = "oauth-authz-req+jwt"
#: The typ values a request object may carry (case-insensitive): its own, in short and
#: long form, or the generic "JWT" most libraries write. Any other (at+jwt, dpop+jwt,
#: logout+jwt, ...) is another kind of JWT of the client's and never a request.
ACCEPTED_TYPS: Final = (REQUEST_OBJECT_TYP, "application/" + REQUEST_OBJECT_TYP, "JWT")
#: Parameters that cannot be inside a request object (section 4).
FORBIDDEN_CLAIMS: Final = frozenset({"request", "request_uri"})
#: JWT claims of the object itself, not authorization parameters.
JWT_CLAIMS: Final = frozenset({"iss", "aud", "exp", "nbf", "iat", "jti", "sub"})
_PARAMETERS: Final = frozenset(
    field.name
    for field in dataclasses.fields(AuthorizationRequest)
    if field.name not in ("duplicated_parameters", "request", "request_uri")
)


class RequestObjects:
    def __init__(
        self,
        clients: ClientDirectory,
        keys: ClientKeySource,
        *,
        issuer: str,
        allowed_algs: Iterable[str] = tuple(ClientSigningAlg),
        leeway_seconds: int = 30,
        max_lifetime_seconds: int = 3600,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._clients = clients
        self._keys = keys
        self._issuer = issuer
        self._allowed = tuple(allowed_algs)
        self._leeway = leeway_seconds
        self._max_lifetime = max_lifetime_seconds
        self._clock = clock

    async def unpack(self, request: AuthorizationRequest) -> AuthorizationRequest:
        """The request the signed object stands for (its claims and the query's
        client_id); InvalidRequestObject when it is not a good one."""
        if request.request_uri:
            raise InvalidRequest("Give 'request' or 'request_uri', not both")
        for name in ("client_id", "request"):
            if name in request.duplicated_parameters:
                raise InvalidRequest(f"Parameter '{name}' was given more than once")
        if not request.client_id:
            raise InvalidRequest("Missing 'client_id': it goes beside the request object")
        client = await self._clients.get_client(request.client_id)
        if client is None:
            raise InvalidRequest("Unknown client_id", detail=f"client_id {request.client_id!r}")
        claims = await self.verify(request.request, client)
        return _request_of(claims, client.client_id)

    async def verify(self, token: str, client: ClientInfo) -> dict[str, Any]:
        """The verified claims of the client's request object."""
        header = read_header(
            token,
            what="request object",
            error=InvalidRequestObject,
            allowed_algs=self._allowed,
            typs=ACCEPTED_TYPS,
        )
        alg, kid = header.alg, header.kid
        expected = client.request_object_signing_alg
        if expected and alg != expected:
            raise InvalidRequestObject(
                f"This client signs its request objects with {expected}, not {alg}"
            )
        try:
            key = await self._keys.verification_key(
                jwks=client.jwks, jwks_uri=client.jwks_uri, alg=alg, kid=kid
            )
        except (NoSuchKey, ClientKeysUnavailable) as exc:
            raise InvalidRequestObject(f"Cannot verify the request object: {exc}") from None
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key.key,
                algorithms=[alg],
                # The times are checked below, against this service's clock.
                options={
                    "verify_aud": False,
                    "verify_iss": False,
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "require": [],
                },
            )
        except jwt.InvalidSignatureError:
            raise InvalidRequestObject("The request object's signature does not verify") from None
        except jwt.PyJWTError as exc:
            raise InvalidRequestObject(f"The request object is not valid: {exc}") from None
        self._check_claims(claims, client)
        return claims

    def _check_times(self, claims: dict[str, Any]) -> None:
        """exp, nbf and iat (RFC 7519 section 4.1) within the leeway, and a bounded
        lifetime."""
        now = self._clock().timestamp()
        for name in ("exp", "nbf", "iat"):
            value = claims.get(name)
            if value is not None and (
                not isinstance(value, int | float) or isinstance(value, bool)
            ):
                raise InvalidRequestObject(f"The request object's {name} must be a number")
        exp, nbf, iat = claims.get("exp"), claims.get("nbf"), claims.get("iat")
        if exp is not None and exp <= now - self._leeway:
            raise InvalidRequestObject("The request object has expired")
        if nbf is not None and nbf > now + self._leeway:
            raise InvalidRequestObject("The request object is not valid yet (nbf)")
        if iat is not None and iat > now + self._leeway:
            raise InvalidRequestObject("The request object was issued in the future (iat)")
        if exp is not None:
            start = iat if iat is not None else (nbf if nbf is not None else now)
            if exp - start > self._max_lifetime:
                raise InvalidRequestObject(
                    f"The request object lives longer than {self._max_lifetime} seconds"
                )

    def _check_claims(self, claims: dict[str, Any], client: ClientInfo) -> None:
        self._check_times(claims)
        if "iss" in claims and claims["iss"] != client.client_id:
            raise InvalidRequestObject("The request object's iss must be the client_id")
        if "aud" in claims:
            audience = claims["aud"]
            audiences = audience if isinstance(audience, list) else [audience]
            if self._issuer not in audiences:
                raise InvalidRequestObject("The request object's aud must be this issuer")
        if "client_id" in claims and claims["client_id"] != client.client_id:
            raise InvalidRequestObject(
                "The request object's client_id is not the one beside it in the request"
            )
        for name in sorted(FORBIDDEN_CLAIMS & claims.keys()):
            raise InvalidRequestObject(f"A request object cannot hold '{name}'")


def _request_of(claims: dict[str, Any], client_id: str) -> AuthorizationRequest:
    """The authorization parameters among the claims, as the query would carry them."""
    pairs: list[tuple[str, str]] = [("client_id", client_id)]
    for name, value in claims.items():
        if name in JWT_CLAIMS or name == "client_id" or name not in _PARAMETERS:
            continue
        if name == "max_age" and isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise InvalidRequestObject(f"The request object's '{name}' must be a string")
        pairs.append((name, value))
    try:
        return AuthorizationRequest.from_query(pairs)
    except InvalidRequest as exc:
        raise InvalidRequestObject(exc.description) from None
