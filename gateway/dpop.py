"""The ``DPoP`` request header (RFC 9449 section 4.1) and what answers carry back.

The gateway only reads the header: the token service checks the proof (signature,
``htm``, ``htu``, ``iat``, ``jti`` once, nonce) and binds tokens to its key. What
the gateway adds is what only it knows: the request's method and the URL it was
received on, built from the configured issuer and the endpoint's path, never from
the Host header a client chose.
"""

from __future__ import annotations

from typing import Final

from oauth2.v1 import token_pb2
from starlette.requests import Request

from common.errors import InvalidDpopProof, OAuthError, safe_description
from common.vocabulary import ClientSigningAlg
from gateway.state import settings_of

HEADER: Final = "DPoP"
NONCE_HEADER: Final = "DPoP-Nonce"
#: The longest DPoP header read (the token service applies the same bound).
MAX_PROOF_LENGTH: Final = 8192
#: Section 7.1: the ``algs`` of the DPoP challenge, the proofs' algs accepted.
ALGS: Final = " ".join(ClientSigningAlg)


def dpop_proof(request: Request, path: str) -> token_pb2.DpopProof:
    """The request's proof for the endpoint at ``path`` (an empty proof when the
    request carries none); invalid_dpop_proof for two headers or an oversized one
    (section 4.3: "there is not more than one DPoP HTTP request header field")."""
    values = request.headers.getlist(HEADER)
    if not values:
        return token_pb2.DpopProof()
    if len(values) > 1:
        raise InvalidDpopProof("Send exactly one DPoP header")
    proof = values[0].strip()
    if not proof:
        raise InvalidDpopProof("The DPoP header is empty")
    if len(proof) > MAX_PROOF_LENGTH:
        raise InvalidDpopProof(f"The DPoP proof is longer than {MAX_PROOF_LENGTH} characters")
    issuer = settings_of(request).issuer.rstrip("/")
    return token_pb2.DpopProof(proof=proof, htm=request.method, htu=issuer + path)


def nonce_headers(nonce: str) -> dict[str, str]:
    """Section 8: the server nonce for the client's next proof, when there is one."""
    return {NONCE_HEADER: nonce} if nonce else {}


def dpop_challenge(realm: str, error: OAuthError | None = None) -> str:
    """Section 7.1: the ``WWW-Authenticate: DPoP`` challenge of a protected resource,
    naming the error (and its description) when there is one, and the algs."""
    parts = [f'realm="{realm}"']
    if error is not None:
        parts.append(f'error="{error.error}"')
        description = safe_description(error.public_description)
        if description:
            parts.append(f'error_description="{description}"')
    parts.append(f'algs="{ALGS}"')
    return "DPoP " + ", ".join(parts)
