"""The JWS header of a JWT a client signed, read before its signature is checked:
client assertions (RFC 7523), request objects (RFC 9101) and DPoP proofs (RFC 9449).

One reading for all three: ``alg`` from the caller's allow-list (never ``none``,
never a MAC where the keys are public; RFC 8725 section 3.1), ``typ`` one of the
kinds the caller takes (so that one kind of the client's JWTs never passes for
another, RFC 8725 section 3.11), ``kid`` a string when present. Each failure is the
caller's error class (``invalid_client``, ``invalid_request_object``,
``invalid_dpop_proof``) naming what is wrong.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from common.errors import OAuthError


@dataclass(frozen=True)
class JwsHeader:
    alg: str
    kid: str | None
    fields: Mapping[str, Any]


def read_header(
    token: str,
    *,
    what: str,
    error: type[OAuthError],
    allowed_algs: Collection[str],
    typs: Collection[str],
    typ_required: bool = False,
) -> JwsHeader:
    """The header of ``token`` (``what`` names it in errors: "client assertion").
    ``typs`` are compared case-insensitively (media types, RFC 7515 section 4.1.9),
    the first of them named in the error; without ``typ_required`` an absent
    ``typ`` is taken too."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise error(f"The {what} is not a signed JWT") from None
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in allowed_algs:
        shown = alg[:20] if isinstance(alg, str) else "missing"
        raise error(
            f"The {what}'s alg '{shown}' is not allowed; sign it with one of "
            f"{', '.join(allowed_algs)}"
        )
    typ = header.get("typ")
    if typ is None and not typ_required:
        pass
    elif not isinstance(typ, str) or typ.lower() not in {t.lower() for t in typs}:
        named = next(iter(typs))
        raise error(
            f"The {what}'s typ must be '{named}'" + ("" if typ_required else " (or absent)")
        )
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise error(f"The {what}'s kid must be a string")
    return JwsHeader(alg=alg, kid=kid, fields=header)
