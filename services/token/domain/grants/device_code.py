"""The device authorization grant's token request (RFC 8628 section 3.4, 3.5).

The device polls with its ``device_code``; the authorize service, which keeps the
device authorization, answers ``authorization_pending``, ``slow_down``,
``access_denied`` or ``expired_token`` until the person has approved, then the
grant once (a redeemed code is ``invalid_grant``). From there it is the code flow's
issuance: the user still enabled, a grant family named by the device_code's hash,
the access token, a refresh token when allowed and an ID token for ``openid``.
A redemption whose issuance answered 503 is kept (``unfinished_exchanges``) for
the device's next poll, as for a code.
"""

from __future__ import annotations

from typing import ClassVar

from common.errors import InvalidGrant, InvalidRequest, TemporarilyUnavailable, Unimplemented
from common.secrets import sha256_hex
from common.vocabulary import CONFIDENTIAL_AUTH_METHODS, ClientAuthMethod, GrantType
from services.token.domain.confirmation import NO_CONFIRMATION, Confirmation
from services.token.domain.grants.authorization_code import AuthorizationCodeGrant
from services.token.domain.grants.base import GrantServices, TokenRequest, TokenResponse
from services.token.domain.ports import AuthenticatedClient, ConsumedCode


class DeviceCodeGrant:
    """RFC 8628 section 3.4: a device_code for tokens of the person who approved it."""

    GRANT_TYPE: ClassVar[str] = GrantType.DEVICE_CODE
    PARAMETERS: ClassVar[frozenset[str]] = frozenset({"device_code"})
    # Section 3.4: public clients (TVs, CLIs) and confidential ones alike.
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[tuple[str, ...]] = (
        *CONFIDENTIAL_AUTH_METHODS,
        ClientAuthMethod.NONE,
    )

    def __init__(self, services: GrantServices) -> None:
        self._services = services
        # The person's tokens are issued as for an authorization code.
        self._issuance = AuthorizationCodeGrant(services)

    async def create_token_response(
        self, client: AuthenticatedClient, request: TokenRequest
    ) -> TokenResponse:
        if not request.device_code:
            raise InvalidRequest("Missing 'device_code'")
        grant = await self.redeem(client, request.device_code)
        try:
            return await self.exchange(client, grant, request.confirmation)
        except TemporarilyUnavailable:
            if self._services.unfinished is not None:
                await self._services.unfinished.keep(grant)
            raise

    async def redeem(self, client: AuthenticatedClient, device_code: str) -> ConsumedCode:
        devices = self._services.devices
        if devices is None:
            raise Unimplemented("The device authorization grant is not configured")
        try:
            return await devices.consume_device_code(device_code, client.client_id)
        except InvalidGrant:
            unfinished = self._services.unfinished
            resumed = (
                await unfinished.take(sha256_hex(device_code), client.client_id)
                if unfinished
                else None
            )
            if resumed is not None:
                return resumed
            raise

    async def exchange(
        self,
        client: AuthenticatedClient,
        grant: ConsumedCode,
        confirmation: Confirmation = NO_CONFIRMATION,
    ) -> TokenResponse:
        self._issuance.check_client(client, grant)
        scope = list(grant.scopes)
        user_claims, enabled = await self._services.users.claims(grant.user_id, scope)
        if not enabled:
            raise InvalidGrant("The user account is disabled")
        return await self._issuance.issue(
            client, grant, scope, user_claims, confirmation=confirmation
        )
