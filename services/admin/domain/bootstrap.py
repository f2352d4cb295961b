"""The first admin client (docs/operators.md, "oauth2ctl"): created once, by
whoever reaches the internal network first, so that ``oauth2ctl`` can get an
``admin`` token with the client_credentials grant (RFC 6749 section 4.4).

Once only, across replicas: the caller first claims the ``admin_state`` key
``bootstrap_client_id`` with an insert (the primary key lets one of two
concurrent calls win), creates the client, then replaces the claim with the
client_id. A failed creation releases the claim; a claim left by a replica that
died half-way may be taken over after ``claim_timeout_seconds``.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Final

from oauth2.v1 import clients_pb2, common_pb2

from common.errors import Conflict, OAuthError
from common.timeutil import utcnow
from common.vocabulary import ClientAuthMethod, GrantType
from services.admin.domain.audit import AuditLog
from services.admin.domain.model import ADMIN_BOOTSTRAPPED
from services.admin.domain.ports import AdminStateStore, ClientRegistry

BOOTSTRAP_KEY: Final = "bootstrap_client_id"
DEFAULT_CLIENT_NAME: Final = "oauth2ctl admin"
BOOTSTRAP_ACTOR: Final = "cli"
ALREADY_BOOTSTRAPPED: Final = "The system is already bootstrapped"
ADMIN_SCOPE: Final = "admin"
AUTH_METHOD: Final = ClientAuthMethod.CLIENT_SECRET_BASIC
_PENDING: Final = "pending:"


class Bootstrapper:
    """Creates the first admin client (client_credentials, RFC 6749 section 4.4) once."""

    def __init__(
        self,
        clients: ClientRegistry,
        state: AdminStateStore,
        audit: AuditLog,
        *,
        claim_timeout_seconds: float = 60,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._clients = clients
        self._state = state
        self._audit = audit
        self._claim_timeout = timedelta(seconds=claim_timeout_seconds)
        self._clock = clock

    async def bootstrap(
        self, client_name: str, actor: common_pb2.Actor
    ) -> clients_pb2.CreateClientResponse:
        """The admin client and its secret (shown once), or Conflict."""
        actor = common_pb2.Actor(id=actor.id or BOOTSTRAP_ACTOR, remote_addr=actor.remote_addr)
        async with self._audit.audited(
            ADMIN_BOOTSTRAPPED, actor.id, remote_addr=actor.remote_addr
        ) as entry:
            claim = await self._claim()
            try:
                created = await self._clients.create_client(
                    clients_pb2.CreateClientRequest(
                        metadata=clients_pb2.ClientMetadata(
                            client_name=client_name or DEFAULT_CLIENT_NAME,
                            grant_types=[GrantType.CLIENT_CREDENTIALS],
                            scope=ADMIN_SCOPE,
                            token_endpoint_auth_method=AUTH_METHOD,
                        ),
                        actor=actor,
                    )
                )
            except BaseException:
                # Let a later call try again; keep the original error if this fails too.
                with contextlib.suppress(OAuthError):
                    await self._state.delete(BOOTSTRAP_KEY, expected=claim)
                raise
            client_id = created.client.client_id
            entry.target = f"client:{client_id}"
            await self._state.replace(
                BOOTSTRAP_KEY, expected=claim, value=client_id, now=self._clock()
            )
            return created

    async def bootstrapped_client_id(self) -> str | None:
        entry = await self._state.get(BOOTSTRAP_KEY)
        if entry is None or entry.value.startswith(_PENDING):
            return None
        return entry.value

    async def _claim(self) -> str:
        claim = _PENDING + uuid.uuid4().hex
        now = self._clock()
        if await self._state.insert(BOOTSTRAP_KEY, claim, now=now):
            return claim
        current = await self._state.get(BOOTSTRAP_KEY)
        if current is None:
            # A failed attempt released its claim meanwhile: one more try.
            if await self._state.insert(BOOTSTRAP_KEY, claim, now=now):
                return claim
            raise Conflict(ALREADY_BOOTSTRAPPED)
        abandoned = (
            current.value.startswith(_PENDING) and current.updated_at < now - self._claim_timeout
        )
        if abandoned and await self._state.replace(
            BOOTSTRAP_KEY, expected=current.value, value=claim, now=now
        ):
            return claim
        raise Conflict(ALREADY_BOOTSTRAPPED)
