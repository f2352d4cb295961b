"""Reading an RFC 6750 section 2.1 ``Authorization: Bearer`` credential.

One parser for every bearer-protected surface (the admin API, userinfo, the RFC 7592
registration endpoints); each decides itself what a missing or malformed token means
for its answer.
"""

from __future__ import annotations

import re

from starlette.requests import Request

from gateway.client_auth import single_authorization

# RFC 6750 section 2.1: b64token.
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


#: The schemes an access token is presented with: RFC 6750 and RFC 9449 section 7.1.
BEARER = "Bearer"
DPOP = "DPoP"


def authorization_bearer(request: Request) -> str | None:
    """The credential of an ``Authorization: Bearer`` header, stripped; None when the
    request has no Authorization header or one of another scheme. It may be empty or
    malformed: see :func:`is_b64token`. Two Authorization headers are
    ``invalid_request`` (:func:`gateway.client_auth.single_authorization`)."""
    presented = authorization_token(request)
    return presented[1] if presented is not None and presented[0] == BEARER else None


def authorization_token(request: Request) -> tuple[str, str] | None:
    """(scheme, credential) of an ``Authorization`` header of the Bearer or the DPoP
    scheme (compared case-insensitively, RFC 9110 section 11.1), the scheme spelled
    as :data:`BEARER` or :data:`DPOP`; None for no header or another scheme."""
    header = single_authorization(request)
    if header is None:
        return None
    scheme, _, value = header.strip().partition(" ")
    for known in (BEARER, DPOP):
        if scheme.lower() == known.lower():
            return known, value.strip()
    return None


def is_b64token(value: str) -> bool:
    return _B64TOKEN.fullmatch(value) is not None
