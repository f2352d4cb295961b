"""The first admin client (docs/operators.md, "oauth2ctl"): created once, by
whoever reaches the internal network first, so that ``oauth2ctl`` can get an
``admin`` token with the client_credentials grant (RFC 6749 section 4.4).

Once only, across replicas: the caller first claims the ``admin_state`` key
``bootstrap_client_id`` with an insert (the primary key lets one of two
concurrent calls win), creates the client, then replaces the claim with the
client_id. A failed creation releases the claim; a claim left by a replica that
died half-way may be taken over after ``claim_timeout_seconds``.

Recovery (``oauth2ctl bootstrap --recover``) is for an operator who lost the
admin client's credentials: the same trust boundary as the bootstrap (reaching
the admin service's gRPC port, with the ``ctl`` certificate when mTLS is on),
any number of times, always audited as ``admin.recovered``.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Final

from oauth2.v1 import clients_pb2, common_pb2

from common.errors import Conflict, NotFound, OAuthError
from common.timeutil import utcnow
from common.vocabulary import ClientAuthMethod, GrantType
from services.admin.domain.audit import AuditLog
from services.admin.domain.clients import ClientAdministration
from services.admin.domain.model import ADMIN_BOOTSTRAPPED, ADMIN_RECOVERED
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
        administration: ClientAdministration,
        *,
        claim_timeout_seconds: float = 60,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._clients = clients
        self._state = state
        self._audit = audit
        self._administration = administration
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
                created = await self._create(client_name, actor)
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

    async def recover(
        self, client_name: str, actor: common_pb2.Actor
    ) -> clients_pb2.CreateClientResponse:
        """New credentials for an operator who lost the admin client's: the
        bootstrapped client gets a new secret (so the lost one stops working, and
        what it obtained is revoked, as any rotation does); when there is none, or
        it is gone, disabled or no longer holds the admin scope, a new admin client
        becomes the bootstrapped one. Audited as ``admin.recovered``, its target
        the client, ``details["how"]`` saying which."""
        actor = common_pb2.Actor(id=actor.id or BOOTSTRAP_ACTOR, remote_addr=actor.remote_addr)
        async with self._audit.audited(
            ADMIN_RECOVERED, actor.id, remote_addr=actor.remote_addr
        ) as entry:
            entry_state = await self._state.get(BOOTSTRAP_KEY)
            client_id = await self.bootstrapped_client_id()
            if client_id is not None and await self._usable(client_id):
                entry.target = f"client:{client_id}"
                entry.details["how"] = "secret_rotated"
                rotated = await self._administration.rotate_secret(
                    clients_pb2.RotateClientSecretRequest(client_id=client_id, actor=actor)
                )
                return clients_pb2.CreateClientResponse(
                    client=rotated.client, client_secret=rotated.client_secret
                )
            created = await self._create(client_name, actor)
            new_id = created.client.client_id
            entry.target = f"client:{new_id}"
            entry.details["how"] = "client_created"
            if client_id is not None:
                entry.details["replaces"] = f"client:{client_id}"
            now = self._clock()
            # Whatever the key held (nothing, a claim, the lost client): the new client.
            if entry_state is None:
                stored = await self._state.insert(BOOTSTRAP_KEY, new_id, now=now)
            else:
                stored = await self._state.replace(
                    BOOTSTRAP_KEY, expected=entry_state.value, value=new_id, now=now
                )
            if not stored:
                entry.details["bootstrap_key"] = "changed meanwhile, left as it was"
            return created

    async def _usable(self, client_id: str) -> bool:
        try:
            client = await self._clients.get_client(client_id)
        except NotFound:
            return False
        return client.enabled and ADMIN_SCOPE in client.scope.split()

    async def _create(
        self, client_name: str, actor: common_pb2.Actor
    ) -> clients_pb2.CreateClientResponse:
        return await self._clients.create_client(
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
