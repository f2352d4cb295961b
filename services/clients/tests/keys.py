"""JWKs for the tests, generated when first asked for (no key file is committed)."""

from __future__ import annotations

import functools
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm


@functools.cache
def _rsa(bits: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


@functools.cache
def _ec() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@functools.cache
def _okp() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


def _with(jwk: dict[str, Any], kid: str | None) -> dict[str, Any]:
    return {**jwk, "kid": kid} if kid is not None else dict(jwk)


def rsa_jwk(kid: str | None = "rsa-1", bits: int = 2048) -> dict[str, Any]:
    return _with(RSAAlgorithm.to_jwk(_rsa(bits).public_key(), as_dict=True), kid)


def rsa_private_jwk(kid: str | None = "rsa-private") -> dict[str, Any]:
    """A private key: what a client must never register."""
    return _with(RSAAlgorithm.to_jwk(_rsa(2048), as_dict=True), kid)


def ec_jwk(kid: str | None = "ec-1") -> dict[str, Any]:
    return _with(ECAlgorithm.to_jwk(_ec().public_key(), as_dict=True), kid)


def okp_jwk(kid: str | None = "okp-1") -> dict[str, Any]:
    return _with(OKPAlgorithm.to_jwk(_okp().public_key(), as_dict=True), kid)


def ec_private_key() -> ec.EllipticCurvePrivateKey:
    """The private half of :func:`ec_jwk`, to sign with."""
    return _ec()


def rsa_private_key() -> rsa.RSAPrivateKey:
    """The private half of :func:`rsa_jwk` (2048 bits), to sign with."""
    return _rsa(2048)


def key_set(*keys: dict[str, Any]) -> dict[str, Any]:
    """A JWK Set (RFC 7517 section 5) of ``keys``, an EC key when none is given."""
    return {"keys": list(keys) or [ec_jwk()]}
