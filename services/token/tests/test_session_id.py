"""The browser session's ``sid`` (OpenID Connect Back-Channel Logout 1.0 section 2.4):
the grant family keeps the sid its code was approved in, and the family's ID tokens
carry it, from the code and from every refresh; a code without one gives ID tokens
without one. ID tokens verified with joserfc."""

from __future__ import annotations

from datetime import timedelta

from common.secrets import sha256_hex
from common.timeutil import utcnow
from services.token.domain.grant_families import GrantFamilies, RefreshTokenPolicy
from services.token.domain.id_token import IdTokenIssuer, IdTokenPolicy
from services.token.domain.ports import GrantFamily
from services.token.tests.conftest import ISSUER, Wired
from services.token.tests.people import (
    exchange_code,
    issue_code,
    refresh,
    register_web,
    verify,
)

VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
SID = "oR9hW2oI6x0vVQ3Wd8r1Ng"


async def test_the_family_and_its_id_tokens_keep_the_sid(wired: Wired) -> None:
    creds = await register_web(wired)
    code = await issue_code(wired, "web", verifier=VERIFIER, sid=SID)
    first = await exchange_code(wired, creds, code, VERIFIER)
    assert wired.grants.families[sha256_hex(code)].sid == SID
    assert verify(wired, first.id_token, "RS256").claims["sid"] == SID

    # Refreshed ID tokens keep it (the client matches a logout token to its session).
    second = await refresh(wired, creds, first.refresh_token)
    assert second.id_token and verify(wired, second.id_token, "RS256").claims["sid"] == SID
    third = await refresh(wired, creds, second.refresh_token, scope="openid")
    assert verify(wired, third.id_token, "RS256").claims["sid"] == SID


async def test_a_code_without_a_sid_gives_id_tokens_without_one(wired: Wired) -> None:
    creds = await register_web(wired)
    code = await issue_code(wired, "web", verifier=VERIFIER)
    tokens = await exchange_code(wired, creds, code, VERIFIER)
    assert wired.grants.families[sha256_hex(code)].sid == ""
    assert "sid" not in verify(wired, tokens.id_token, "RS256").claims
    refreshed = await refresh(wired, creds, tokens.refresh_token)
    assert "sid" not in verify(wired, refreshed.id_token, "RS256").claims


async def test_the_sid_is_the_servers_not_the_users_claims(wired: Wired) -> None:
    issuer = IdTokenIssuer(wired.keys, IdTokenPolicy(issuer=ISSUER, ttl_seconds=60))

    def claims(sid: str = "") -> dict[str, object]:
        token = issuer.issue(
            client_id="web",
            subject="u1",
            access_token="at",
            auth_time=None,
            user_claims={"sid": "from-the-profile"},
            sid=sid,
        )
        return dict(verify(wired, token, "RS256").claims)

    assert claims(sid=SID)["sid"] == SID
    assert "sid" not in claims()


def family(family_id: str, sid: str, **changes: object) -> GrantFamily:
    now = utcnow()
    values: dict[str, object] = {
        "family_id": family_id,
        "client_id": "web",
        "subject": "user-1",
        "scope": ("openid",),
        "created_at": now,
        "expires_at": now + timedelta(days=1),
        "sid": sid,
    }
    values.update(changes)
    return GrantFamily(**values)  # type: ignore[arg-type]


async def test_families_of_session(wired: Wired) -> None:
    families = GrantFamilies(
        wired.grants,
        wired.revocations,
        RefreshTokenPolicy(ttl_seconds=60, family_max_age_seconds=60, access_token_ttl_seconds=60),
    )
    now = utcnow()
    for created in (
        family("web-1", SID, created_at=now - timedelta(minutes=2)),
        family("mobile-1", SID, client_id="mobile", created_at=now - timedelta(minutes=1)),
        # Expired: the client's session may outlive the tokens, so it still counts.
        family("old-1", SID, created_at=now - timedelta(days=2), expires_at=now),
        family("revoked-1", SID),
        family("other-1", "another-session"),
        family("device-1", ""),
    ):
        await wired.grants.create_family(created)
    assert await families.revoke("revoked-1", "x")

    found = await families.of_session(SID)
    assert [f.family_id for f in found] == ["old-1", "web-1", "mobile-1"]
    assert {f.sid for f in found} == {SID}
    # "" names no session: never every family without one.
    assert await families.of_session("") == []
    assert await families.of_session("unknown") == []
