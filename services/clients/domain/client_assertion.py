"""JWT client authentication (RFC 7523 sections 2.2 and 3, OpenID Connect Core
section 9): ``private_key_jwt`` and ``client_secret_jwt``.

The client signs a short-lived JWT and sends it as ``client_assertion`` at any
endpoint where it authenticates. The two methods differ only in the key:

- ``private_key_jwt``: a signature (ClientSigningAlg) by a private key whose public
  half the client registered (``jwks`` or ``jwks_uri``);
- ``client_secret_jwt``: an HMAC (ClientSecretSigningAlg: HS256, HS384, HS512) keyed
  by the client secret, which the registry keeps sealed for this
  (services.clients.domain.client_secret.SealedSecrets); the secret must be at
  least as long as the hash's output (RFC 7518 section 3.2).

What is checked, in order; every failure is ``invalid_client`` naming the rule:

1. The JWS header: ``alg`` from the allow-list of the client's method (never
   ``none``; a MAC only for ``client_secret_jwt``, a public-key alg only for
   ``private_key_jwt``, so that no key is ever used as the other kind, RFC 8725
   section 2.1), ``typ`` absent, ``JWT`` or ``client-authentication+jwt`` (no other
   kind of JWT of the client's — a request object, a DPoP proof — passes for one),
   ``kid`` a string when present.
2. The signature, with the client's key: its public key (common.client_keys: the
   ``kid`` it names, a ``jwks_uri`` fetched with a deadline and cached), or its
   secret, unsealed (a copy that does not open authenticates no one).
3. The claims: ``iss`` and ``sub`` the client_id, ``aud`` the issuer or the URL of an
   endpoint where clients authenticate (common.endpoints), ``exp`` required and in
   the future, ``nbf``/``iat`` not in the future (all within ``leeway_seconds``), a
   lifetime of at most ``max_lifetime_seconds``, ``jti`` required.
4. Single use: the ``jti`` is remembered until the assertion expires
   (common.replay); a second use is refused.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

import jwt

from common.client_keys import ClientKeySource, ClientKeysUnavailable, NoSuchKey
from common.errors import InvalidClient, TemporarilyUnavailable
from common.jws import read_header
from common.replay import ReplayCache
from common.vocabulary import ClientAuthMethod, ClientSecretSigningAlg, ClientSigningAlg
from services.clients.domain.client_secret import SealedSecrets, SecretUnavailable
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
#: The JWS algs of each method's assertions: a public key's, or an HMAC with the secret.
ALGS_BY_METHOD: Final[Mapping[str, tuple[str, ...]]] = {
    ClientAuthMethod.CLIENT_SECRET_JWT: tuple(ClientSecretSigningAlg),
    ClientAuthMethod.PRIVATE_KEY_JWT: tuple(ClientSigningAlg),
}
#: The methods that authenticate with a client assertion.
ASSERTION_METHODS: Final = frozenset(ALGS_BY_METHOD)
#: RFC 7518 section 3.2: an HMAC key at least as long as the hash's output, in bytes.
MIN_SECRET_BYTES: Final[Mapping[str, int]] = {
    ClientSecretSigningAlg.HS256: 32,
    ClientSecretSigningAlg.HS384: 48,
    ClientSecretSigningAlg.HS512: 64,
}


class ClientAssertions:
    """Verifies client assertions (RFC 7523 section 3) for the methods of
    :data:`ALGS_BY_METHOD`: ``keys`` finds a ``private_key_jwt`` client's public key,
    ``secrets`` opens a ``client_secret_jwt`` client's secret (without it, that method
    authenticates no one)."""

    def __init__(
        self,
        keys: ClientKeySource,
        replays: ReplayCache,
        *,
        audiences: Iterable[str],
        secrets: SealedSecrets | None = None,
        allowed_algs: Mapping[str, Iterable[str]] = ALGS_BY_METHOD,
        leeway_seconds: int = 30,
        max_lifetime_seconds: int = 3600,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys = keys
        self._secrets = secrets
        self._replays = replays
        self._audiences = list(audiences)
        self._allowed = {method: tuple(algs) for method, algs in allowed_algs.items()}
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
        method = client.token_endpoint_auth_method
        allowed = self._allowed.get(method, ())
        if not allowed:  # the registry sends only these methods here; defence in depth
            raise InvalidClient(
                "The client does not authenticate with a client assertion",
                detail=f"{client.client_id!r} registered {method}",
            )
        alg, kid = self._header(assertion, allowed)
        if method == ClientAuthMethod.CLIENT_SECRET_JWT:
            key: Any = self._secret_key(client, alg)
        else:
            key = await self._public_key(client, alg, kid)
        claims = self._claims(assertion, key, alg, client.client_id)
        remember = float(claims["exp"]) - self._clock() + self._leeway
        if not await self._replays.first_use(
            client.client_id, claims["jti"], remember_seconds=remember
        ):
            raise InvalidClient(
                "The client assertion was used before: each one is good once (jti)",
                detail=f"{REPLAYED} for {client.client_id!r}",
            )

    @staticmethod
    def _header(assertion: str, allowed: tuple[str, ...]) -> tuple[str, str | None]:
        header = read_header(
            assertion,
            what="client assertion",
            error=InvalidClient,
            allowed_algs=allowed,
            typs=ACCEPTED_TYPS,
        )
        return header.alg, header.kid

    async def _public_key(self, client: Client, alg: str, kid: str | None) -> Any:
        """private_key_jwt: the registered public key for ``alg`` (and ``kid``)."""
        try:
            key = await self._keys.verification_key(
                jwks=client.jwks, jwks_uri=client.jwks_uri, alg=alg, kid=kid
            )
        except (NoSuchKey, ClientKeysUnavailable) as exc:
            raise InvalidClient(f"Cannot verify the client assertion: {exc}") from None
        return key.key

    def _secret_key(self, client: Client, alg: str) -> bytes:
        """client_secret_jwt: the octets of the client secret (OpenID Connect Core
        section 10.1), long enough for ``alg``."""
        if self._secrets is None:
            raise InvalidClient(
                "Cannot verify the client assertion with the client's secret",
                detail="no key-encryption key: client_secret_jwt is not set up",
            )
        try:
            secret = self._secrets.open(client.client_id, client.client_secret_encrypted)
        except SecretUnavailable as exc:
            # Fail closed: a secret that does not open authenticates no one.
            raise InvalidClient(
                "Cannot verify the client assertion with the client's secret", detail=str(exc)
            ) from None
        if len(secret) < MIN_SECRET_BYTES[alg]:
            raise InvalidClient(
                f"The client secret is too short a key for {alg} (RFC 7518 section 3.2: "
                f"{MIN_SECRET_BYTES[alg]} bytes at least); sign with HS256"
            )
        return secret

    def _claims(self, assertion: str, key: Any, alg: str, client_id: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                assertion,
                key=key,
                algorithms=[alg],
                audience=self._audiences,
                issuer=client_id,
                leeway=self._leeway,
                options={
                    "require": ["iss", "sub", "aud", "exp", "jti"],
                    # A short HMAC key is refused above; never merely warned about.
                    "enforce_minimum_key_length": alg in MIN_SECRET_BYTES,
                },
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
