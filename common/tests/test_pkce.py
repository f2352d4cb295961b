"""Both halves of PKCE (RFC 7636) in common.pkce: the challenge at the
authorization endpoint, the verifier at the token endpoint."""

from __future__ import annotations

import pytest

from common import pkce
from common.errors import InvalidGrant, InvalidRequest

# RFC 7636 appendix B.
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_s256_of_the_rfc_example() -> None:
    assert pkce.s256_challenge(VERIFIER) == CHALLENGE


def test_challenge_methods_at_the_authorization_endpoint() -> None:
    check = pkce.check_challenge
    assert check(CHALLENGE, "S256", required=True, allow_plain=False) == "S256"
    assert check("", "", required=False, allow_plain=False) == ""
    # An absent method is plain (section 4.3): refused unless plain is allowed.
    assert check(VERIFIER, "", required=True, allow_plain=True) == "plain"
    assert check(VERIFIER, "plain", required=True, allow_plain=True) == "plain"
    cases = [
        (("", "", True, False), "code_challenge required"),
        (("", "S256", False, False), "'code_challenge_method' was sent without"),
        ((CHALLENGE, "S512", True, False), "Unsupported code_challenge_method 'S512'"),
        ((CHALLENGE, "", True, False), "Missing 'code_challenge_method', which defaults"),
        ((CHALLENGE, "plain", True, False), "'plain' is not allowed"),
        (("short", "S256", True, False), "'code_challenge' must be 43 to 128"),
        (("a" * 129, "S256", True, False), "'code_challenge' must be 43 to 128"),
        (("+" * 43, "S256", True, False), "'code_challenge' must be 43 to 128"),
    ]
    for (challenge, method, required, allow_plain), message in cases:
        with pytest.raises(InvalidRequest, match=message):
            check(challenge, method, required=required, allow_plain=allow_plain)


def test_verifier_at_the_token_endpoint() -> None:
    pkce.verify(CHALLENGE, "S256", VERIFIER)
    pkce.verify(VERIFIER, "plain", VERIFIER)
    pkce.verify("", "", "")
    cases = [
        ((CHALLENGE, "S256", ""), "Missing 'code_verifier'"),
        ((CHALLENGE, "S256", "short"), "43-128 unreserved characters"),
        ((CHALLENGE, "S256", VERIFIER[:-1] + "Z"), "does not match"),
        # The verifier itself sent as an S256 challenge's verifier does not match.
        ((CHALLENGE, "S256", CHALLENGE), "does not match"),
        (("", "", VERIFIER), "code_verifier sent but no code_challenge was"),
        ((CHALLENGE, "S512", VERIFIER), "Unsupported code_challenge_method 'S512'"),
    ]
    for (challenge, method, verifier), message in cases:
        with pytest.raises(InvalidGrant, match=message):
            pkce.verify(challenge, method, verifier)
