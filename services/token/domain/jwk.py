"""JSON Web Keys (RFC 7517) and their thumbprints (RFC 7638) for the signing keys."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from common.vocabulary import SigningAlg

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey

#: One active key of each is kept (KeyManager.start).
SUPPORTED_ALGS: tuple[SigningAlg, ...] = tuple(SigningAlg)
RSA_KEY_BITS = 2048

# RFC 7638 section 3.2: the required members of each key type, nothing else.
# OKP (RFC 8037 section 2) for the Ed25519 keys of clients' DPoP proofs.
_THUMBPRINT_MEMBERS = {
    "EC": ("crv", "kty", "x", "y"),
    "RSA": ("e", "kty", "n"),
    "OKP": ("crv", "kty", "x"),
}


def generate_private_key(alg: str) -> PrivateKey:
    if alg == SigningAlg.ES256:
        return ec.generate_private_key(ec.SECP256R1())
    if alg == SigningAlg.RS256:
        return rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_BITS)
    raise ValueError(f"unsupported signing alg {alg!r}")


def public_jwk_members(public_key: PublicKey) -> dict[str, str]:
    """kty/crv/x/y or kty/n/e of a public key (RFC 7518 section 6)."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        members: Any = ECAlgorithm.to_jwk(public_key, as_dict=True)
    else:
        members = RSAAlgorithm.to_jwk(public_key, as_dict=True)
    # Only the key material: PyJWT adds key_ops for RSA, which "use" already says.
    return {name: str(members[name]) for name in _THUMBPRINT_MEMBERS[members["kty"]]}


def thumbprint(jwk: dict[str, str]) -> str:
    """RFC 7638: base64url(SHA-256(canonical JSON of the required members))."""
    required = {name: jwk[name] for name in _THUMBPRINT_MEMBERS[jwk["kty"]]}
    canonical = json.dumps(required, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    digest = hashlib.sha256(canonical.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def public_jwk(public_key: PublicKey, alg: str) -> dict[str, str]:
    """The published JWK: key members plus kid (its thumbprint), alg and use "sig"."""
    members = public_jwk_members(public_key)
    return {**members, "kid": thumbprint(members), "alg": alg, "use": "sig"}
