"""The authorization_code grant (RFC 6749 section 4.1.3, RFC 7636 section 4.6) and
its ID token (OpenID Connect Core 3.1.3.6), tokens checked with joserfc against JWKS."""

from __future__ import annotations

import base64
import hashlib
import time
from typing import Any

import pytest
from joserfc import jwt as jose_jwt

from common.errors import (
    InvalidClient,
    InvalidGrant,
    InvalidRequest,
    TemporarilyUnavailable,
    UnauthorizedClient,
)
from common.secrets import random_token, sha256_hex
from services.token.domain.ports import ClientCredentials
from services.token.tests.conftest import ISSUER, Wired
from services.token.tests.people import (
    AUTH_TIME,
    REDIRECT_URI,
    USER,
    exchange_code,
    introspect,
    issue_code,
    refresh,
    register_spa,
    register_web,
    verify,
)


def expected_at_hash(access_token: str) -> str:
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode("ascii")


async def test_code_flow_issues_access_refresh_and_id_token(wired: Wired) -> None:
    creds = await register_web(wired)
    verifier = random_token()
    code = await issue_code(wired, "web", verifier=verifier)
    before = int(time.time())

    response = await exchange_code(wired, creds, code, verifier)

    assert response.token_type == "Bearer"
    assert response.expires_in == 3600
    assert response.scope == "openid profile offline_access"
    # The access token (RFC 9068): the user, the family, the time of sign-in.
    access = verify(wired, response.access_token, "ES256")
    assert access.header["typ"] == "at+jwt"
    assert access.claims["sub"] == USER
    assert access.claims["client_id"] == "web"
    assert access.claims["grant_id"] == sha256_hex(code)
    assert access.claims["auth_time"] == int(AUTH_TIME.timestamp())
    assert access.claims["scope"] == "openid profile offline_access"

    # The ID token: RS256, typ JWT, the RS256 key's kid, every claim of Core 2 / 3.1.3.6.
    id_token = verify(wired, response.id_token, "RS256")
    assert id_token.header == {
        "alg": "RS256",
        "typ": "JWT",
        "kid": wired.keys.signing_key("RS256").kid,
    }
    claims = id_token.claims
    jose_jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": ISSUER},
        sub={"essential": True, "value": USER},
        aud={"essential": True, "value": "web"},
        exp={"essential": True},
        iat={"essential": True},
        nonce={"essential": True, "value": "n-0S6_WzA2Mj"},
    ).validate(claims)
    assert claims["aud"] == ["web"]
    assert claims["azp"] == "web"
    assert before <= claims["iat"] <= int(time.time())
    assert claims["exp"] == claims["iat"] + 3600
    assert claims["auth_time"] == int(AUTH_TIME.timestamp())
    assert claims["amr"] == ["pwd"]
    assert claims["at_hash"] == expected_at_hash(response.access_token)
    assert claims["name"] == "Ada Lovelace"  # profile scope
    assert "email" not in claims  # email scope not granted

    # The refresh token: opaque, and only its hash is kept.
    assert response.refresh_token and "." not in response.refresh_token
    assert len(response.refresh_token) >= 43
    stored = list(wired.grants.refresh_tokens.values())
    assert [row.token_hash for row in stored] == [sha256_hex(response.refresh_token)]
    assert all(response.refresh_token not in repr(row) for row in stored)
    family = wired.grants.families[sha256_hex(code)]
    assert (family.client_id, family.subject, family.amr) == ("web", USER, ("pwd",))
    assert family.auth_time == AUTH_TIME


async def test_public_client_with_pkce(wired: Wired) -> None:
    creds = await register_spa(wired)
    verifier = random_token()
    code = await issue_code(wired, "spa", verifier=verifier, scopes=("openid",), nonce="")
    response = await exchange_code(wired, creds, code, verifier)
    claims = verify(wired, response.id_token, "RS256").claims
    assert "nonce" not in claims  # only when the authorization request had one
    assert response.refresh_token == ""  # no offline_access


async def test_plain_pkce_when_the_code_says_plain(wired: Wired) -> None:
    creds = await register_web(wired)
    verifier = random_token()
    code = await issue_code(wired, "web", challenge=verifier, method="plain")
    assert (await exchange_code(wired, creds, code, verifier)).access_token


async def test_id_token_with_rs256_access_token_too(wired: Wired) -> None:
    creds = await register_web(wired, alg="RS256")
    verifier = random_token()
    code = await issue_code(wired, "web", verifier=verifier)
    response = await exchange_code(wired, creds, code, verifier)
    assert verify(wired, response.access_token, "RS256").header["typ"] == "at+jwt"
    claims = verify(wired, response.id_token, "RS256").claims
    assert claims["at_hash"] == expected_at_hash(response.access_token)


VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"  # RFC 7636 appendix B


@pytest.mark.parametrize(
    ("code_options", "verifier", "redirect_uri", "description"),
    [
        pytest.param(
            {"challenge": CHALLENGE},
            "x" * 43,
            REDIRECT_URI,
            "'code_verifier' does not match the code_challenge",
            id="wrong verifier",
        ),
        pytest.param(
            {"challenge": CHALLENGE},
            "",
            REDIRECT_URI,
            "Missing 'code_verifier'",
            id="missing verifier",
        ),
        pytest.param(
            {"challenge": ""},
            VERIFIER,
            REDIRECT_URI,
            "code_verifier sent but no code_challenge was",
            id="verifier without challenge",
        ),
        pytest.param(
            # The challenge itself as verifier: plain, but S256 is stored.
            {"challenge": CHALLENGE},
            CHALLENGE,
            REDIRECT_URI,
            "'code_verifier' does not match the code_challenge",
            id="plain when S256 stored",
        ),
        pytest.param(
            {"challenge": CHALLENGE},
            "short",
            REDIRECT_URI,
            "Invalid 'code_verifier': it must be 43-128 unreserved characters",
            id="verifier syntax",
        ),
        pytest.param(
            {"challenge": CHALLENGE},
            VERIFIER,
            REDIRECT_URI + "/",
            "'redirect_uri' does not match the authorization request",
            id="different redirect_uri",
        ),
        pytest.param(
            {"challenge": CHALLENGE},
            VERIFIER,
            "",
            "Missing 'redirect_uri': the authorization request had one",
            id="missing redirect_uri",
        ),
    ],
)
async def test_rejections_issue_nothing(
    wired: Wired,
    code_options: dict[str, str],
    verifier: str,
    redirect_uri: str,
    description: str,
) -> None:
    creds = await register_web(wired)
    code = await issue_code(wired, "web", **code_options)  # type: ignore[arg-type]
    with pytest.raises(InvalidGrant) as info:
        await exchange_code(wired, creds, code, verifier, redirect_uri)
    assert info.value.description == description
    assert wired.grants.families == {} and wired.grants.refresh_tokens == {}
    # The code is burnt: the right verifier afterwards does not help.
    with pytest.raises(InvalidGrant):
        await exchange_code(wired, creds, code, VERIFIER)


async def test_rfc7636_appendix_b_vector(wired: Wired) -> None:
    creds = await register_web(wired)
    code = await issue_code(wired, "web", challenge=CHALLENGE)
    assert (await exchange_code(wired, creds, code, VERIFIER)).access_token


async def test_redirect_uri_optional_when_the_request_had_none(wired: Wired) -> None:
    creds = await register_web(wired)
    code = await issue_code(wired, "web", verifier=VERIFIER, redirect_uri_in_request=False)
    assert (await exchange_code(wired, creds, code, VERIFIER, redirect_uri="")).access_token


async def test_code_of_another_client(wired: Wired) -> None:
    await register_web(wired, "web")
    other = await register_web(wired, "other")
    code = await issue_code(wired, "web", verifier=VERIFIER)
    with pytest.raises(InvalidGrant):
        await exchange_code(wired, other, code, VERIFIER)
    assert wired.grants.families == {}


async def test_missing_code_and_grant_not_allowed(wired: Wired) -> None:
    creds = await register_web(wired)
    with pytest.raises(InvalidRequest) as info:
        await exchange_code(wired, creds, "", VERIFIER)
    assert info.value.description == "Missing 'code'"

    svc = await wired.clients.register("svc")  # client_credentials only
    with pytest.raises(UnauthorizedClient) as denied:
        await exchange_code(wired, svc, "whatever", VERIFIER)
    assert (
        denied.value.description
        == "The client is not allowed to use grant_type 'authorization_code'"
    )
    with pytest.raises(InvalidClient):
        await exchange_code(wired, ClientCredentials("web", "wrong", "client_secret_basic"), "c")


async def test_replayed_code_revokes_what_its_first_use_issued(wired: Wired) -> None:
    creds = await register_web(wired)
    code = await issue_code(wired, "web", verifier=VERIFIER)
    first = await exchange_code(wired, creds, code, VERIFIER)
    assert (await introspect(wired, first.access_token)).active

    with pytest.raises(InvalidGrant):
        await exchange_code(wired, creds, code, VERIFIER)

    assert not (await introspect(wired, first.access_token)).active
    assert not (await introspect(wired, first.refresh_token)).active
    with pytest.raises(InvalidGrant) as info:
        await refresh(wired, creds, first.refresh_token)
    assert info.value.description == "The refresh token was revoked"
    family = wired.grants.families[sha256_hex(code)]
    assert family.revoked_at is not None
    assert family.revoke_reason == "authorization code replayed"


async def test_family_revoked_before_its_row_existed(wired: Wired) -> None:
    """A replay racing the first exchange: the denylist remembers the family."""
    creds = await register_web(wired)
    code = await issue_code(wired, "web", verifier=VERIFIER)
    await wired.revocations.revoke_family(sha256_hex(code))
    with pytest.raises(InvalidGrant) as info:
        await exchange_code(wired, creds, code, VERIFIER)
    assert info.value.description == "The authorization code was used already"


async def test_disabled_user_gets_nothing(wired: Wired) -> None:
    creds = await register_web(wired)
    code = await issue_code(wired, "web", verifier=VERIFIER)
    wired.authorize.set_enabled(USER, False)
    with pytest.raises(InvalidGrant) as info:
        await exchange_code(wired, creds, code, VERIFIER)
    assert info.value.description == "The user account is disabled"


@pytest.mark.parametrize(
    ("scopes", "grant_types", "always", "expected"),
    [
        (("openid", "offline_access"), ("authorization_code", "refresh_token"), False, True),
        (("openid",), ("authorization_code", "refresh_token"), False, False),
        (("openid",), ("authorization_code", "refresh_token"), True, True),
        (("openid", "offline_access"), ("authorization_code",), True, False),
    ],
    ids=["offline_access", "no offline_access", "client says always", "no refresh grant"],
)
async def test_when_a_refresh_token_is_issued(
    wired: Wired,
    scopes: tuple[str, ...],
    grant_types: tuple[str, ...],
    always: bool,
    expected: bool,
) -> None:
    creds = await register_web(wired, grant_types=grant_types, always_issue_refresh_token=always)
    code = await issue_code(wired, "web", verifier=VERIFIER, scopes=scopes)
    response = await exchange_code(wired, creds, code, VERIFIER)
    assert bool(response.refresh_token) is expected
    assert len(wired.grants.refresh_tokens) == int(expected)


async def _exchange_during_outage(
    wired: Wired, monkeypatch: pytest.MonkeyPatch, creds: ClientCredentials, code: str
) -> None:
    """The code consumed, then the user directory away: the exchange answers 503."""
    claims = wired.authorize.claims

    async def unavailable(user_id: str, scopes: list[str]) -> Any:
        raise TemporarilyUnavailable("The user directory is unavailable")

    monkeypatch.setattr(wired.authorize, "claims", unavailable)
    with pytest.raises(TemporarilyUnavailable):
        await exchange_code(wired, creds, code, VERIFIER)
    monkeypatch.setattr(wired.authorize, "claims", claims)


async def test_an_exchange_cut_short_by_an_outage_is_finished_by_its_retry(
    wired: Wired, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The client's retry with the same code gets the tokens (not a replay); any
    later use is a replay again."""
    creds = await register_web(wired)
    code = await issue_code(wired, "web", verifier=VERIFIER)
    await _exchange_during_outage(wired, monkeypatch, creds, code)

    response = await exchange_code(wired, creds, code, VERIFIER)
    assert response.refresh_token and response.access_token
    assert (await introspect(wired, response.access_token)).active
    assert wired.grants.families[sha256_hex(code)].revoked_at is None

    with pytest.raises(InvalidGrant):
        await exchange_code(wired, creds, code, VERIFIER)
    assert wired.grants.families[sha256_hex(code)].revoke_reason == "authorization code replayed"
    assert not (await introspect(wired, response.access_token)).active


async def test_a_kept_code_is_no_use_to_another_client(
    wired: Wired, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another client presenting the code is a replay: refused, and the code's own
    client then gets nothing either (a leaked code is worth nothing)."""
    creds = await register_web(wired)
    other = await register_web(wired, "other")
    code = await issue_code(wired, "web", verifier=VERIFIER)
    await _exchange_during_outage(wired, monkeypatch, creds, code)

    with pytest.raises(InvalidGrant):
        await exchange_code(wired, other, code, VERIFIER)
    with pytest.raises(InvalidGrant):
        await exchange_code(wired, creds, code, VERIFIER)
