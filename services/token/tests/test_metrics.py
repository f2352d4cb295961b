"""Token service metrics: tokens issued by grant_type, refresh-token reuse detected."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from common.errors import InvalidGrant
from services.token.tests.conftest import Wired
from services.token.tests.people import exchange_code, issue_code, refresh, register_web

VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"


def issued(grant_type: str) -> float:
    value = REGISTRY.get_sample_value("oauth2_tokens_issued_total", {"grant_type": grant_type})
    return value or 0.0


def reuses() -> float:
    return REGISTRY.get_sample_value("oauth2_refresh_token_reuse_detected_total") or 0.0


async def test_issued_tokens_and_reuse_are_counted(wired: Wired) -> None:
    codes, refreshes, reused = issued("authorization_code"), issued("refresh_token"), reuses()
    creds = await register_web(wired, "web")
    code = await issue_code(wired, "web", verifier=VERIFIER, scopes=("openid", "offline_access"))
    first = await exchange_code(wired, creds, code, VERIFIER)
    await refresh(wired, creds, first.refresh_token)
    with pytest.raises(InvalidGrant):
        await refresh(wired, creds, first.refresh_token)  # replayed after rotation

    assert issued("authorization_code") - codes == 1
    assert issued("refresh_token") - refreshes == 1  # the refused replay issued nothing
    assert reuses() - reused == 1
