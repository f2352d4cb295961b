"""What a token is bound to: the ``cnf`` claim (RFC 7800) of sender-constrained tokens.

A DPoP key (RFC 9449 section 6.1, ``jkt``: the key's RFC 7638 thumbprint) or a TLS
client certificate (RFC 8705 section 3.1, ``x5t#S256``: the base64url SHA-256 of its
DER), or both; a token bound to nothing is a bearer token.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

#: RFC 6750 and RFC 9449 section 5: the token_type of a bearer and of a DPoP-bound
#: token (a certificate-bound one is still "Bearer", RFC 8705 section 3).
BEARER: Final = "Bearer"
DPOP: Final = "DPoP"
X5T_S256: Final = "x5t#S256"


def certificate_thumbprint(der: bytes) -> str:
    """RFC 8705 section 3.1: base64url(SHA-256(DER)), no padding."""
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, slots=True)
class Confirmation:
    jkt: str = ""
    x5t_s256: str = ""

    @property
    def token_type(self) -> str:
        return DPOP if self.jkt else BEARER

    def claim(self) -> dict[str, str]:
        """The ``cnf`` members; empty for a bearer token."""
        members = {}
        if self.jkt:
            members["jkt"] = self.jkt
        if self.x5t_s256:
            members[X5T_S256] = self.x5t_s256
        return members

    @classmethod
    def of(cls, claims: Mapping[str, Any]) -> Confirmation:
        """What a token's claims say it is bound to."""
        cnf = claims.get("cnf")
        if not isinstance(cnf, dict):
            return NO_CONFIRMATION
        jkt, x5t = cnf.get("jkt"), cnf.get(X5T_S256)
        return cls(
            jkt=jkt if isinstance(jkt, str) else "",
            x5t_s256=x5t if isinstance(x5t, str) else "",
        )


NO_CONFIRMATION: Final = Confirmation()
