"""In-memory stand-ins for the admin service's ports: the three services it
composes (recording every call in one shared journal, so that tests can check
the order of an orchestration) and its own two stores."""

from __future__ import annotations

import asyncio
import builtins
import dataclasses
import uuid
from datetime import datetime

from google.protobuf import empty_pb2
from oauth2.v1 import (
    authorize_pb2,
    authorize_pb2_grpc,
    clients_pb2,
    clients_pb2_grpc,
    common_pb2,
    token_pb2,
    token_pb2_grpc,
)

from common.errors import Conflict, InvalidRequest, InvalidToken, NotFound, OAuthError
from common.paging import decode_page_token, encode_page_token
from common.timeutil import to_timestamp, utcnow
from services.admin.domain.model import AuditCursor, AuditFilter, AuditRecord, StateEntry

Journal = list[str]


class _Fake:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        #: method name -> error its next call raises
        self.failures: dict[str, BaseException] = {}

    async def _enter(self, entry: str) -> None:
        await asyncio.sleep(0)  # a real call yields; concurrency tests rely on it
        self.journal.append(entry)
        method = entry.split()[0]
        if method in self.failures:
            raise self.failures.pop(method)


def _page(items: list, token: str, size: int, key) -> tuple[list, common_pb2.PageResponse]:  # type: ignore[no-untyped-def, type-arg]
    after = decode_page_token(token)
    rest = [item for item in items if after is None or key(item) > after]
    size = size or 50
    chunk = rest[:size]
    next_token = encode_page_token(key(chunk[-1])) if len(rest) > size else ""
    return chunk, common_pb2.PageResponse(next_page_token=next_token, total_size=len(items))


class FakeClientRegistry(_Fake):
    def __init__(self, journal: Journal) -> None:
        super().__init__(journal)
        self.clients: dict[str, clients_pb2.Client] = {}
        self.initial_access_tokens: list[clients_pb2.CreateInitialAccessTokenRequest] = []

    async def create_client(
        self, request: clients_pb2.CreateClientRequest
    ) -> clients_pb2.CreateClientResponse:
        await self._enter(f"CreateClient {request.client_id}")
        client_id = request.client_id or uuid.uuid4().hex[:12]
        if client_id in self.clients:
            raise Conflict(f"Client {client_id!r} already exists")
        meta = request.metadata
        client = clients_pb2.Client(
            client_id=client_id,
            client_name=meta.client_name,
            grant_types=meta.grant_types or ["client_credentials"],
            scope=meta.scope,
            token_endpoint_auth_method=meta.token_endpoint_auth_method or "client_secret_basic",
            revision=1,
        )
        self.clients[client_id] = client
        return clients_pb2.CreateClientResponse(client=client, client_secret="s3cr3t-" + client_id)

    async def get_client(self, client_id: str) -> clients_pb2.Client:
        await self._enter(f"GetClient {client_id}")
        if client_id not in self.clients:
            raise NotFound(f"Client {client_id!r} not found")
        return self.clients[client_id]

    async def list_clients(
        self, request: clients_pb2.ListClientsRequest
    ) -> clients_pb2.ListClientsResponse:
        await self._enter("ListClients")
        items = sorted(self.clients.values(), key=lambda c: c.client_id)
        chunk, page = _page(
            items, request.page.page_token, request.page.page_size, lambda c: c.client_id
        )
        return clients_pb2.ListClientsResponse(clients=chunk, page=page)

    async def update_client(self, request: clients_pb2.UpdateClientRequest) -> clients_pb2.Client:
        await self._enter(f"UpdateClient {request.client_id}")
        client = await self.get_client(request.client_id)
        client.client_name = request.metadata.client_name
        client.revision += 1
        return client

    async def delete_client(self, client_id: str, actor: common_pb2.Actor) -> None:
        await self._enter(f"DeleteClient {client_id}")
        if self.clients.pop(client_id, None) is None:
            raise NotFound(f"Client {client_id!r} not found")

    async def delete_registration(self, request: clients_pb2.RegistrationAccessRequest) -> None:
        await self._enter(f"DeleteRegistration {request.client_id}")
        if request.registration_access_token != "rat-" + request.client_id:
            raise InvalidToken("The registration access token is invalid")
        if self.clients.pop(request.client_id, None) is None:
            raise InvalidToken("The registration access token is invalid")

    async def rotate_client_secret(
        self, client_id: str, actor: common_pb2.Actor
    ) -> clients_pb2.RotateClientSecretResponse:
        await self._enter(f"RotateClientSecret {client_id}")
        if client_id not in self.clients:
            raise NotFound(f"Client {client_id!r} not found")
        return clients_pb2.RotateClientSecretResponse(
            client=self.clients[client_id], client_secret="rotated-" + client_id
        )

    async def create_initial_access_token(
        self, request: clients_pb2.CreateInitialAccessTokenRequest
    ) -> clients_pb2.CreateInitialAccessTokenResponse:
        await self._enter("CreateInitialAccessToken")
        self.initial_access_tokens.append(request)
        return clients_pb2.CreateInitialAccessTokenResponse(
            initial_access_token="iat-secret-value",
            expires_at=to_timestamp(datetime(2030, 1, 1, tzinfo=utcnow().tzinfo)),
        )


class FakeUserDirectory(_Fake):
    def __init__(self, journal: Journal) -> None:
        super().__init__(journal)
        self.users: dict[str, authorize_pb2.User] = {}
        #: (client_id, user_id) -> scopes
        self.consents: dict[tuple[str, str], list[str]] = {}

    def add_user(self, username: str) -> authorize_pb2.User:
        user = authorize_pb2.User(user_id=f"u-{username}", username=username, enabled=True)
        self.users[user.user_id] = user
        return user

    async def create_user(self, request: authorize_pb2.CreateUserRequest) -> authorize_pb2.User:
        await self._enter(f"CreateUser {request.username}")
        if not request.username:
            raise InvalidRequest("'username' must be 1 to 64 characters")
        return self.add_user(request.username)

    async def get_user(self, request: authorize_pb2.GetUserRequest) -> authorize_pb2.User:
        await self._enter(f"GetUser {request.user_id}")
        if request.user_id not in self.users:
            raise NotFound(f"User {request.user_id!r} not found")
        return self.users[request.user_id]

    async def list_users(
        self, request: authorize_pb2.ListUsersRequest
    ) -> authorize_pb2.ListUsersResponse:
        await self._enter("ListUsers")
        items = sorted(self.users.values(), key=lambda u: u.user_id)
        chunk, page = _page(
            items, request.page.page_token, request.page.page_size, lambda u: u.user_id
        )
        return authorize_pb2.ListUsersResponse(users=chunk, page=page)

    async def update_user(self, request: authorize_pb2.UpdateUserRequest) -> authorize_pb2.User:
        await self._enter(f"UpdateUser {request.user_id}")
        if request.user_id not in self.users:
            raise NotFound(f"User {request.user_id!r} not found")
        user = self.users[request.user_id]
        for name in request.update_mask:
            setattr(user, name, getattr(request.user, name))
        return user

    async def set_password(self, request: authorize_pb2.SetPasswordRequest) -> None:
        await self._enter(f"SetPassword {request.user_id}")
        if request.user_id not in self.users:
            raise NotFound(f"User {request.user_id!r} not found")

    async def delete_user(self, user_id: str, actor: common_pb2.Actor) -> None:
        await self._enter(f"DeleteUser {user_id}")
        if self.users.pop(user_id, None) is None:
            raise NotFound(f"User {user_id!r} not found")
        for key in [key for key in self.consents if key[1] == user_id]:
            del self.consents[key]

    async def list_consents(
        self, *, user_id: str, client_id: str, page: common_pb2.PageRequest
    ) -> authorize_pb2.ListConsentsResponse:
        await self._enter(f"ListConsents {user_id or '-'} {client_id or '-'}")
        items = [
            authorize_pb2.Consent(client_id=c, user_id=u, scopes=scopes)
            for (c, u), scopes in sorted(self.consents.items())
            if (not user_id or u == user_id) and (not client_id or c == client_id)
        ]
        chunk, response_page = _page(
            items, page.page_token, page.page_size, lambda c: f"{c.client_id}\n{c.user_id}"
        )
        return authorize_pb2.ListConsentsResponse(consents=chunk, page=response_page)

    async def revoke_consents(
        self, *, user_id: str, client_id: str, actor: common_pb2.Actor
    ) -> int:
        await self._enter(f"RevokeConsents {user_id or '-'} {client_id or '-'}")
        chosen = [
            key
            for key in self.consents
            if (not client_id or key[0] == client_id) and (not user_id or key[1] == user_id)
        ]
        for key in chosen:
            del self.consents[key]
        return len(chosen)


@dataclasses.dataclass
class Family:
    family_id: str
    client_id: str
    subject: str
    revoked: bool = False


class FakeTokenAuthority(_Fake):
    def __init__(self, journal: Journal) -> None:
        super().__init__(journal)
        self.families: list[Family] = []
        self.revocations: list[token_pb2.RevokeGrantsRequest] = []
        self.keys: list[token_pb2.SigningKey] = [
            token_pb2.SigningKey(kid="k1", alg="ES256", status="active")
        ]
        self.stats = token_pb2.TokenStats(
            issued_by_grant_type={"client_credentials": 3, "authorization_code": 2},
            active_grants=4,
            since=to_timestamp(datetime(2025, 1, 1, tzinfo=utcnow().tzinfo)),
        )

    async def list_grants(
        self, request: token_pb2.ListGrantsRequest
    ) -> token_pb2.ListGrantsResponse:
        await self._enter(f"ListGrants {request.subject or '-'} {request.client_id or '-'}")
        items = [
            token_pb2.Grant(family_id=f.family_id, client_id=f.client_id, subject=f.subject)
            for f in self.families
            if not f.revoked
            and (not request.subject or f.subject == request.subject)
            and (not request.client_id or f.client_id == request.client_id)
        ]
        chunk, page = _page(
            items, request.page.page_token, request.page.page_size, lambda g: g.family_id
        )
        return token_pb2.ListGrantsResponse(grants=chunk, page=page)

    async def revoke_grants(self, request: token_pb2.RevokeGrantsRequest) -> int:
        selector = request.family_id or request.subject or request.client_id
        await self._enter(f"RevokeGrants {selector}")
        self.revocations.append(request)
        revoked = 0
        for family in self.families:
            if family.revoked:
                continue
            if selector in (family.family_id, family.subject, family.client_id):
                family.revoked = True
                revoked += 1
        if request.family_id and not revoked:
            raise NotFound(f"Grant {request.family_id!r} not found")
        return revoked

    async def list_signing_keys(self) -> list[token_pb2.SigningKey]:
        await self._enter("ListSigningKeys")
        return list(self.keys)

    async def rotate_signing_key(
        self, request: token_pb2.RotateSigningKeyRequest
    ) -> token_pb2.SigningKey:
        await self._enter(f"RotateSigningKey {request.alg}")
        for key in self.keys:
            if key.status == "active":
                key.status = "previous"
        key = token_pb2.SigningKey(
            kid=f"k{len(self.keys) + 1}", alg=request.alg or "ES256", status="active"
        )
        self.keys.append(key)
        return key

    async def retire_signing_key(
        self, request: token_pb2.RetireSigningKeyRequest
    ) -> token_pb2.SigningKey:
        await self._enter(f"RetireSigningKey {request.kid}")
        for key in self.keys:
            if key.kid == request.kid:
                if key.status == "active":
                    raise InvalidRequest("The active signing key cannot be retired; rotate first")
                key.status = "retired"
                return key
        raise NotFound(f"Signing key {request.kid!r} not found")

    async def token_stats(self) -> token_pb2.TokenStats:
        await self._enter("GetTokenStats")
        return self.stats


class MemoryAuditStore:
    def __init__(self) -> None:
        self.records: list[AuditRecord] = []
        self.failure: OAuthError | None = None

    async def append(self, record: AuditRecord) -> None:
        await asyncio.sleep(0)
        if self.failure is not None:
            raise self.failure
        if any(r.event_id == record.event_id for r in self.records):
            raise Conflict(f"Audit event {record.event_id!r} already recorded")
        self.records.append(record)

    async def list(
        self, query: AuditFilter, *, after: AuditCursor | None, limit: int
    ) -> list[AuditRecord]:
        def keep(r: AuditRecord) -> bool:
            return (
                (not query.action or r.action == query.action)
                and (not query.actor_id or r.actor_id == query.actor_id)
                and (not query.target or r.target == query.target)
                and (not query.outcome or r.outcome == query.outcome)
                and (query.since is None or r.time >= query.since)
                and (query.until is None or r.time < query.until)
                and (after is None or (r.time, r.event_id) < (after.time, after.event_id))
            )

        found = sorted(filter(keep, self.records), key=lambda r: (r.time, r.event_id), reverse=True)
        return found[:limit]

    def actions(self) -> builtins.list[tuple[str, str, str]]:
        return [(r.action, r.target, r.outcome) for r in self.records]


class MemoryStateStore:
    def __init__(self) -> None:
        self.values: dict[str, StateEntry] = {}

    async def get(self, key: str) -> StateEntry | None:
        await asyncio.sleep(0)
        return self.values.get(key)

    async def insert(self, key: str, value: str, *, now: datetime) -> bool:
        await asyncio.sleep(0)
        if key in self.values:
            return False
        self.values[key] = StateEntry(value, now)
        return True

    async def replace(self, key: str, *, expected: str, value: str, now: datetime) -> bool:
        await asyncio.sleep(0)
        current = self.values.get(key)
        if current is None or current.value != expected:
            return False
        self.values[key] = StateEntry(value, now)
        return True

    async def delete(self, key: str, *, expected: str) -> bool:
        await asyncio.sleep(0)
        current = self.values.get(key)
        if current is None or current.value != expected:
            return False
        del self.values[key]
        return True


# --- the same fakes behind real gRPC servicers, for the servicer test --------


class FakeClientsServicer(clients_pb2_grpc.ClientsServiceServicer):
    def __init__(self, fake: FakeClientRegistry) -> None:
        self.fake = fake

    async def CreateClient(self, request, context):  # type: ignore[no-untyped-def]
        return await self.fake.create_client(request)

    async def GetClient(self, request, context):  # type: ignore[no-untyped-def]
        return await self.fake.get_client(request.client_id)

    async def ListClients(self, request, context):  # type: ignore[no-untyped-def]
        return await self.fake.list_clients(request)

    async def DeleteClient(self, request, context):  # type: ignore[no-untyped-def]
        await self.fake.delete_client(request.client_id, request.actor)
        return empty_pb2.Empty()

    async def DeleteRegistration(self, request, context):  # type: ignore[no-untyped-def]
        await self.fake.delete_registration(request)
        return empty_pb2.Empty()


class FakeAuthorizeServicer(authorize_pb2_grpc.AuthorizeServiceServicer):
    def __init__(self, fake: FakeUserDirectory) -> None:
        self.fake = fake

    async def ListUsers(self, request, context):  # type: ignore[no-untyped-def]
        return await self.fake.list_users(request)

    async def UpdateUser(self, request, context):  # type: ignore[no-untyped-def]
        return await self.fake.update_user(request)

    async def ListConsents(self, request, context):  # type: ignore[no-untyped-def]
        return await self.fake.list_consents(
            user_id=request.user_id, client_id=request.client_id, page=request.page
        )

    async def RevokeConsents(self, request, context):  # type: ignore[no-untyped-def]
        revoked = await self.fake.revoke_consents(
            user_id=request.user_id, client_id=request.client_id, actor=request.actor
        )
        return authorize_pb2.RevokeConsentsResponse(consents_revoked=revoked)


class FakeTokenServicer(token_pb2_grpc.TokenServiceServicer):
    def __init__(self, fake: FakeTokenAuthority) -> None:
        self.fake = fake

    async def ListGrants(self, request, context):  # type: ignore[no-untyped-def]
        return await self.fake.list_grants(request)

    async def RevokeGrants(self, request, context):  # type: ignore[no-untyped-def]
        return token_pb2.RevokeGrantsResponse(
            families_revoked=await self.fake.revoke_grants(request)
        )

    async def RetireSigningKey(self, request, context):  # type: ignore[no-untyped-def]
        return await self.fake.retire_signing_key(request)

    async def GetTokenStats(self, request, context):  # type: ignore[no-untyped-def]
        return await self.fake.token_stats()
