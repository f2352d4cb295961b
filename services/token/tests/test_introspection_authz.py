"""Who may introspect what (RFC 7662 sections 2.1 and 4), and bearer tokens that
carry no user (OpenID Connect Core section 5.3, RFC 6750 section 3.1)."""

from __future__ import annotations

import pytest

from common.errors import InvalidGrant, InvalidToken, UnauthorizedClient
from services.token.domain.grants.base import TokenRequest
from services.token.domain.ports import ClientCredentials
from services.token.tests.conftest import ISSUER, Wired, wire
from services.token.tests.people import USER, exchange_code, issue_code, refresh, register_web

VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"


async def cc_token(wired: Wired, creds: ClientCredentials) -> str:
    response = await wired.domain.token_endpoint.exchange(
        TokenRequest(grant_type="client_credentials", credentials=creds)
    )
    return response.access_token


async def user_tokens(wired: Wired, client_id: str = "web") -> tuple[ClientCredentials, str, str]:
    creds = await register_web(wired, client_id)
    code = await issue_code(
        wired, client_id, verifier=VERIFIER, scopes=("openid", "offline_access")
    )
    response = await exchange_code(wired, creds, code, VERIFIER)
    return creds, response.access_token, response.refresh_token


async def test_a_client_sees_only_its_own_tokens(wired: Wired) -> None:
    alice = await wired.clients.register("alice")
    bob = await wired.clients.register("bob")
    token = await cc_token(wired, alice)
    introspection = wired.domain.introspection

    own = await introspection.introspect(token, "", alice)
    assert own.active and own.client_id == "alice"
    # Another client learns nothing: the very answer of a token that does not exist.
    assert (await introspection.introspect(token, "", bob)).active is False
    assert await introspection.introspect(token, "", bob) == await introspection.introspect(
        "no-such-token", "", bob
    )


async def test_refresh_tokens_of_other_clients_are_inactive(wired: Wired) -> None:
    creds, _, refresh_token = await user_tokens(wired)
    other = await wired.clients.register("other")
    introspection = wired.domain.introspection
    assert (await introspection.introspect(refresh_token, "", creds)).active is True
    assert (await introspection.introspect(refresh_token, "", other)).active is False


async def test_the_introspection_permission_sees_every_token(wired: Wired) -> None:
    alice = await wired.clients.register("alice")
    rs = await wired.clients.register("rs", grant_types=(), scope=(), introspection=True)
    _, access_token, refresh_token = await user_tokens(wired)
    introspection = wired.domain.introspection
    assert (await introspection.introspect(await cc_token(wired, alice), "", rs)).active
    assert (await introspection.introspect(access_token, "", rs)).active
    assert (await introspection.introspect(refresh_token, "", rs)).active


async def test_a_resource_server_named_in_aud_sees_the_token(wired: Wired) -> None:
    """RFC 9068 section 3: aud names the resource servers the token is for."""
    domain = wire(wired.keys, wired.clients, wired.revocations, audience=(ISSUER, "api-rs"))
    alice = await wired.clients.register("alice")
    api_rs = await wired.clients.register("api-rs", grant_types=(), scope=())
    stranger = await wired.clients.register("stranger", grant_types=(), scope=())
    token = (
        await domain.token_endpoint.exchange(
            TokenRequest(grant_type="client_credentials", credentials=alice)
        )
    ).access_token
    seen = await domain.introspection.introspect(token, "", api_rs)
    assert seen.active and seen.aud == (ISSUER, "api-rs") and seen.client_id == "alice"
    assert (await domain.introspection.introspect(token, "", stranger)).active is False


async def test_revocation_by_another_client_is_refused_and_revokes_nothing(
    wired: Wired,
) -> None:
    """RFC 7009 section 2.1: the token stays valid for its owner."""
    alice = await wired.clients.register("alice")
    bob = await wired.clients.register("bob")
    token = await cc_token(wired, alice)
    with pytest.raises(UnauthorizedClient):
        await wired.domain.revocation.revoke(token, "", bob)
    assert (await wired.domain.introspection.introspect(token, "", alice)).active
    creds, _, refresh_token = await user_tokens(wired)
    with pytest.raises(UnauthorizedClient):
        await wired.domain.revocation.revoke(refresh_token, "", bob)
    assert (await refresh(wired, creds, refresh_token)).refresh_token


async def test_require_user_refuses_client_credentials_tokens(wired: Wired) -> None:
    svc = await wired.clients.register("svc", scope=("openid", "read"))
    token = await cc_token(wired, svc)
    verified = await wired.domain.introspection.verify_bearer(token)
    assert verified.sub == "svc" and not verified.carries_user
    with pytest.raises(InvalidToken, match="carries no user"):
        await wired.domain.introspection.verify_bearer(token, require_user=True)
    _, access_token, _ = await user_tokens(wired)
    with_user = await wired.domain.introspection.verify_bearer(access_token, require_user=True)
    assert with_user.sub == USER and with_user.carries_user


async def test_client_not_before_kills_refresh_and_access_tokens(wired: Wired) -> None:
    """What the admin service asks for when a client's secret, scope or state changes."""
    creds, access_token, refresh_token = await user_tokens(wired)
    assert await wired.domain.grants.revoke(client_id="web", reason="secret rotated") == 1
    with pytest.raises(InvalidToken):
        await wired.domain.introspection.verify_bearer(access_token)
    with pytest.raises(InvalidGrant):
        await refresh(wired, creds, refresh_token)
