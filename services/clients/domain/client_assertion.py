"""JWT client authentication, ``private_key_jwt`` (RFC 7523 sections 2.2 and 3,
OpenID Connect Core section 9).

The client signs a short-lived JWT with a private key whose public half it
registered (``jwks`` or ``jwks_uri``) and sends it as ``client_assertion`` at any
endpoint where it authenticates. What is checked, in order; every failure is
``invalid_client`` naming the rule:

1. The JWS header: ``alg`` from the allow-list (asymmetric only: never ``none``,
   never a MAC), ``typ`` absent, ``JWT`` or ``client-authentication+jwt`` (no other
   kind of JWT of the client's — a request object, a DPoP proof — passes for one),
   ``kid`` a string when present.
2. The signature, with the client's key (common.client_keys: the ``kid`` it names,
   a ``jwks_uri`` fetched with a deadline and cached).
3. The claims: ``iss`` and ``sub`` the client_id, ``aud`` the issuer or the URL of an
   endpoint where clients authenticate (common.endpoints), ``exp`` required and in
   the future, ``nbf``/``iat`` not in the future (all within ``leeway_seconds``), a
   lifetime of at most ``max_lifetime_seconds``, ``jti`` required.
4. Single use: the ``jti`` is remembered until the assertion expires
   (common.replay); a second use is refused.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any, Final

import jwt

from common.client_keys import ClientKeySource, ClientKeysUnavailable, NoSuchKey
from common.errors import InvalidClient, TemporarilyUnavailable
from common.jws import read_header
from common.replay import ReplayCache
from common.vocabulary import ClientSigningAlg
from services.clients.domain.model import Client
from services.clients.metrics import CLIENT_ASSERTIONS

#: ``typ`` values a client assertion may carry (compared case-insensitively):
#: draft-ietf-oauth-rfc7523bis's own in short and long form, or the generic JWT.
ACCEPTED_TYPS: Final = (
    "client-authentication+jwt",
    "application/client-authentication+jwt",
    "JWT",
)
#: The detail of a replay's refusal (logs, the metric's outcome).
REPLAYED: Final = "replayed jti"
#: The longest ``jti`` taken.
MAX_JTI_LENGTH: Final = 256


class ClientAssertions:
    def __init__(
        self,
        keys: ClientKeySource,
        replays: ReplayCache,
        *,
        audiences: Iterable[str],
        allowed_algs: Iterable[str] = tuple(ClientSigningAlg),
        leeway_seconds: int = 30,
        max_lifetime_seconds: int = 3600,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys = keys
        self._replays = replays
        self._audiences = list(audiences)
        self._allowed = tuple(allowed_algs)
        self._leeway = leeway_seconds
        self._max_lifetime = max_lifetime_seconds
        self._clock = clock

    async def verify(self, client: Client, assertion: str) -> None:
        """Returns when ``assertion`` authenticates ``client``; InvalidClient otherwise
        (TemporarilyUnavailable when its single use cannot be checked)."""
        try:
            await self._verify(client, assertion)
        except InvalidClient as exc:
            replayed = exc.detail.startswith(REPLAYED)
            CLIENT_ASSERTIONS.labels("replayed" if replayed else "refused").inc()
            raise
        except TemporarilyUnavailable:
            CLIENT_ASSERTIONS.labels("unavailable").inc()
            raise
        CLIENT_ASSERTIONS.labels("accepted").inc()

    async def _verify(self, client: Client, assertion: str) -> None:
        alg, kid = self._header(assertion)
        try:
            key = await self._keys.verification_key(
                jwks=client.jwks, jwks_uri=client.jwks_uri, alg=alg, kid=kid
            )
        except (NoSuchKey, ClientKeysUnavailable) as exc:
            raise InvalidClient(f"Cannot verify the client assertion: {exc}") from None
        claims = self._claims(assertion, key, alg, client.client_id)
        remember = float(claims["exp"]) - self._clock() + self._leeway
        if not await self._replays.first_use(
            client.client_id, claims["jti"], remember_seconds=remember
        ):
            raise InvalidClient(
                "The client assertion was used before: each one is good once (jti)",
                detail=f"{REPLAYED} for {client.client_id!r}",
            )

    def _header(self, assertion: str) -> tuple[str, str | None]:
        header = read_header(
            assertion,
            what="client assertion",
            error=InvalidClient,
            allowed_algs=self._allowed,
            typs=ACCEPTED_TYPS,
        )
        return header.alg, header.kid

    def _claims(self, assertion: str, key: jwt.PyJWK, alg: str, client_id: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                assertion,
                key=key.key,
                algorithms=[alg],
                audience=self._audiences,
                issuer=client_id,
                leeway=self._leeway,
                options={"require": ["iss", "sub", "aud", "exp", "jti"]},
            )
        except jwt.InvalidSignatureError:
            raise InvalidClient("The client assertion's signature does not verify") from None
        except jwt.ExpiredSignatureError:
            raise InvalidClient("The client assertion has expired (exp)") from None
        except jwt.ImmatureSignatureError:
            raise InvalidClient("The client assertion is not valid yet (nbf or iat)") from None
        except jwt.InvalidAudienceError:
            raise InvalidClient(
                "The client assertion's aud must be this issuer or the endpoint's URL"
            ) from None
        except jwt.InvalidIssuerError:
            raise InvalidClient("The client assertion's iss must be the client_id") from None
        except jwt.MissingRequiredClaimError as exc:
            raise InvalidClient(f"The client assertion must have '{exc.claim}'") from None
        except jwt.PyJWTError as exc:
            raise InvalidClient(f"The client assertion is not valid: {exc}") from None
        if claims["sub"] != client_id:
            raise InvalidClient("The client assertion's sub must be the client_id")
        jti = claims["jti"]
        if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_LENGTH:
            raise InvalidClient(
                f"The client assertion's jti must be 1 to {MAX_JTI_LENGTH} characters"
            )
        exp = float(claims["exp"])
        starts = [float(claims[name]) for name in ("iat", "nbf") if name in claims]
        start = min(starts) if starts else self._clock()
        if exp - start > self._max_lifetime:
            raise InvalidClient(
                f"The client assertion lives longer than {self._max_lifetime} seconds "
                "(exp - iat): make it short-lived"
            )
        return claims
