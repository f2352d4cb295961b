"""Proof Key for Code Exchange (RFC 7636), both halves in one module: the
challenge checked at the authorization endpoint (section 4.3, 4.4.1, OAuth 2.1
section 4.1.1) and the verifier checked at the token endpoint (section 4.6,
with OAuth 2.1 section 4.1.3's downgrade protection); one table of methods and
one syntax for both values (section 4.1 and 4.2: 43 to 128 unreserved
characters).

The authorize service calls :func:`check_challenge` and stores the method it
returns; the token service calls :func:`verify` with what was stored.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Mapping
from typing import Final

from common.errors import InvalidGrant, InvalidRequest
from common.secrets import constant_time_equals
from common.vocabulary import CodeChallengeMethod

__all__ = ["CodeChallengeMethod", "check_challenge", "s256_challenge", "verify"]


def s256_challenge(code_verifier: str) -> str:
    """BASE64URL-ENCODE(SHA256(ASCII(code_verifier))): what a client sends."""
    digest = hashlib.sha256(code_verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


#: How each method turns a verifier into its challenge (section 4.2).
METHODS: Final[Mapping[CodeChallengeMethod, Callable[[str], str]]] = {
    CodeChallengeMethod.S256: s256_challenge,
    CodeChallengeMethod.PLAIN: lambda code_verifier: code_verifier,
}

#: code-verifier = 43*128unreserved (section 4.1); code-challenge likewise (4.2).
SYNTAX: Final = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
SYNTAX_HINT: Final = "43 to 128 characters of A-Z a-z 0-9 - . _ ~"


def check_challenge(
    code_challenge: str, code_challenge_method: str, *, required: bool, allow_plain: bool
) -> str:
    """The authorization request's half: returns the method to store with the
    code ("" when no challenge was sent) or raises ``invalid_request``.

    An absent method means ``plain`` (section 4.3), so an absent method is
    refused unless ``plain`` is allowed: a client that forgot it gets told
    rather than silently downgraded."""
    if not code_challenge:
        if required:
            raise InvalidRequest("code_challenge required")
        if code_challenge_method:
            raise InvalidRequest("'code_challenge_method' was sent without 'code_challenge'")
        return ""
    if code_challenge_method and code_challenge_method not in METHODS:
        raise InvalidRequest(
            f"Unsupported code_challenge_method '{code_challenge_method}'; use 'S256'"
        )
    method = CodeChallengeMethod(code_challenge_method or CodeChallengeMethod.PLAIN)
    if method is CodeChallengeMethod.PLAIN and not allow_plain:
        if not code_challenge_method:
            raise InvalidRequest(
                "Missing 'code_challenge_method', which defaults to 'plain'; "
                "send code_challenge_method=S256"
            )
        raise InvalidRequest("code_challenge_method 'plain' is not allowed; use 'S256'")
    if not SYNTAX.fullmatch(code_challenge):
        raise InvalidRequest(f"'code_challenge' must be {SYNTAX_HINT}")
    return method.value


def verify(code_challenge: str, code_challenge_method: str, code_verifier: str) -> None:
    """The token request's half: ``invalid_grant`` unless ``code_verifier``
    matches what the authorization request committed to (constant-time).

    A verifier sent for a code issued without a challenge is refused too: a
    client that uses PKCE never has a code without it, so such a request is
    an attacker's injected code (OAuth 2.1 section 4.1.3, RFC 9700 section 4.8.2)."""
    if not code_challenge:
        if code_verifier:
            raise InvalidGrant("code_verifier sent but no code_challenge was")
        return
    if not code_verifier:
        raise InvalidGrant("Missing 'code_verifier'")
    if not SYNTAX.fullmatch(code_verifier):
        raise InvalidGrant("Invalid 'code_verifier': it must be 43-128 unreserved characters")
    try:
        method = CodeChallengeMethod(code_challenge_method or CodeChallengeMethod.PLAIN)
    except ValueError:
        raise InvalidGrant(f"Unsupported code_challenge_method '{code_challenge_method}'") from None
    if not constant_time_equals(METHODS[method](code_verifier), code_challenge):
        raise InvalidGrant("'code_verifier' does not match the code_challenge")
