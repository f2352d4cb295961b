"""CodeConsumer and UserDirectory over gRPC: ask the authorize service.

ServiceClient turns failed calls into common.errors classes: invalid_grant for
a code that is unknown, expired, used or another client's (the grant handles
it), temporarily_unavailable when the authorize service is down or slow.
Consuming a code changes state, so only GetUserClaims is retried.
"""

from __future__ import annotations

import json
from typing import Any

from oauth2.v1 import authorize_pb2

from common.errors import NotFound, ServerError
from common.services import AuthorizeClient
from common.timeutil import from_timestamp
from services.token.domain.ports import ConsumedCode


def to_consumed_code(grant: authorize_pb2.AuthorizationCodeGrant) -> ConsumedCode:
    return ConsumedCode(
        code_id=grant.code_id,
        client_id=grant.client_id,
        user_id=grant.user_id,
        redirect_uri=grant.redirect_uri,
        redirect_uri_in_request=grant.redirect_uri_in_request,
        scopes=tuple(grant.scopes),
        code_challenge=grant.code_challenge,
        code_challenge_method=grant.code_challenge_method,
        nonce=grant.nonce,
        auth_time=from_timestamp(grant.auth_time) if grant.HasField("auth_time") else None,
        amr=tuple(grant.amr),
        resource=grant.resource,
        sid=grant.sid,
        dpop_jkt=grant.dpop_jkt,
    )


class GrpcCodeConsumer:
    """CodeConsumer backed by AuthorizeService.ConsumeAuthorizationCode (RFC 6749 4.1.3),
    and DeviceCodeConsumer by ConsumeDeviceCode (RFC 8628 section 3.4)."""

    def __init__(self, authorize: AuthorizeClient) -> None:
        self._authorize = authorize

    async def consume(self, code: str, client_id: str) -> ConsumedCode:
        grant = await self._authorize.call.ConsumeAuthorizationCode(
            authorize_pb2.ConsumeAuthorizationCodeRequest(code=code, client_id=client_id)
        )
        return to_consumed_code(grant)

    async def consume_device_code(self, device_code: str, client_id: str) -> ConsumedCode:
        grant = await self._authorize.call.ConsumeDeviceCode(
            authorize_pb2.ConsumeDeviceCodeRequest(device_code=device_code, client_id=client_id)
        )
        return to_consumed_code(grant)


class GrpcUserDirectory:
    """UserDirectory backed by AuthorizeService.GetUserClaims (OpenID Connect Core 5.4)."""

    def __init__(self, authorize: AuthorizeClient) -> None:
        self._authorize = authorize

    async def claims(self, user_id: str, scopes: list[str]) -> tuple[dict[str, Any], bool]:
        try:
            reply = await self._authorize.call.GetUserClaims(
                authorize_pb2.GetUserClaimsRequest(user_id=user_id, scopes=scopes)
            )
        except NotFound:
            return {}, False  # a deleted user holds no grants
        try:
            claims = json.loads(reply.claims_json) if reply.claims_json else {}
        except ValueError:
            raise ServerError(
                detail="GetUserClaims returned claims_json that is not JSON"
            ) from None
        if not isinstance(claims, dict):
            raise ServerError(detail="GetUserClaims returned claims_json that is not an object")
        return claims, reply.enabled
