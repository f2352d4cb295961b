"""Token exchange (RFC 8693) at the token endpoint: a resource server trades the
user's token it was shown for one meant for another audience, narrowed, with ``act``
for delegation; invalid subject tokens are invalid_request, targets outside the
client's policy invalid_target, wider scopes invalid_scope; every exchange audited.
Tokens checked with joserfc."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from joserfc import jwt as jose_jwt
from joserfc.jwk import ECKey

from common.errors import InvalidRequest, InvalidScope, InvalidTarget, UnauthorizedClient
from common.resources import ResourceInfo
from services.token.domain.grants.base import TokenRequest, TokenResponse
from services.token.domain.keys import KeyManager
from services.token.domain.ports import ClientCredentials
from services.token.tests.conftest import ISSUER, Wired, make_wired
from services.token.tests.people import USER, exchange_code, issue_code, register_web, verify

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS = "urn:ietf:params:oauth:token-type:access_token"
REFRESH = "urn:ietf:params:oauth:token-type:refresh_token"
ID = "urn:ietf:params:oauth:token-type:id_token"

ORDERS = ResourceInfo(
    identifier="https://orders.example.com/",
    scopes=("orders:read", "orders:write"),
    introspection_client_id="orders-api",
)
INVENTORY = ResourceInfo(
    identifier="https://inventory.example.com/",
    scopes=("orders:read",),
    access_token_ttl_seconds=120,
)
SCOPE = ("openid", "profile", "offline_access", "orders:read", "orders:write")


class Resources:
    def __init__(self, *resources: ResourceInfo) -> None:
        self.by_identifier = {resource.identifier: resource for resource in resources}

    async def get(self, identifier: str) -> ResourceInfo | None:
        return self.by_identifier.get(identifier)


@pytest.fixture
async def wired(key_manager: KeyManager) -> AsyncIterator[Wired]:
    """conftest's ``wired`` with the registered resources of these tests."""
    made = await make_wired(key_manager, resources=Resources(ORDERS, INVENTORY))
    yield made
    await made.revocations.close()


async def user_tokens(wired: Wired) -> tuple[ClientCredentials, TokenResponse]:
    """The web app's tokens for USER (code flow), its access token for ORDERS."""
    web = await register_web(wired, scope=SCOPE)
    code = await issue_code(wired, web.client_id, scopes=SCOPE, verifier="v" * 43)
    first = await exchange_code(wired, web, code, verifier="v" * 43)
    for_orders = await wired.domain.token_endpoint.exchange(
        TokenRequest(
            grant_type="refresh_token",
            credentials=web,
            refresh_token=first.refresh_token,
            resource=(ORDERS.identifier,),
        )
    )
    return web, for_orders


async def orders_api(wired: Wired, **options: Any) -> ClientCredentials:
    settings: dict[str, Any] = {
        "grant_types": ("client_credentials", TOKEN_EXCHANGE),
        "scope": ("orders:read",),
        "token_exchange_audiences": ("inventory-api", INVENTORY.identifier),
    }
    settings.update(options)
    return await wired.clients.register_once("orders-api", **settings)


async def exchange(
    wired: Wired, creds: ClientCredentials, subject_token: str, **parameters: Any
) -> TokenResponse:
    parameters.setdefault("subject_token_type", ACCESS)
    return await wired.domain.token_endpoint.exchange(
        TokenRequest(
            grant_type=TOKEN_EXCHANGE,
            credentials=creds,
            subject_token=subject_token,
            **parameters,
        )
    )


def claims_of(wired: Wired, token: str) -> dict[str, Any]:
    return dict(verify(wired, token, "ES256").claims)


async def test_delegation_narrows_and_names_the_actor(wired: Wired) -> None:
    _web, shown = await user_tokens(wired)
    api = await orders_api(wired)
    own = await wired.domain.token_endpoint.exchange(
        TokenRequest(grant_type="client_credentials", credentials=api)
    )
    subject = claims_of(wired, shown.access_token)
    assert subject["aud"] == ORDERS.identifier  # the token the resource server was shown

    exchanged = await exchange(
        wired,
        api,
        shown.access_token,
        actor_token=own.access_token,
        actor_token_type=ACCESS,
        audience=("inventory-api",),
        scope="orders:read",
    )
    assert exchanged.issued_token_type == ACCESS
    assert exchanged.token_type == "Bearer"
    assert exchanged.refresh_token == "" and exchanged.id_token == ""
    claims = claims_of(wired, exchanged.access_token)
    assert claims["sub"] == USER
    assert claims["aud"] == "inventory-api"
    assert claims["client_id"] == "orders-api"
    assert claims["scope"] == "orders:read" == exchanged.scope
    assert claims["act"] == {"sub": "orders-api", "client_id": "orders-api"}
    # The same grant family: revoking it (or the user) ends the exchanged token too.
    assert claims["grant_id"] == subject["grant_id"]
    assert claims["exp"] <= subject["exp"]

    # The inventory API introspects it as its audience.
    inventory = await wired.clients.register_once("inventory-api", grant_types=(), scope=())
    result = await wired.domain.introspection.introspect(exchanged.access_token, "", inventory)
    assert result.active and result.sub == USER

    await wired.domain.grants.revoke(family_id=str(subject["grant_id"]), reason="test")
    result = await wired.domain.introspection.introspect(exchanged.access_token, "", inventory)
    assert not result.active

    [event] = [e for e in wired.audit.events if e["action"] == "token.exchanged"]
    assert event["outcome"] == "success"
    assert event["details"]["actor"] == "orders-api"
    assert event["details"]["audience"] == "inventory-api"


async def test_a_chain_of_delegation_nests_act_and_impersonation_keeps_it(wired: Wired) -> None:
    _web, shown = await user_tokens(wired)
    api = await orders_api(wired, token_exchange_audiences=("inventory-api", "orders-api"))
    own = await wired.domain.token_endpoint.exchange(
        TokenRequest(grant_type="client_credentials", credentials=api)
    )
    first = await exchange(
        wired,
        api,
        shown.access_token,
        actor_token=own.access_token,
        actor_token_type=ACCESS,
        audience=("orders-api",),
    )
    # Exchanged again with another actor: the earlier actor is nested (section 4.1).
    second = await exchange(
        wired,
        api,
        first.access_token,
        actor_token=shown.access_token,
        actor_token_type=ACCESS,
        audience=("inventory-api",),
    )
    assert claims_of(wired, second.access_token)["act"] == {
        "sub": USER,
        "client_id": "web",
        "act": {"sub": "orders-api", "client_id": "orders-api"},
    }
    # Without an actor (impersonation) a delegated token keeps its chain.
    third = await exchange(wired, api, first.access_token, audience=("inventory-api",))
    assert claims_of(wired, third.access_token)["act"] == {
        "sub": "orders-api",
        "client_id": "orders-api",
    }
    # Impersonation of a plain token has no act.
    plain = await exchange(wired, api, shown.access_token, audience=("inventory-api",))
    assert "act" not in claims_of(wired, plain.access_token)


async def test_a_registered_resource_gives_its_audience_scopes_and_lifetime(
    wired: Wired,
) -> None:
    _web, shown = await user_tokens(wired)
    api = await orders_api(wired)
    exchanged = await exchange(wired, api, shown.access_token, resource=(INVENTORY.identifier,))
    claims = claims_of(wired, exchanged.access_token)
    assert claims["aud"] == INVENTORY.identifier
    assert exchanged.scope == "orders:read"  # orders:write is not the resource's
    assert exchanged.expires_in == 120
    # As an audience too: the same registered resource.
    by_audience = await exchange(wired, api, shown.access_token, audience=(INVENTORY.identifier,))
    assert claims_of(wired, by_audience.access_token)["aud"] == INVENTORY.identifier


async def test_without_a_target_the_subject_audience_stays(wired: Wired) -> None:
    _web, shown = await user_tokens(wired)
    api = await orders_api(wired)
    exchanged = await exchange(wired, api, shown.access_token, scope="orders:read")
    claims = claims_of(wired, exchanged.access_token)
    assert claims["aud"] == ORDERS.identifier
    assert claims["scope"] == "orders:read"


async def test_never_wider_than_the_subject_token(wired: Wired) -> None:
    _web, shown = await user_tokens(wired)
    api = await orders_api(wired)
    with pytest.raises(InvalidScope, match="not held by the subject token"):
        await exchange(wired, api, shown.access_token, scope="orders:read profile")
    denied = [e for e in wired.audit.events if e["action"] == "token.exchanged"]
    assert denied[-1]["outcome"] == "denied"
    assert denied[-1]["details"]["error"] == "invalid_scope"


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ({"audience": ("billing-api",)}, "may not exchange tokens for 'billing-api'"),
        ({"audience": ("inventory-api", INVENTORY.identifier)}, "one resource or audience"),
        ({"resource": (ORDERS.identifier,)}, "may not exchange tokens for"),
        ({"resource": ("https://unknown.example.com/",)}, "may not exchange tokens for"),
        ({"resource": ("not a uri",)}, "absolute URI"),
    ],
)
async def test_targets_outside_the_policy_are_invalid_target(
    wired: Wired, target: dict[str, Any], message: str
) -> None:
    _web, shown = await user_tokens(wired)
    api = await orders_api(wired)
    with pytest.raises(InvalidTarget, match=message):
        await exchange(wired, api, shown.access_token, **target)


async def test_a_resource_in_the_policy_must_be_registered(wired: Wired) -> None:
    _web, shown = await user_tokens(wired)
    api = await orders_api(wired, token_exchange_audiences=("https://unknown.example.com/",))
    with pytest.raises(InvalidTarget, match="Unknown resource"):
        await exchange(wired, api, shown.access_token, resource=("https://unknown.example.com/",))


async def test_invalid_or_foreign_subject_tokens_are_invalid_request(wired: Wired) -> None:
    web, shown = await user_tokens(wired)
    api = await orders_api(wired)
    # A client the token does not concern: neither issued to it nor for it.
    other = await wired.clients.register(
        "other-api",
        grant_types=(TOKEN_EXCHANGE,),
        scope=("orders:read",),
        token_exchange_audiences=("inventory-api",),
    )
    cases: list[tuple[ClientCredentials, str, str]] = [
        (api, "not-a-token", ACCESS),
        (api, shown.access_token[:-4] + "AAAA", ACCESS),  # tampered signature
        (other, shown.access_token, ACCESS),
        (api, shown.access_token, ID),  # an access token is no ID token
        (api, shown.refresh_token, REFRESH),  # another client's refresh token
    ]
    for creds, token, token_type in cases:
        with pytest.raises(InvalidRequest, match="subject token is invalid"):
            await exchange(wired, creds, token, subject_token_type=token_type)
    # A revoked subject token.
    await wired.domain.revocation.revoke(shown.access_token, "", web)
    with pytest.raises(InvalidRequest, match="subject token is invalid"):
        await exchange(wired, api, shown.access_token)


async def test_a_disabled_user_cannot_be_exchanged_for(wired: Wired) -> None:
    _web, shown = await user_tokens(wired)
    api = await orders_api(wired)
    wired.authorize.set_enabled(USER, False)
    with pytest.raises(InvalidRequest, match="disabled"):
        await exchange(wired, api, shown.access_token)


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"subject_token_type": ""}, "Missing 'subject_token_type'"),
        ({"subject_token_type": "urn:example:saml"}, "Unsupported subject_token_type"),
        ({"actor_token": "x"}, "'actor_token_type' is required"),
        ({"actor_token_type": ACCESS}, "must not be sent without 'actor_token'"),
        ({"actor_token": "x", "actor_token_type": REFRESH}, "Unsupported actor_token_type"),
        ({"requested_token_type": REFRESH}, "only access tokens are issued"),
    ],
)
async def test_malformed_requests_are_invalid_request(
    wired: Wired, parameters: dict[str, Any], message: str
) -> None:
    _web, shown = await user_tokens(wired)
    api = await orders_api(wired)
    with pytest.raises(InvalidRequest, match=message):
        await exchange(wired, api, shown.access_token, **parameters)
    with pytest.raises(InvalidRequest, match="Missing 'subject_token'"):
        await exchange(wired, api, "")


async def test_refresh_and_id_tokens_of_the_same_client(wired: Wired) -> None:
    web = await register_web(
        wired,
        grant_types=("authorization_code", "refresh_token", TOKEN_EXCHANGE),
        scope=SCOPE,
        token_exchange_audiences=("inventory-api",),
    )
    code = await issue_code(wired, web.client_id, scopes=SCOPE, verifier="w" * 43)
    tokens = await exchange_code(wired, web, code, verifier="w" * 43)

    by_refresh = await exchange(
        wired,
        web,
        tokens.refresh_token,
        subject_token_type=REFRESH,
        audience=("inventory-api",),
        scope="orders:read",
    )
    claims = claims_of(wired, by_refresh.access_token)
    assert claims["sub"] == USER and claims["aud"] == "inventory-api"
    assert claims["scope"] == "orders:read"
    # Exchanging did not use the refresh token up.
    refreshed = await wired.domain.token_endpoint.exchange(
        TokenRequest(
            grant_type="refresh_token", credentials=web, refresh_token=tokens.refresh_token
        )
    )
    assert refreshed.access_token

    by_id_token = await exchange(
        wired, web, tokens.id_token, subject_token_type=ID, audience=("inventory-api",)
    )
    claims = claims_of(wired, by_id_token.access_token)
    assert claims["sub"] == USER and claims["aud"] == "inventory-api"
    assert "scope" not in claims  # an ID token grants no scope
    with pytest.raises(InvalidScope):
        await exchange(wired, web, tokens.id_token, subject_token_type=ID, scope="profile")


async def test_an_expired_id_token_is_refused(wired: Wired) -> None:
    web = await register_web(
        wired,
        grant_types=("authorization_code", TOKEN_EXCHANGE),
        scope=SCOPE,
        token_exchange_audiences=("inventory-api",),
    )
    key = wired.keys.signing_key("ES256")
    now = int(time.time())
    expired = jose_jwt.encode(
        {"alg": "ES256", "kid": key.kid, "typ": "JWT"},
        {"iss": ISSUER, "sub": USER, "aud": [web.client_id], "iat": now - 600, "exp": now - 1},
        ECKey.import_key(key.private_key),  # type: ignore[arg-type]
    )
    assert verify(wired, expired, "ES256").claims["sub"] == USER  # genuinely ours
    with pytest.raises(InvalidRequest, match="subject token is invalid"):
        await exchange(wired, web, expired, subject_token_type=ID)


async def test_public_clients_may_not_exchange(wired: Wired) -> None:
    _web, shown = await user_tokens(wired)
    spa = await wired.clients.register(
        "spa-x", auth_method="none", grant_types=("authorization_code",), scope=SCOPE
    )
    with pytest.raises(UnauthorizedClient):
        await exchange(wired, spa, shown.access_token)


async def test_a_client_not_allowed_the_grant_is_unauthorized(wired: Wired) -> None:
    _web, shown = await user_tokens(wired)
    plain = await wired.clients.register("plain-api", scope=("orders:read",))
    with pytest.raises(UnauthorizedClient, match="not allowed to use grant_type"):
        await exchange(wired, plain, shown.access_token)
