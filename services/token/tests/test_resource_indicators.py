"""Resource indicators (RFC 8707) at the token endpoint: a ``resource`` gives the
access token that resource server as ``aud``, only its scopes and its lifetime; an
invalid, unknown or foreign resource is invalid_target; the resource server's own
client introspects the tokens for it. Tokens checked with joserfc."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet

from common.errors import InvalidScope, InvalidTarget
from common.kv import MemoryKeyValue
from common.resources import ResourceInfo
from services.token.domain.denylist import RevocationList
from services.token.domain.grants.base import TokenRequest
from services.token.domain.keys import KeyManager
from services.token.domain.ports import ClientCredentials
from services.token.servicer import TokenDomain
from services.token.tests.conftest import ISSUER, wire
from services.token.tests.fakes import ClientsStandIn, MemoryDenylistStore

ORDERS = ResourceInfo(
    identifier="https://api.example.com/orders",
    scopes=("orders:read", "orders:write"),
    access_token_ttl_seconds=300,
    introspection_client_id="orders-api",
)
BILLING = ResourceInfo(identifier="https://billing.example.com/", scopes=("billing",))


class Resources:
    def __init__(self, *resources: ResourceInfo) -> None:
        self.by_identifier = {resource.identifier: resource for resource in resources}
        self.lookups: list[str] = []

    async def get(self, identifier: str) -> ResourceInfo | None:
        self.lookups.append(identifier)
        return self.by_identifier.get(identifier)


@dataclass
class World:
    keys: KeyManager
    clients: ClientsStandIn
    resources: Resources
    domain: TokenDomain


@pytest.fixture
async def world(key_manager: KeyManager) -> AsyncIterator[World]:
    revocations = RevocationList(
        MemoryDenylistStore(), MemoryKeyValue(), max_token_ttl_seconds=3600
    )
    await revocations.start()
    clients = ClientsStandIn()
    resources = Resources(ORDERS, BILLING)
    yield World(
        key_manager,
        clients,
        resources,
        wire(key_manager, clients, revocations, resources=resources),
    )


def claims(world: World, token: str) -> dict[str, object]:
    keys = KeySet.import_key_set({"keys": world.keys.jwks()})  # type: ignore[typeddict-item]
    return dict(jose_jwt.decode(token, keys, algorithms=["ES256"]).claims)


async def token(
    world: World, creds: ClientCredentials, *, scope: str = "", resource: tuple[str, ...] = ()
) -> dict[str, object]:
    response = await world.domain.token_endpoint.exchange(
        TokenRequest(
            grant_type="client_credentials", credentials=creds, scope=scope, resource=resource
        )
    )
    return {
        "scope": response.scope,
        "expires_in": response.expires_in,
        **claims(world, response.access_token),
        "token": response.access_token,
    }


async def test_a_resource_is_the_audience_with_its_scopes_and_lifetime(world: World) -> None:
    creds = await world.clients.register("svc", scope=("orders:read", "profile", "billing"))
    issued = await token(world, creds, resource=(ORDERS.identifier,))
    assert issued["aud"] == ORDERS.identifier
    assert issued["scope"] == "orders:read"  # only the resource's scopes
    assert issued["expires_in"] == 300
    assert int(issued["exp"]) - int(issued["iat"]) == 300  # type: ignore[call-overload]
    # Without a resource: today's default audience and lifetime.
    plain = await token(world, creds)
    assert plain["aud"] == ISSUER and plain["expires_in"] == 3600
    assert plain["scope"] == "orders:read profile billing"


@pytest.mark.parametrize(
    ("resource", "message"),
    [
        (("https://unknown.example.com/",), "Unknown resource"),
        (("https://billing.example.com/",), "may not use the resource"),
        (("not a uri",), "absolute URI"),
        (("https://api.example.com/orders#x",), "absolute URI"),
        ((ORDERS.identifier, BILLING.identifier), "one resource at a time"),
    ],
)
async def test_invalid_target(world: World, resource: tuple[str, ...], message: str) -> None:
    creds = await world.clients.register("svc-2", scope=("orders:read",))
    with pytest.raises(InvalidTarget, match=message):
        await token(world, creds, resource=resource)


async def test_scopes_outside_the_resource_are_invalid_scope(world: World) -> None:
    creds = await world.clients.register("svc-3", scope=("orders:read", "profile"))
    with pytest.raises(InvalidScope, match="belong to the resource"):
        await token(world, creds, scope="profile", resource=(ORDERS.identifier,))


async def test_the_resource_server_introspects_its_tokens(world: World) -> None:
    creds = await world.clients.register("svc-4", scope=("orders:read",))
    api = await world.clients.register("orders-api", scope=("read",))
    other = await world.clients.register("another-api", scope=("read",))
    issued = await token(world, creds, resource=(ORDERS.identifier,))
    introspection = world.domain.introspection
    seen = await introspection.introspect(str(issued["token"]), "", api)
    assert seen.active and seen.aud == (ORDERS.identifier,) and seen.scope == "orders:read"
    assert not (await introspection.introspect(str(issued["token"]), "", other)).active
