"""An in-memory AdminService for the gateway's admin API tests and oauth2ctl's:
clients, users, grants, keys and an audit trail, with the contract's errors
(NotFound, Conflict, InvalidRequest) and cursor paging.

``fail[method] = SomeOAuthError(...)`` makes the next calls of that method fail.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import grpc
from google.protobuf import empty_pb2
from google.protobuf.timestamp_pb2 import Timestamp
from oauth2.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    authorize_pb2,
    clients_pb2,
    common_pb2,
    token_pb2,
    token_pb2_grpc,
)

from common.errors import Conflict, InvalidClient, InvalidRequest, NotFound, OAuthError
from common.grpc_server import ErrorInterceptor
from gateway.tests import fakes

GRANT_USER = "u-granted"
FAMILIES = ("fam-1", "fam-2", "fam-3")
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def _now() -> Timestamp:
    ts = Timestamp()
    ts.FromSeconds(1_700_000_000)
    return ts


def _page(items: list[Any], page: common_pb2.PageRequest) -> tuple[list[Any], str]:
    if page.page_size < 0:
        raise InvalidRequest("'page_size' must not be negative")
    size = page.page_size or 50
    try:
        start = int(page.page_token or "0")
    except ValueError:
        raise InvalidRequest("Invalid 'page_token'") from None
    chunk = items[start : start + size]
    more = start + size < len(items)
    return chunk, str(start + size) if more else ""


class FakeAdminService(admin_pb2_grpc.AdminServiceServicer):
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.requests: list[tuple[str, Any]] = []
        self.fail: dict[str, OAuthError] = {}
        self.clients: dict[str, clients_pb2.Client] = {}
        self.users: dict[str, authorize_pb2.User] = {}
        self.passwords: dict[str, str] = {}
        self.families = {
            family: token_pb2.Grant(
                family_id=family,
                client_id=fakes.CLIENT_ID,
                subject=GRANT_USER,
                scope="openid offline_access",
                created_at=_now(),
            )
            for family in FAMILIES
        }
        self.keys = [
            token_pb2.SigningKey(kid="k-es", alg="ES256", status="active", created_at=_now()),
            token_pb2.SigningKey(kid="k-rs", alg="RS256", status="active", created_at=_now()),
        ]
        self.events: list[admin_pb2.AuditEvent] = []
        self.bootstrapped = False
        self._ids = itertools.count(1)

    # --- plumbing ------------------------------------------------------------------

    def _enter(self, method: str, request: Any) -> None:
        self.requests.append((method, request))
        if method in self.fail:
            raise self.fail[method]

    def methods(self) -> list[str]:
        return [method for method, _ in self.requests]

    def _audit(self, action: str, actor: common_pb2.Actor, target: str) -> None:
        self.events.append(
            admin_pb2.AuditEvent(
                event_id=f"ev-{len(self.events) + 1}",
                action=action,
                actor=actor,
                target=target,
                outcome="success",
                time=_now(),
                trace_id=TRACE_ID,
                source="oauth2-admin",
                details={"via": "fake"},
            )
        )

    def _client(self, client_id: str) -> clients_pb2.Client:
        if client_id not in self.clients:
            raise NotFound("No such client")
        return self.clients[client_id]

    def _user(self, user_id: str) -> authorize_pb2.User:
        if user_id not in self.users:
            raise NotFound("No such user")
        return self.users[user_id]

    def _new_client(
        self, request: clients_pb2.CreateClientRequest, *, scope: str = ""
    ) -> clients_pb2.CreateClientResponse:
        client_id = request.client_id or f"c-{next(self._ids)}"
        if client_id in self.clients:
            raise Conflict(f"Client '{client_id}' already exists")
        m = request.metadata
        if any(uri.startswith("http://bad") for uri in m.redirect_uris):
            raise InvalidRequest("redirect_uri must use https")
        method = m.token_endpoint_auth_method or "client_secret_basic"
        client = clients_pb2.Client(
            client_id=client_id,
            client_name=m.client_name,
            redirect_uris=m.redirect_uris,
            grant_types=m.grant_types or ["authorization_code"],
            response_types=m.response_types,
            scope=m.scope or scope,
            token_endpoint_auth_method=method,
            require_pkce=m.require_pkce if m.HasField("require_pkce") else True,
            post_logout_redirect_uris=m.post_logout_redirect_uris,
            always_issue_refresh_token=m.always_issue_refresh_token,
            contacts=m.contacts,
            created_at=_now(),
            updated_at=_now(),
            revision=1,
        )
        self.clients[client_id] = client
        secret = "" if method == "none" else (request.client_secret or f"secret-{client_id}")
        return clients_pb2.CreateClientResponse(client=client, client_secret=secret)

    # --- clients ---------------------------------------------------------------------

    async def CreateClient(self, request: Any, context: Any) -> Any:
        self._enter("CreateClient", request)
        created = self._new_client(request)
        self._audit("client.created", request.actor, f"client:{created.client.client_id}")
        return created

    async def GetClient(self, request: Any, context: Any) -> Any:
        self._enter("GetClient", request)
        return self._client(request.client_id)

    async def ListClients(self, request: Any, context: Any) -> Any:
        self._enter("ListClients", request)
        search = request.search.lower()
        found = [
            c
            for _, c in sorted(self.clients.items())
            if search in c.client_id.lower() or search in c.client_name.lower()
        ]
        chunk, token = _page(found, request.page)
        return clients_pb2.ListClientsResponse(
            clients=chunk, page=common_pb2.PageResponse(next_page_token=token)
        )

    async def UpdateClient(self, request: Any, context: Any) -> Any:
        self._enter("UpdateClient", request)
        client = self._client(request.client_id)
        for path in request.update_mask:
            value = getattr(request.metadata, path)
            if isinstance(value, str | bool):
                setattr(client, path, value)
            else:
                del getattr(client, path)[:]
                getattr(client, path).extend(value)
        client.revision += 1
        self._audit("client.updated", request.actor, f"client:{client.client_id}")
        return client

    async def DeleteClient(self, request: Any, context: Any) -> Any:
        self._enter("DeleteClient", request)
        self._client(request.client_id)
        del self.clients[request.client_id]
        self._audit("client.deleted", request.actor, f"client:{request.client_id}")
        return empty_pb2.Empty()

    async def RotateClientSecret(self, request: Any, context: Any) -> Any:
        self._enter("RotateClientSecret", request)
        client = self._client(request.client_id)
        self._audit("client.secret_rotated", request.actor, f"client:{client.client_id}")
        return clients_pb2.RotateClientSecretResponse(
            client=client, client_secret=f"rotated-{next(self._ids)}"
        )

    # --- users -------------------------------------------------------------------------

    async def CreateUser(self, request: Any, context: Any) -> Any:
        self._enter("CreateUser", request)
        if any(u.username == request.username.lower() for u in self.users.values()):
            raise Conflict("The username is taken")
        if len(request.password) < 8:
            raise InvalidRequest("The password must have at least 8 characters")
        user_id = f"00000000-0000-4000-8000-{next(self._ids):012d}"
        user = authorize_pb2.User(
            user_id=user_id,
            username=request.username.lower(),
            email=request.email,
            given_name=request.given_name,
            family_name=request.family_name,
            enabled=True,
            created_at=_now(),
        )
        self.users[user_id] = user
        self.passwords[user_id] = request.password
        self._audit("user.created", request.actor, f"user:{user_id}")
        return user

    async def GetUser(self, request: Any, context: Any) -> Any:
        self._enter("GetUser", request)
        if request.username:
            for user in self.users.values():
                if user.username == request.username.lower():
                    return user
            raise NotFound("No such user")
        return self._user(request.user_id)

    async def ListUsers(self, request: Any, context: Any) -> Any:
        self._enter("ListUsers", request)
        search = request.search.lower()
        found = [
            u
            for u in sorted(self.users.values(), key=lambda u: u.username)
            if search in u.username or search in u.email.lower()
        ]
        chunk, token = _page(found, request.page)
        return authorize_pb2.ListUsersResponse(
            users=chunk, page=common_pb2.PageResponse(next_page_token=token)
        )

    async def UpdateUser(self, request: Any, context: Any) -> Any:
        self._enter("UpdateUser", request)
        user = self._user(request.user_id)
        for path in request.update_mask:
            setattr(user, path, getattr(request.user, path))
        action = "user.updated"
        if "enabled" in request.update_mask:
            action = "user.enabled" if user.enabled else "user.disabled"
        self._audit(action, request.actor, f"user:{user.user_id}")
        return user

    async def SetPassword(self, request: Any, context: Any) -> Any:
        self._enter("SetPassword", request)
        self._user(request.user_id)
        self.passwords[request.user_id] = request.password
        self._audit("user.password_set", request.actor, f"user:{request.user_id}")
        return empty_pb2.Empty()

    async def DeleteUser(self, request: Any, context: Any) -> Any:
        self._enter("DeleteUser", request)
        self._user(request.user_id)
        del self.users[request.user_id]
        self._audit("user.deleted", request.actor, f"user:{request.user_id}")
        return empty_pb2.Empty()

    # --- grants -------------------------------------------------------------------------

    async def ListGrants(self, request: Any, context: Any) -> Any:
        self._enter("ListGrants", request)
        families = [
            f
            for f in self.families.values()
            if (not request.subject or f.subject == request.subject)
            and (not request.client_id or f.client_id == request.client_id)
        ]
        chunk, token = _page(families, request.page)
        consents = []
        if families:
            consents.append(
                authorize_pb2.Consent(
                    client_id=fakes.CLIENT_ID,
                    user_id=GRANT_USER,
                    scopes=["openid", "offline_access"],
                    granted_at=_now(),
                )
            )
        return admin_pb2.AdminGrants(
            consents=consents,
            families=chunk,
            page=common_pb2.PageResponse(next_page_token=token),
        )

    async def RevokeGrants(self, request: Any, context: Any) -> Any:
        self._enter("RevokeGrants", request)
        if request.family_id:
            if request.family_id not in self.families:
                raise NotFound("No such grant")
            del self.families[request.family_id]
            self._audit("grant.revoked", request.actor, f"grant:{request.family_id}")
            return token_pb2.RevokeGrantsResponse(families_revoked=1)
        chosen = [
            family_id
            for family_id, f in self.families.items()
            if f.subject == request.subject or f.client_id == request.client_id
        ]
        for family_id in chosen:
            del self.families[family_id]
            self._audit("grant.revoked", request.actor, f"grant:{family_id}")
        return token_pb2.RevokeGrantsResponse(families_revoked=len(chosen))

    # --- keys, stats, audit, registration, bootstrap -----------------------------------

    async def ListSigningKeys(self, request: Any, context: Any) -> Any:
        self._enter("ListSigningKeys", request)
        return token_pb2.ListSigningKeysResponse(keys=self.keys)

    async def RotateSigningKey(self, request: Any, context: Any) -> Any:
        self._enter("RotateSigningKey", request)
        alg = request.alg or "ES256"
        for key in self.keys:
            if key.alg == alg and key.status == "active":
                key.status = "previous"
        key = token_pb2.SigningKey(
            kid=f"k-{next(self._ids)}", alg=alg, status="active", created_at=_now()
        )
        self.keys.append(key)
        self._audit("key.rotated", request.actor, f"key:{key.kid}")
        return key

    async def RetireSigningKey(self, request: Any, context: Any) -> Any:
        self._enter("RetireSigningKey", request)
        for key in self.keys:
            if key.kid == request.kid:
                key.status = "retired"
                key.retired_at.CopyFrom(_now())
                self._audit("key.retired", request.actor, f"key:{key.kid}")
                return key
        raise NotFound("No such key")

    async def GetStats(self, request: Any, context: Any) -> Any:
        self._enter("GetStats", request)
        return admin_pb2.Stats(
            clients=len(self.clients),
            users=len(self.users),
            active_grants=len(self.families),
            tokens_issued_by_grant_type={"client_credentials": 3},
            since=_now(),
        )

    async def RecordEvent(self, request: Any, context: Any) -> Any:
        self._enter("RecordEvent", request)
        self.events.append(request)
        return empty_pb2.Empty()

    async def ListEvents(self, request: Any, context: Any) -> Any:
        self._enter("ListEvents", request)
        found = [
            e
            for e in reversed(self.events)
            if (not request.action or e.action == request.action)
            and (not request.actor_id or e.actor.id == request.actor_id)
            and (not request.target or e.target == request.target)
            and (not request.outcome or e.outcome == request.outcome)
        ]
        chunk, token = _page(found, request.page)
        return admin_pb2.ListEventsResponse(
            events=chunk, page=common_pb2.PageResponse(next_page_token=token)
        )

    async def CreateInitialAccessToken(self, request: Any, context: Any) -> Any:
        self._enter("CreateInitialAccessToken", request)
        expires = Timestamp()
        expires.FromSeconds(int(time.time()) + (request.expires_in or 86400))
        return clients_pb2.CreateInitialAccessTokenResponse(
            initial_access_token=f"iat-{next(self._ids)}", expires_at=expires
        )

    async def Bootstrap(self, request: Any, context: Any) -> Any:
        self._enter("Bootstrap", request)
        if self.bootstrapped:
            raise Conflict("The system is already bootstrapped")
        self.bootstrapped = True
        created = self._new_client(
            clients_pb2.CreateClientRequest(
                metadata=clients_pb2.ClientMetadata(
                    client_name=request.client_name or "oauth2ctl",
                    grant_types=["client_credentials"],
                    scope="admin",
                ),
                client_id="admin-cli",
                client_secret="bootstrap-secret",
            )
        )
        self._audit("admin.bootstrapped", request.actor, "client:admin-cli")
        return created


# --- a server on its own thread (for synchronous callers such as oauth2ctl's tests) ---


class AdminTokenService(token_pb2_grpc.TokenServiceServicer):
    """Just enough TokenService for oauth2ctl: client_credentials for the admin client
    answers ``ADMIN_TOKEN``; VerifyAccessToken as in ``fakes``."""

    def __init__(self) -> None:
        self.exchanges: list[token_pb2.TokenRequest] = []

    async def Exchange(self, request: Any, context: Any) -> Any:
        self.exchanges.append(request)
        credentials = request.credentials
        if (credentials.client_id, credentials.client_secret) != (
            fakes.ADMIN_CLIENT_ID,
            fakes.ADMIN_CLIENT_SECRET,
        ):
            raise InvalidClient("Client authentication failed")
        return token_pb2.TokenResponse(
            access_token=fakes.ADMIN_TOKEN, token_type="Bearer", expires_in=300, scope="admin"
        )

    async def VerifyAccessToken(self, request: Any, context: Any) -> Any:
        return fakes.verify_access_token(request)


@contextmanager
def threaded_server(*servicers: Any) -> Iterator[int]:
    """A grpc.aio server with these servicers on a thread with its own event loop;
    yields its port."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: dict[str, Any] = {}

    async def start() -> None:
        server = grpc.aio.server(interceptors=[ErrorInterceptor()])
        for servicer in servicers:
            if isinstance(servicer, admin_pb2_grpc.AdminServiceServicer):
                admin_pb2_grpc.add_AdminServiceServicer_to_server(servicer, server)
            elif isinstance(servicer, token_pb2_grpc.TokenServiceServicer):
                token_pb2_grpc.add_TokenServiceServicer_to_server(servicer, server)
        holder["port"] = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        holder["server"] = server

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    started.wait(10)
    try:
        yield int(holder["port"])
    finally:
        asyncio.run_coroutine_threadsafe(holder["server"].stop(0), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
