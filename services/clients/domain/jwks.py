"""A client's public keys (RFC 7591 section 2: ``jwks`` or ``jwks_uri``) and the JWS
algorithm of its request objects (OpenID Connect Registration 1.0 section 2).

The keys verify what the client signs (request objects, RFC 9101; client
assertions later), so a registered set holds public asymmetric keys only:

* ``jwks``: a JWK Set (RFC 7517 section 5), an object with a ``keys`` array of
  1 to :data:`MAX_KEYS` JWKs, each ``kty`` RSA, EC or OKP (never the symmetric
  ``oct``), without private members, parsing as a key (PyJWT), RSA of at least
  :data:`MIN_RSA_BITS` bits, ``kid`` values unique; at most :data:`MAX_JWKS_BYTES` as
  canonical JSON, the form it is stored and sent in;
* ``jwks_uri``: an absolute https URL with a host and no fragment (http only with
  ``jwks_uri_allow_http``, for development);
* never both (RFC 7591 section 2: they MUST NOT both be present).

Every refusal is ``invalid_client_metadata`` naming the field and the rule.
"""

from __future__ import annotations

import json
from typing import Any, Final

import jwt

from common.client_keys import PRIVATE_MEMBERS
from common.errors import InvalidClientMetadata
from common.vocabulary import ClientSigningAlg
from services.clients.domain.model import REQUEST_OBJECT_SIGNING_ALGS
from services.clients.domain.outbound_uris import validate_outbound_uri

#: The most keys one registered set may hold.
MAX_KEYS: Final = 10
#: The longest registered set, as canonical JSON.
MAX_JWKS_BYTES: Final = 16 * 1024
#: The smallest RSA modulus accepted (RFC 7518 section 3.3: 2048 bits or larger).
MIN_RSA_BITS: Final = 2048
#: ``kty`` values of asymmetric keys (RFC 7518 section 6.1, RFC 8037 section 2).
KEY_TYPES: Final = ("RSA", "EC", "OKP")


def canonical_json(value: Any) -> str:
    """The one text of a JSON value: sorted members, no whitespace, ASCII only."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def validate_jwks(text: str) -> str:
    """A registered JWK Set (JSON text) as canonical JSON, "" for none, or
    InvalidClientMetadata naming the rule it breaks."""
    if not text:
        return ""
    try:
        document = json.loads(text, parse_constant=_no_constants)
    except (ValueError, RecursionError):
        document = None
    if not isinstance(document, dict):
        raise InvalidClientMetadata("'jwks' must be a JWK Set: a JSON object with a 'keys' array")
    canonical = canonical_json(document)
    if len(canonical) > MAX_JWKS_BYTES:
        raise InvalidClientMetadata(
            f"'jwks' is larger than {MAX_JWKS_BYTES // 1024} KiB; register fewer keys "
            "or a 'jwks_uri'"
        )
    keys = document.get("keys")
    if not isinstance(keys, list):
        raise InvalidClientMetadata("'jwks' must be a JWK Set: a JSON object with a 'keys' array")
    if not 1 <= len(keys) <= MAX_KEYS:
        raise InvalidClientMetadata(f"'jwks' must hold 1 to {MAX_KEYS} keys in 'keys'")
    kids: set[str] = set()
    for index, key in enumerate(keys):
        kid = _check_key(index, key)
        if kid is None:
            continue
        if kid in kids:
            raise InvalidClientMetadata(
                f"'jwks' holds two keys with kid {kid[:64]!r}: each 'kid' must be unique"
            )
        kids.add(kid)
    return canonical


def _check_key(index: int, key: object) -> str | None:
    """One JWK of the set, refused unless a public RSA, EC or OKP key; its kid."""
    where = f"'jwks' keys[{index}]"
    if not isinstance(key, dict):
        raise InvalidClientMetadata(f"{where} must be a JSON object (a JWK)")
    private = sorted(PRIVATE_MEMBERS & key.keys())
    if private:
        raise InvalidClientMetadata(
            f"{where} holds private key material ('{private[0]}'): private keys must never "
            "be registered; register the public key only"
        )
    kty = key.get("kty")
    if not isinstance(kty, str) or kty not in KEY_TYPES:
        raise InvalidClientMetadata(
            f"{where}: 'kty' must be {', '.join(KEY_TYPES[:-1])} or {KEY_TYPES[-1]} "
            "(symmetric oct keys are refused)"
        )
    kid = key.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise InvalidClientMetadata(f"{where}: 'kid' must be a string")
    try:
        parsed = jwt.PyJWK(key)
    except (jwt.PyJWTError, NotImplementedError, ValueError, TypeError) as exc:
        # NotImplementedError: an "alg" member of "none".
        reason = str(exc) or type(exc).__name__
        raise InvalidClientMetadata(
            f"{where} is not a valid {kty} public key: {reason[:120]}", detail=reason
        ) from None
    bits = getattr(parsed.key, "key_size", 0) if kty == "RSA" else 0
    if kty == "RSA" and bits < MIN_RSA_BITS:
        raise InvalidClientMetadata(
            f"{where}: an RSA key must have at least {MIN_RSA_BITS} bits (this one has {bits})"
        )
    return kid


def validate_jwks_uri(uri: str, *, allow_http: bool = False) -> str:
    """An absolute https URL with a host and no fragment ("" for none); http too
    when ``allow_http`` (development and tests only). The server fetches it, so it
    follows the rule of every URL the server calls
    (:mod:`services.clients.domain.outbound_uris`)."""
    return validate_outbound_uri(uri, "jwks_uri", allow_http=allow_http)


def check_key_source(jwks: str, jwks_uri: str) -> None:
    """RFC 7591 section 2: ``jwks`` and ``jwks_uri`` MUST NOT both be present."""
    if jwks and jwks_uri:
        raise InvalidClientMetadata(
            "'jwks' and 'jwks_uri' must not both be present (RFC 7591 section 2); "
            "register one of them"
        )


def validate_request_object_signing_alg(alg: str) -> str:
    """ "" (any of ClientSigningAlg) or one of them; never ``none``."""
    if alg not in REQUEST_OBJECT_SIGNING_ALGS:
        raise InvalidClientMetadata(
            f"Unsupported 'request_object_signing_alg' {alg[:32]!r}; "
            f"use {', '.join(ClientSigningAlg)} (or leave it out for any of them)"
        )
    return alg
