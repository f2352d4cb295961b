"""DPoP proofs (RFC 9449): checking one, and the server nonces that may be asked for.

A client proves that it holds a private key by signing a short JWT, the proof, for
each HTTP request; tokens issued with a proof are bound to the key's RFC 7638
thumbprint (``cnf.jkt``) and are useless without the key. The gateway hands the
token service the proof with the request's method and URL (``htm``, ``htu``); the
checks of section 4.3, in order, each failure ``invalid_dpop_proof`` naming it:

1. a JWS of at most :data:`MAX_PROOF_LENGTH` characters, header ``typ``
   ``dpop+jwt``, ``alg`` an asymmetric one of the allowed, ``jwk`` a public key
   (no private members, never a symmetric one) that fits the ``alg``;
2. the signature, with that key;
3. ``jti``, ``htm``, ``htu`` and ``iat`` present; ``htm`` the request's method,
   ``htu`` its URL (query and fragment ignored; both normalised as RFC 3986 section
   6.2.2 and 6.2.3 suggest);
4. ``iat`` no older than ``max_age_seconds`` and no more than ``clock_skew_seconds``
   ahead;
5. with an access token (at a resource), ``ath`` its SHA-256, base64url;
6. a server nonce (section 8) when nonces are required, or whenever the proof
   carries one: a stale or unknown one is ``use_dpop_nonce`` with a fresh nonce;
7. the ``jti`` never seen before with this key while the proof could be accepted
   (common.replay).

Nonces are stateless: an HMAC of the time step under a key every replica derives
from the key-encryption key, so any replica accepts any replica's nonce.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from common.errors import InvalidDpopProof, TemporarilyUnavailable, UseDpopNonce
from common.jws import read_header
from common.replay import ReplayCache
from common.vocabulary import ClientSigningAlg
from services.token.domain.jwk import thumbprint
from services.token.metrics import DPOP_PROOFS

#: RFC 9449 section 4.2: the ``typ`` of a proof.
PROOF_TYP: Final = "dpop+jwt"
#: The longest proof taken (an RSA-4096 key in the header fits with room to spare).
MAX_PROOF_LENGTH: Final = 8192
#: The longest ``jti`` taken.
MAX_JTI_LENGTH: Final = 256
#: Members that only a private (or symmetric) JWK has (RFC 7518 section 6).
PRIVATE_MEMBERS: Final = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
#: Default ports that RFC 3986 section 6.2.3 normalisation drops.
DEFAULT_PORTS: Final = {"http": 80, "https": 443}
#: RFC 3986 section 2.3: characters that percent-encoding never needs to hide.
_UNRESERVED: Final = "-._~"


@dataclass(frozen=True)
class DpopProof:
    """A proof as the gateway received it: the ``DPoP`` header, the method, the URL."""

    proof: str
    htm: str
    htu: str


@dataclass(frozen=True)
class ProvenKey:
    """The key a valid proof was made with, and a nonce for the client's next proof
    ("" when nonces are off or the proof already carried the current one)."""

    jkt: str
    next_nonce: str = ""


def access_token_hash(access_token: str) -> str:
    """Section 4.2, ``ath``: base64url(SHA-256(the ASCII access token)), no padding."""
    digest = hashlib.sha256(access_token.encode("ascii", "replace")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def normalized_uri(uri: str) -> str | None:
    """``uri`` without query and fragment, syntax- and scheme-normalised (RFC 3986
    section 6.2.2 and 6.2.3): scheme and host in lower case, the default port
    dropped, an empty path as "/", percent-encodings in one form; None when it is not
    an absolute http(s) URI."""
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    path = quote(unquote(parts.path), safe="/!$&'()*+,;=:@" + _UNRESERVED) or "/"
    return urlunsplit((scheme, host, path, "", ""))


class DpopNonces:
    """Section 8: nonces the server hands out and accepts for a few minutes.

    A nonce is HMAC-SHA256 of the time step (``step_seconds`` long) under a key
    derived from ``secret``; the current step's is handed out, and those of the two
    steps before it and of the next are accepted (a replica whose clock runs a
    little ahead hands out the next one)."""

    def __init__(
        self,
        secret: bytes,
        *,
        step_seconds: int = 60,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"oauth2 dpop nonces"
        ).derive(secret)
        self._step = step_seconds
        self._clock = clock

    @property
    def lifetime_seconds(self) -> int:
        """The longest a nonce is accepted."""
        return 4 * self._step

    def _nonce(self, step: int) -> str:
        mac = hmac.new(self._key, step.to_bytes(8, "big", signed=True), hashlib.sha256)
        return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode("ascii")

    def current(self) -> str:
        return self._nonce(int(self._clock() // self._step))

    def accepts(self, nonce: str) -> bool:
        step = int(self._clock() // self._step)
        # Every candidate compared, in constant time each.
        presented = nonce.encode("utf-8", "replace")
        matches = [
            hmac.compare_digest(self._nonce(s).encode("ascii"), presented)
            for s in range(step - 2, step + 2)
        ]
        return any(matches)


class DpopVerifier:
    """RFC 9449 section 4.3 (see the module's docstring)."""

    def __init__(
        self,
        replays: ReplayCache,
        nonces: DpopNonces,
        *,
        allowed_algs: Iterable[str] = tuple(ClientSigningAlg),
        max_age_seconds: int = 300,
        clock_skew_seconds: int = 60,
        require_nonce: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._replays = replays
        self._nonces = nonces
        self._allowed = tuple(allowed_algs)
        self._max_age = max_age_seconds
        self._skew = clock_skew_seconds
        self._require_nonce = require_nonce
        self._clock = clock

    @property
    def allowed_algs(self) -> tuple[str, ...]:
        return self._allowed

    async def verify(self, proof: DpopProof, *, access_token: str = "") -> ProvenKey:
        """The proven key; InvalidDpopProof, UseDpopNonce, or TemporarilyUnavailable
        when the proof's single use cannot be checked."""
        try:
            proven = await self._verify(proof, access_token)
        except InvalidDpopProof:
            DPOP_PROOFS.labels("refused").inc()
            raise
        except UseDpopNonce:
            DPOP_PROOFS.labels("nonce_required").inc()
            raise
        except TemporarilyUnavailable:
            DPOP_PROOFS.labels("unavailable").inc()
            raise
        DPOP_PROOFS.labels("accepted").inc()
        return proven

    async def _verify(self, proof: DpopProof, access_token: str) -> ProvenKey:
        if len(proof.proof) > MAX_PROOF_LENGTH:
            raise InvalidDpopProof(f"The DPoP proof is longer than {MAX_PROOF_LENGTH} characters")
        alg, jwk = self._header(proof.proof)
        claims = self._claims(proof.proof, alg, jwk)
        self._check_request(claims, proof)
        now = self._clock()
        self._check_iat(claims, now)
        if access_token and claims.get("ath") != access_token_hash(access_token):
            raise InvalidDpopProof("The DPoP proof's ath is not the hash of the access token")
        next_nonce = self._check_nonce(claims)
        jkt = thumbprint(jwk)
        remember = float(claims["iat"]) + self._max_age + self._skew - now
        if not await self._replays.first_use(jkt, claims["jti"], remember_seconds=remember):
            raise InvalidDpopProof(
                "The DPoP proof was used before: each one is good once (jti)",
                detail="replayed DPoP proof",
            )
        return ProvenKey(jkt=jkt, next_nonce=next_nonce)

    def _header(self, token: str) -> tuple[str, dict[str, str]]:
        header = read_header(
            token,
            what="DPoP proof",
            error=InvalidDpopProof,
            allowed_algs=self._allowed,
            typs=(PROOF_TYP,),
            typ_required=True,
        )
        alg = header.alg
        jwk = header.fields.get("jwk")
        if not isinstance(jwk, dict) or not all(isinstance(v, str) for v in jwk.values()):
            raise InvalidDpopProof("The DPoP proof's header must carry its public key as 'jwk'")
        if PRIVATE_MEMBERS & jwk.keys():
            raise InvalidDpopProof("The DPoP proof's jwk must be a public key, without its secret")
        return alg, jwk

    def _claims(self, token: str, alg: str, jwk: dict[str, str]) -> dict[str, Any]:
        try:
            key = jwt.PyJWK(jwk, algorithm=alg)
            # RFC 7638 needs the key's required members, which a usable key has.
            thumbprint(jwk)
        except (jwt.PyJWKError, jwt.InvalidKeyError, KeyError, ValueError, TypeError):
            raise InvalidDpopProof(f"The DPoP proof's jwk is not a public key for {alg}") from None
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key.key,
                algorithms=[alg],
                options={
                    "require": ["jti", "htm", "htu", "iat"],
                    # iat is judged below against this verifier's own window.
                    "verify_iat": False,
                    "verify_aud": False,
                },
            )
        except jwt.InvalidSignatureError:
            raise InvalidDpopProof("The DPoP proof's signature does not verify") from None
        except jwt.MissingRequiredClaimError as exc:
            raise InvalidDpopProof(f"The DPoP proof lacks the '{exc.claim}' claim") from None
        except jwt.ExpiredSignatureError:
            raise InvalidDpopProof("The DPoP proof has expired (exp)") from None
        except (jwt.PyJWTError, ValueError, TypeError):
            raise InvalidDpopProof("The DPoP proof is not a valid JWT") from None
        for name in ("jti", "htm", "htu"):
            if not isinstance(claims[name], str) or not claims[name]:
                raise InvalidDpopProof(f"The DPoP proof's '{name}' must be a string")
        if len(claims["jti"]) > MAX_JTI_LENGTH:
            raise InvalidDpopProof(f"The DPoP proof's jti is longer than {MAX_JTI_LENGTH}")
        return claims

    @staticmethod
    def _check_request(claims: Mapping[str, Any], proof: DpopProof) -> None:
        if claims["htm"] != proof.htm:
            raise InvalidDpopProof(
                f"The DPoP proof's htm is not this request's method ({proof.htm})"
            )
        expected = normalized_uri(proof.htu)
        if expected is None or normalized_uri(claims["htu"]) != expected:
            raise InvalidDpopProof(f"The DPoP proof's htu is not this endpoint's URL ({expected})")

    def _check_iat(self, claims: Mapping[str, Any], now: float) -> None:
        iat = claims["iat"]
        if isinstance(iat, bool) or not isinstance(iat, int | float):
            raise InvalidDpopProof("The DPoP proof's iat must be a number")
        if iat > now + self._skew:
            raise InvalidDpopProof("The DPoP proof's iat is in the future")
        if iat < now - self._max_age:
            raise InvalidDpopProof(
                f"The DPoP proof is too old: iat more than {self._max_age} seconds ago"
            )

    def _check_nonce(self, claims: Mapping[str, Any]) -> str:
        """The nonce to hand the client for its next proof; UseDpopNonce when the proof
        needs one it lacks or carries a stale or unknown one."""
        nonce = claims.get("nonce")
        if nonce is None:
            if self._require_nonce:
                raise UseDpopNonce(
                    "The DPoP proof must carry the server's nonce (DPoP-Nonce)",
                    dpop_nonce=self._nonces.current(),
                )
            return ""
        if not isinstance(nonce, str) or not self._nonces.accepts(nonce):
            raise UseDpopNonce(
                "The DPoP proof's nonce is stale or unknown: use the one in DPoP-Nonce",
                dpop_nonce=self._nonces.current(),
            )
        current = self._nonces.current()
        return "" if current == nonce else current
