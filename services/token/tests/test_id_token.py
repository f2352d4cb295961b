"""ID tokens (OpenID Connect Core 2) and id_token_hint decoding (RP-Initiated Logout 1.0)."""

from __future__ import annotations

import time

import jwt
import pytest

from common.errors import InvalidRequest
from services.token.domain.grants.base import TokenRequest
from services.token.domain.id_token import (
    IdTokenHint,
    IdTokenHintDecoder,
    IdTokenIssuer,
    IdTokenPolicy,
    at_hash,
)
from services.token.tests.conftest import ISSUER, Wired
from services.token.tests.people import exchange_code, issue_code, register_web

VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"


def test_at_hash_of_the_openid_example() -> None:
    # OpenID Connect Core appendix A.3: access token and at_hash of the example.
    assert at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y", "RS256") == (
        "77QmUPtjPfzWtF2AnpK9RQ"
    )


async def test_user_claims_never_replace_protocol_claims(wired: Wired) -> None:
    issuer = IdTokenIssuer(wired.keys, IdTokenPolicy(issuer=ISSUER, ttl_seconds=60))
    token = issuer.issue(
        client_id="web",
        subject="u1",
        access_token="at",
        auth_time=None,
        user_claims={"sub": "evil", "iss": "https://evil", "name": "N"},
    )
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["sub"], claims["iss"], claims["name"]) == ("u1", ISSUER, "N")
    assert "auth_time" not in claims and "amr" not in claims and "nonce" not in claims


async def test_hint_of_our_id_token_even_expired(wired: Wired) -> None:
    decoder = IdTokenHintDecoder(wired.keys, ISSUER)
    creds = await register_web(wired)
    code = await issue_code(wired, "web", verifier=VERIFIER)
    response = await exchange_code(wired, creds, code, VERIFIER)
    assert await decoder.decode(response.id_token) == IdTokenHint(sub="user-1", client_id="web")

    long_ago = IdTokenIssuer(
        wired.keys,
        IdTokenPolicy(issuer=ISSUER, ttl_seconds=60),
        clock=lambda: time.time() - 86400 * 30,
    )
    expired = long_ago.issue(client_id="spa", subject="u2", access_token="a", auth_time=None)
    assert await decoder.decode(expired) == IdTokenHint(sub="u2", client_id="spa")


async def test_bad_hints(wired: Wired) -> None:
    decoder = IdTokenHintDecoder(wired.keys, ISSUER)
    other_issuer = IdTokenIssuer(
        wired.keys, IdTokenPolicy(issuer="https://other.example", ttl_seconds=60)
    ).issue(client_id="web", subject="u", access_token="a", auth_time=None)
    rs256 = wired.keys.signing_key("RS256")
    forged = jwt.encode(
        {"iss": ISSUER, "sub": "u", "aud": "web"},
        "not-our-key-not-our-key-not-our-key!",
        algorithm="HS256",
        headers={"kid": rs256.kid},
    )
    creds = await wired.clients.register("svc")
    access_token = (
        await wired.domain.token_endpoint.exchange(
            TokenRequest(grant_type="client_credentials", credentials=creds)
        )
    ).access_token
    for hint in ("", "garbage", "a.b.c", other_issuer, forged, access_token):
        with pytest.raises(InvalidRequest) as info:
            await decoder.decode(hint)
        assert info.value.description == "Invalid id_token_hint"
