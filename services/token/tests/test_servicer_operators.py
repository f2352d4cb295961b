"""The operators' RPCs of TokenService through real gRPC (docs/operators.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from google.protobuf import empty_pb2
from oauth2.v1 import common_pb2, token_pb2, token_pb2_grpc

from common.errors import InvalidRequest, InvalidToken, NotFound
from common.grpc_client import ServiceClient
from common.kv import MemoryKeyValue
from common.secrets import sha256_hex
from common.services import TokenClient
from services.token.domain.denylist import RevocationList
from services.token.domain.keys import KeyManager
from services.token.servicer import TokenServicer
from services.token.tests.conftest import ISSUER, Wired, wire
from services.token.tests.fakes import (
    ClientsStandIn,
    MemoryDenylistStore,
    MemorySigningKeyStore,
)
from services.token.tests.people import exchange_code, issue_code, register_web
from services.token.tests.test_servicer import creds, start_server

VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"


async def connect(servicer: TokenServicer) -> AsyncIterator[TokenClient]:
    server, port = await start_server(servicer)
    client: TokenClient = ServiceClient(
        token_pb2_grpc.TokenServiceStub, f"127.0.0.1:{port}", "oauth2.v1.TokenService", deadline=5
    )
    yield client
    await client.close()
    await server.stop(None)


@pytest.fixture
async def client(wired: Wired) -> AsyncIterator[TokenClient]:
    async for token_client in connect(TokenServicer(wired.domain)):
        yield token_client


def test_every_rpc_is_implemented() -> None:
    service = token_pb2.DESCRIPTOR.services_by_name["TokenService"]
    missing = [m.name for m in service.methods if m.name not in vars(TokenServicer)]
    assert missing == []


async def test_verify_access_token_audience(wired: Wired, client: TokenClient) -> None:
    await wired.clients.register("svc")
    token = (
        await client.call.Exchange(
            token_pb2.TokenRequest(grant_type="client_credentials", credentials=creds(wired, "svc"))
        )
    ).access_token
    verified = await client.call.VerifyAccessToken(
        token_pb2.VerifyAccessTokenRequest(token=token, audience=ISSUER)
    )
    assert verified.active and list(verified.aud) == [ISSUER]
    with pytest.raises(InvalidToken) as info:
        await client.call.VerifyAccessToken(
            token_pb2.VerifyAccessTokenRequest(token=token, audience="https://api.example.test")
        )
    assert info.value.description == "The access token is not meant for this audience"


async def test_list_and_revoke_grants(wired: Wired, client: TokenClient) -> None:
    web = await register_web(wired)
    codes = [await issue_code(wired, "web", verifier=VERIFIER) for _ in range(3)]
    tokens = [await exchange_code(wired, web, code, VERIFIER) for code in codes]

    first = await client.call.ListGrants(
        token_pb2.ListGrantsRequest(subject="user-1", page=common_pb2.PageRequest(page_size=2))
    )
    assert first.page.total_size == 3 and first.page.next_page_token
    second = await client.call.ListGrants(
        token_pb2.ListGrantsRequest(
            subject="user-1",
            page=common_pb2.PageRequest(page_size=2, page_token=first.page.next_page_token),
        )
    )
    assert second.page.next_page_token == ""
    listed = [*first.grants, *second.grants]
    assert {g.family_id for g in listed} == {sha256_hex(code) for code in codes}
    grant = listed[0]
    assert (grant.client_id, grant.subject, grant.scope) == (
        "web",
        "user-1",
        "openid profile offline_access",
    )
    assert grant.created_at.seconds and grant.expires_at.seconds > grant.created_at.seconds
    assert not grant.HasField("last_used_at")

    revoked = await client.call.RevokeGrants(
        token_pb2.RevokeGrantsRequest(family_id=sha256_hex(codes[0]))
    )
    assert revoked.families_revoked == 1
    with pytest.raises(NotFound):
        await client.call.RevokeGrants(token_pb2.RevokeGrantsRequest(family_id="missing"))
    with pytest.raises(InvalidRequest) as two:
        await client.call.RevokeGrants(
            token_pb2.RevokeGrantsRequest(subject="user-1", client_id="web")
        )
    assert two.value.description == "Give exactly one of 'family_id', 'subject' or 'client_id'"

    revoked = await client.call.RevokeGrants(
        token_pb2.RevokeGrantsRequest(subject="user-1", reason="user disabled")
    )
    assert revoked.families_revoked == 2
    for response in tokens:
        with pytest.raises(InvalidToken):
            await client.call.VerifyAccessToken(
                token_pb2.VerifyAccessTokenRequest(token=response.access_token)
            )
    empty = await client.call.ListGrants(token_pb2.ListGrantsRequest(client_id="web"))
    assert list(empty.grants) == [] and empty.page.total_size == 0

    stats = await client.call.GetTokenStats(empty_pb2.Empty())
    assert dict(stats.issued_by_grant_type) == {
        "authorization_code": 3,
        "client_credentials": 0,
        "refresh_token": 0,
        "urn:ietf:params:oauth:grant-type:device_code": 0,
        "urn:ietf:params:oauth:grant-type:token-exchange": 0,
    }
    assert stats.active_grants == 0 and stats.since.seconds > 0


async def test_signing_keys_through_grpc(kek: bytes) -> None:
    """On a key manager of its own: rotating the shared one would change other tests."""
    keys = KeyManager(MemorySigningKeyStore(), kek, algs=("ES256",))
    await keys.start()
    revocations = RevocationList(
        MemoryDenylistStore(), MemoryKeyValue(), max_token_ttl_seconds=3600
    )
    domain = wire(keys, ClientsStandIn(), revocations)
    async for client in connect(TokenServicer(domain)):
        old_kid = keys.signing_key("ES256").kid
        rotated = await client.call.RotateSigningKey(token_pb2.RotateSigningKeyRequest())
        assert (rotated.alg, rotated.status) == ("ES256", "active")
        assert rotated.public_key.kid == rotated.kid and rotated.created_at.seconds > 0
        jwks = await client.call.GetJwks(empty_pb2.Empty())
        assert {k.kid for k in jwks.keys} == {old_kid, rotated.kid}
        listed = await client.call.ListSigningKeys(empty_pb2.Empty())
        assert [(k.kid, k.status) for k in listed.keys] == [
            (rotated.kid, "active"),
            (old_kid, "previous"),
        ]

        with pytest.raises(InvalidRequest) as active:
            await client.call.RetireSigningKey(token_pb2.RetireSigningKeyRequest(kid=rotated.kid))
        assert active.value.description == "Rotate the key before retiring it"
        with pytest.raises(NotFound):
            await client.call.RetireSigningKey(token_pb2.RetireSigningKeyRequest(kid="nope"))
        with pytest.raises(InvalidRequest):
            await client.call.RotateSigningKey(token_pb2.RotateSigningKeyRequest(alg="HS256"))

        retired = await client.call.RetireSigningKey(token_pb2.RetireSigningKeyRequest(kid=old_kid))
        assert retired.status == "retired" and retired.retired_at.seconds > 0
        jwks = await client.call.GetJwks(empty_pb2.Empty())
        assert [k.kid for k in jwks.keys] == [rotated.kid]
