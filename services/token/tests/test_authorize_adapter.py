"""GrpcCodeConsumer and GrpcUserDirectory against a stand-in AuthorizeService over gRPC."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import grpc
import pytest
from oauth2.v1 import authorize_pb2, authorize_pb2_grpc

from common.errors import InvalidGrant, NotFound, ServerError, TemporarilyUnavailable
from common.grpc_server import ErrorInterceptor
from common.grpc_types import Context
from common.services import authorize_client
from common.timeutil import to_timestamp
from services.token.authorize_adapter import (
    GrpcCodeConsumer,
    GrpcUserDirectory,
)
from services.token.domain.ports import ConsumedCode
from services.token.tests.test_clients_adapter import free_port

AUTH_TIME = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
# RFC 9449 section 10: the DPoP key the code is bound to (an RFC 7638 thumbprint).
JKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"


class StandInAuthorize(authorize_pb2_grpc.AuthorizeServiceServicer):
    async def ConsumeAuthorizationCode(
        self,
        request: authorize_pb2.ConsumeAuthorizationCodeRequest,
        context: Context,
    ) -> authorize_pb2.AuthorizationCodeGrant:
        if (request.code, request.client_id) != ("the-code", "web"):
            raise InvalidGrant("Invalid authorization code")
        return authorize_pb2.AuthorizationCodeGrant(
            client_id="web",
            user_id="u1",
            redirect_uri="https://app/cb",
            redirect_uri_in_request=True,
            scopes=["openid", "profile"],
            code_challenge="ch",
            code_challenge_method="S256",
            nonce="n",
            auth_time=to_timestamp(AUTH_TIME),
            code_id="cid",
            amr=["pwd"],
            sid="sid-1",
            dpop_jkt=JKT,
        )

    async def GetUserClaims(
        self, request: authorize_pb2.GetUserClaimsRequest, context: Context
    ) -> authorize_pb2.UserClaims:
        if request.user_id == "ghost":
            raise NotFound("no such user")
        if request.user_id == "broken":
            return authorize_pb2.UserClaims(sub="broken", claims_json="[1]", enabled=True)
        claims = {"sub": request.user_id, "scopes": list(request.scopes)}
        return authorize_pb2.UserClaims(
            sub=request.user_id, claims_json=json.dumps(claims), enabled=request.user_id != "off"
        )


@pytest.fixture
async def target() -> AsyncIterator[str]:
    server = grpc.aio.server(interceptors=[ErrorInterceptor()])
    authorize_pb2_grpc.add_AuthorizeServiceServicer_to_server(StandInAuthorize(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield f"127.0.0.1:{port}"
    await server.stop(None)


async def test_consume_and_claims(target: str) -> None:
    authorize = authorize_client(target, deadline=5)
    try:
        codes, users = GrpcCodeConsumer(authorize), GrpcUserDirectory(authorize)
        assert await codes.consume("the-code", "web") == ConsumedCode(
            code_id="cid",
            client_id="web",
            user_id="u1",
            redirect_uri="https://app/cb",
            redirect_uri_in_request=True,
            scopes=("openid", "profile"),
            code_challenge="ch",
            code_challenge_method="S256",
            nonce="n",
            auth_time=AUTH_TIME,
            amr=("pwd",),
            sid="sid-1",
            dpop_jkt=JKT,
        )
        with pytest.raises(InvalidGrant):
            await codes.consume("the-code", "other")
        assert await users.claims("u1", ["openid", "email"]) == (
            {"sub": "u1", "scopes": ["openid", "email"]},
            True,
        )
        assert (await users.claims("off", []))[1] is False
        assert await users.claims("ghost", ["openid"]) == ({}, False)
        with pytest.raises(ServerError):
            await users.claims("broken", [])
    finally:
        await authorize.close()


async def test_authorize_service_down_is_temporarily_unavailable() -> None:
    authorize = authorize_client(f"127.0.0.1:{free_port()}", deadline=1)
    try:
        with pytest.raises(TemporarilyUnavailable):
            await GrpcCodeConsumer(authorize).consume("c", "web")
        with pytest.raises(TemporarilyUnavailable):
            await GrpcUserDirectory(authorize).claims("u", [])
    finally:
        await authorize.close()
