"""Back-channel logout in the token domain (OpenID Connect Back-Channel Logout 1.0):
which clients hear of an ended session, what their logout tokens say (checked with
joserfc), which grants end with it; and the logout token is no ID token."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import pytest
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet

from common.errors import InvalidRequest
from services.token.domain.backchannel_logout import (
    BACKCHANNEL_LOGOUT_EVENT,
    LogoutDelivery,
    LogoutReceiver,
)
from services.token.domain.grants.base import TokenRequest, TokenResponse
from services.token.domain.keys import KeyManager
from services.token.domain.ports import ClientCredentials
from services.token.tests.conftest import ISSUER, Wired, make_wired
from services.token.tests.people import USER, exchange_code, issue_code, register_web

SID = "session-one"


class Receivers:
    def __init__(self) -> None:
        self.by_client: dict[str, LogoutReceiver] = {}

    def add(self, client_id: str, *, session_required: bool = False) -> None:
        self.by_client[client_id] = LogoutReceiver(
            client_id=client_id,
            uri=f"https://{client_id}.example/bcl",
            session_required=session_required,
        )

    async def receiver(self, client_id: str) -> LogoutReceiver | None:
        return self.by_client.get(client_id)


class Sender:
    def __init__(self) -> None:
        self.sent: list[LogoutDelivery] = []

    def send(self, deliveries: Sequence[LogoutDelivery]) -> None:
        self.sent.extend(deliveries)


@dataclass
class World:
    wired: Wired
    receivers: Receivers
    sender: Sender


@pytest.fixture
async def world(key_manager: KeyManager) -> AsyncIterator[World]:
    receivers, sender = Receivers(), Sender()
    wired = await make_wired(key_manager, logout_receivers=receivers, logout_sender=sender)
    yield World(wired, receivers, sender)
    await wired.revocations.close()


async def signed_in(
    world: World, client_id: str, scope: tuple[str, ...], sid: str = SID
) -> tuple[ClientCredentials, TokenResponse]:
    creds = await register_web(world.wired, client_id, scope=scope)
    code = await issue_code(world.wired, client_id, scopes=scope, verifier="v" * 43, sid=sid)
    return creds, await exchange_code(world.wired, creds, code, verifier="v" * 43)


def decoded(world: World, token: str, alg: str = "RS256") -> jose_jwt.Token:
    keys = KeySet.import_key_set({"keys": world.wired.domain.keys.jwks()})  # type: ignore[typeddict-item]
    return jose_jwt.decode(token, keys, algorithms=[alg])


async def active(world: World, token: str) -> bool:
    result = await world.wired.domain.introspection.access_token(token)
    return result.active


async def test_ending_a_session_tells_its_clients_and_ends_its_online_grants(
    world: World,
) -> None:
    world.receivers.add("portal", session_required=True)
    world.receivers.add("mail")
    _portal, portal_tokens = await signed_in(world, "portal", ("openid", "profile"))
    mail, mail_tokens = await signed_in(world, "mail", ("openid", "offline_access"))
    # Another session of the same user, and a client without a back-channel URI.
    _other, other_tokens = await signed_in(world, "notes", ("openid",), sid="session-two")
    await signed_in(world, "silent", ("openid",))
    assert decoded(world, portal_tokens.id_token).claims["sid"] == SID

    revoked, queued = await world.wired.domain.logout.end_session(SID, USER)

    assert (revoked, queued) == (2, 2)  # portal and silent; mail keeps offline access
    assert {d.client_id for d in world.sender.sent} == {"portal", "mail"}
    for delivery in world.sender.sent:
        assert delivery.uri == f"https://{delivery.client_id}.example/bcl"
        token = decoded(world, delivery.logout_token)
        assert token.header["typ"] == "logout+jwt"
        claims = token.claims
        assert claims["iss"] == ISSUER and claims["aud"] == delivery.client_id
        assert claims["sub"] == USER and claims["sid"] == SID
        assert claims["events"] == {BACKCHANNEL_LOGOUT_EVENT: {}}
        assert claims["exp"] - claims["iat"] == 120 and claims["jti"]
        assert "nonce" not in claims
    assert not await active(world, portal_tokens.access_token)
    assert await active(world, mail_tokens.access_token)
    assert await active(world, other_tokens.access_token)
    refreshed = await world.wired.domain.token_endpoint.exchange(
        TokenRequest(
            grant_type="refresh_token", credentials=mail, refresh_token=mail_tokens.refresh_token
        )
    )
    assert decoded(world, refreshed.id_token).claims["sid"] == SID


async def test_a_session_of_someone_else_or_none_ends_nothing(world: World) -> None:
    world.receivers.add("portal")
    _creds, tokens = await signed_in(world, "portal", ("openid",))
    assert await world.wired.domain.logout.end_session(SID, "someone-else") == (0, 0)
    assert await world.wired.domain.logout.end_session("", USER) == (0, 0)
    assert world.sender.sent == [] and await active(world, tokens.access_token)


async def test_revoking_a_users_grants_tells_every_client(world: World) -> None:
    world.receivers.add("portal")
    world.receivers.add("strict", session_required=True)
    await signed_in(world, "portal", ("openid", "offline_access"))
    await signed_in(world, "portal-2", ("openid",))  # registered for nothing
    await signed_in(world, "strict", ("openid",), sid="")  # a grant without a session
    revoked = await world.wired.domain.grants.revoke(subject=USER, reason="user disabled")
    assert revoked == 3
    # strict requires a sid this grant never had: it is not sent one without.
    [delivery] = world.sender.sent
    claims = decoded(world, delivery.logout_token).claims
    assert delivery.client_id == "portal" and claims["sub"] == USER and claims["sid"] == SID


async def test_a_logout_token_is_no_id_token(world: World) -> None:
    world.receivers.add("portal")
    await signed_in(world, "portal", ("openid",))
    await world.wired.domain.logout.end_session(SID, USER)
    [delivery] = world.sender.sent
    with pytest.raises(InvalidRequest):
        await world.wired.domain.id_token_hints.decode(delivery.logout_token)
    assert await world.wired.domain.id_token_hints.verify(delivery.logout_token) is None
