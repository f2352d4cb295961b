"""AuthorizeService through real gRPC (SQLite, in-process KeyValue, a fake
client registry): the sign-in sequence the gateway and the token service make,
and errors arriving as the right common.errors classes with their descriptions."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import grpc
import pytest
from oauth2.v1 import authorize_pb2, authorize_pb2_grpc, common_pb2

from common.db import create_engine
from common.errors import (
    AccessDenied,
    Conflict,
    InvalidGrant,
    InvalidRequest,
    NotFound,
    SlowDown,
)
from common.grpc_client import ServiceClient
from common.grpc_server import ErrorInterceptor
from common.kv import MemoryKeyValue
from common.migrations import upgrade
from common.services import AuthorizeClient
from services.authorize.app import MIGRATIONS_DIR, SERVICE_NAME, build_domain, servicer_adder
from services.authorize.servicer import AuthorizeServicer
from services.authorize.settings import AuthorizeSettings
from services.authorize.tests.conftest import CHEAP_ARGON2
from services.authorize.tests.fakes import FakeClientDirectory, make_client_info

Client = AuthorizeClient
CB = "https://app.example.com/cb"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
async def authorize(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Client]:
    data_dir: Path = tmp_path_factory.mktemp("authorize")
    settings = AuthorizeSettings(data_dir=data_dir, database_url=None, **CHEAP_ARGON2)
    await asyncio.to_thread(upgrade, settings, MIGRATIONS_DIR)
    engine = create_engine(settings)
    clients = FakeClientDirectory(
        make_client_info("web"), make_client_info("spa", token_endpoint_auth_method="none")
    )
    server = grpc.aio.server(interceptors=[ErrorInterceptor()])
    domain = build_domain(settings, engine, MemoryKeyValue(), clients)
    servicer_adder(AuthorizeServicer(domain))(server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    client: Client = ServiceClient(
        authorize_pb2_grpc.AuthorizeServiceStub, f"127.0.0.1:{port}", SERVICE_NAME, deadline=5
    )
    yield client
    await client.close()
    await server.stop(None)
    await engine.dispose()


async def create_user(authorize: Client, username: str, **fields: Any) -> authorize_pb2.User:
    request = authorize_pb2.CreateUserRequest(username=username, password=PASSWORD, **fields)
    return await authorize.call.CreateUser(request)


def query(**params: str) -> list[authorize_pb2.QueryParameter]:
    return [authorize_pb2.QueryParameter(name=k, value=v) for k, v in params.items()]


async def sign_in(authorize: Client, username: str, password: str) -> str:
    """A whole first sign-in through the three interaction calls; returns the code."""
    session = authorize_pb2.BrowserSession(binding=f"browser-{username}")
    started = await authorize.call.StartAuthorization(
        authorize_pb2.StartAuthorizationRequest(
            parameters=query(
                response_type="code",
                client_id="web",
                scope="openid",
                code_challenge=CHALLENGE,
                code_challenge_method="S256",
            ),
            session=session,
        )
    )
    outcome = await authorize.call.CompleteLogin(
        authorize_pb2.CompleteLoginRequest(
            interaction_id=started.interaction_id,
            session=session,
            username=username,
            password=password,
        )
    )
    session.subject = outcome.signed_in.user.user_id
    finished = await authorize.call.CompleteConsent(
        authorize_pb2.CompleteConsentRequest(
            interaction_id=started.interaction_id,
            session=session,
            decision=authorize_pb2.CompleteConsentRequest.APPROVE,
        )
    )
    return parse_qs(urlsplit(finished.response.location).query)["code"][0]


async def test_sign_in_sequence(authorize: Client) -> None:
    user = await create_user(
        authorize, "alice", email="alice@example.com", given_name="Alice", family_name="Doe"
    )
    assert user.user_id and user.enabled and user.name == "Alice Doe"
    assert user.created_at.seconds > 0

    # 1. GET /oauth/authorize: nobody signed in, so the login page.
    session = authorize_pb2.BrowserSession(binding="browser-1")
    started = await authorize.call.StartAuthorization(
        authorize_pb2.StartAuthorizationRequest(
            parameters=query(
                response_type="code",
                client_id="web",
                redirect_uri=CB,
                scope="openid profile email",
                state="s1",
                nonce="n1",
                code_challenge=CHALLENGE,
                code_challenge_method="S256",
                login_hint="alice",
            ),
            session=session,
        )
    )
    assert started.WhichOneof("step") == "login" and len(started.interaction_id) >= 43
    assert started.login.client.client_name == "Web App"
    assert started.login.client.logo_uri == "https://app.example.com/logo.png"
    assert started.login.redirect_uri == CB and started.login.login_hint == "alice"

    # 2. POST /login: the consent page, with the scopes in words. The session
    # carries the sid the gateway gives this sign-in.
    outcome = await authorize.call.CompleteLogin(
        authorize_pb2.CompleteLoginRequest(
            interaction_id=started.interaction_id,
            session=authorize_pb2.BrowserSession(binding="browser-1", sid="sid-of-alice"),
            username="ALICE",
            password=PASSWORD,
            remote_addr="192.0.2.1",
        )
    )
    login = outcome.signed_in
    assert login.user.user_id == user.user_id and list(login.amr) == ["pwd"]
    assert login.auth_time.seconds > 0
    assert outcome.next.interaction_id == started.interaction_id
    assert [(s.scope, s.description) for s in outcome.next.consent.scopes] == [
        ("openid", "Confirm your identity"),
        ("profile", "Your name and username"),
        ("email", "Your email address"),
    ]

    # 3. POST /consent: the code at the redirect URI, with state and iss.
    finished = await authorize.call.CompleteConsent(
        authorize_pb2.CompleteConsentRequest(
            interaction_id=started.interaction_id,
            session=authorize_pb2.BrowserSession(
                binding="browser-1", subject=user.user_id, sid="sid-of-alice"
            ),
            decision=authorize_pb2.CompleteConsentRequest.APPROVE,
        )
    )
    location = finished.response.location
    assert location.startswith(CB + "?code=") and location.endswith(
        "&state=s1&iss=http%3A%2F%2F127.0.0.1%3A8080"
    )
    code = parse_qs(urlsplit(location).query)["code"][0]
    assert len(code) >= 43
    # Single use: the same decision again finds the interaction finished.
    again = await authorize.call.CompleteConsent(
        authorize_pb2.CompleteConsentRequest(
            interaction_id=started.interaction_id,
            session=authorize_pb2.BrowserSession(binding="browser-1", subject=user.user_id),
            decision=authorize_pb2.CompleteConsentRequest.APPROVE,
        )
    )
    assert again.WhichOneof("step") == "expired" and again.expired.client.client_id == "web"

    # 5. token endpoint
    grant = await authorize.call.ConsumeAuthorizationCode(
        authorize_pb2.ConsumeAuthorizationCodeRequest(code=code, client_id="web")
    )
    assert grant.user_id == user.user_id and grant.client_id == "web"
    assert grant.code_challenge == CHALLENGE and grant.code_challenge_method == "S256"
    assert grant.nonce == "n1" and grant.auth_time == login.auth_time
    assert list(grant.amr) == ["pwd"] and len(grant.code_id) == 64
    # The browser session that approved it (Back-Channel Logout 1.0, sid).
    assert grant.sid == "sid-of-alice"
    with pytest.raises(InvalidGrant) as replay:
        await authorize.call.ConsumeAuthorizationCode(
            authorize_pb2.ConsumeAuthorizationCodeRequest(code=code, client_id="web")
        )
    assert replay.value.description == "The authorization code was already used"

    claims = await authorize.call.GetUserClaims(
        authorize_pb2.GetUserClaimsRequest(user_id=user.user_id, scopes=grant.scopes)
    )
    assert claims.sub == user.user_id and claims.enabled
    body = json.loads(claims.claims_json)
    assert body["email"] == "alice@example.com" and body["preferred_username"] == "alice"
    assert body["email_verified"] is False and isinstance(body["updated_at"], int)


async def test_page_errors_and_redirect_errors(authorize: Client) -> None:
    base = {"response_type": "code", "client_id": "web", "redirect_uri": CB}
    session = authorize_pb2.BrowserSession(binding="browser-2")

    async def start(**params: str) -> authorize_pb2.Interaction:
        return await authorize.call.StartAuthorization(
            authorize_pb2.StartAuthorizationRequest(
                parameters=query(**{**base, **params}), session=session
            )
        )

    with pytest.raises(InvalidRequest) as page:
        await start(redirect_uri=CB + "/")
    assert page.value.description == "redirect_uri is not registered for this client"
    with pytest.raises(InvalidRequest, match="Unknown client_id"):
        await start(client_id="nobody")
    redirect = await start(client_id="spa", redirect_uri="", state="s2")
    assert redirect.response.location == (
        f"{CB}?error=invalid_request&error_description=code_challenge+required"
        "&state=s2&iss=http%3A%2F%2F127.0.0.1%3A8080"
    )
    token = await start(response_type="token")
    assert "error=unsupported_response_type&" in token.response.location


async def test_login_failures_and_lockout(authorize: Client) -> None:
    await create_user(authorize, "bob")

    async def login(username: str, password: str) -> authorize_pb2.LoginResponse:
        return await authorize.call.Login(
            authorize_pb2.LoginRequest(
                username=username, password=password, remote_addr="192.0.2.2"
            )
        )

    with pytest.raises(AccessDenied) as unknown:
        await login("nobody", PASSWORD)
    assert unknown.value.description == "Invalid username or password"
    for _ in range(5):
        with pytest.raises(AccessDenied) as wrong:
            await login("bob", "not the password")
        assert wrong.value.description == "Invalid username or password"
    with pytest.raises(SlowDown) as slow:
        await login("bob", PASSWORD)
    assert slow.value.description == ("Too many failed sign-in attempts; try again in 30 seconds")


async def test_user_management(authorize: Client) -> None:
    carol = await create_user(authorize, "carol", email="carol@example.com")
    with pytest.raises(Conflict, match="Username 'Carol' is already taken"):
        await create_user(authorize, "Carol")
    with pytest.raises(InvalidRequest) as short:
        await authorize.call.CreateUser(
            authorize_pb2.CreateUserRequest(username="dan", password="short")
        )
    assert short.value.description == "'password' must be at least 8 characters"
    found = await authorize.call.GetUser(authorize_pb2.GetUserRequest(username="CAROL"))
    assert found.user_id == carol.user_id
    with pytest.raises(NotFound):
        await authorize.call.GetUser(authorize_pb2.GetUserRequest(user_id="missing"))
    listed = await authorize.call.ListUsers(
        authorize_pb2.ListUsersRequest(search="carol", page=common_pb2.PageRequest(page_size=10))
    )
    assert [u.username for u in listed.users] == ["carol"] and listed.page.total_size == 1
    disabled = await authorize.call.UpdateUser(
        authorize_pb2.UpdateUserRequest(
            user_id=carol.user_id,
            user=authorize_pb2.User(enabled=False, email_verified=True),
            update_mask=["enabled", "email_verified"],
        )
    )
    assert not disabled.enabled and disabled.email_verified
    with pytest.raises(AccessDenied):
        await authorize.call.Login(authorize_pb2.LoginRequest(username="carol", password=PASSWORD))
    await authorize.call.UpdateUser(
        authorize_pb2.UpdateUserRequest(
            user_id=carol.user_id, user=authorize_pb2.User(enabled=True), update_mask=["enabled"]
        )
    )
    await authorize.call.SetPassword(
        authorize_pb2.SetPasswordRequest(user_id=carol.user_id, password="a new long password")
    )
    login = await authorize.call.Login(
        authorize_pb2.LoginRequest(username="carol", password="a new long password")
    )
    assert login.user.user_id == carol.user_id
    await sign_in(authorize, "carol", "a new long password")
    consents = await authorize.call.ListConsents(
        authorize_pb2.ListConsentsRequest(user_id=carol.user_id)
    )
    assert [c.client_id for c in consents.consents] == ["web"]
    await authorize.call.RevokeConsent(
        authorize_pb2.RevokeConsentRequest(client_id="web", user_id=carol.user_id)
    )
    await sign_in(authorize, "carol", "a new long password")  # consents again
    revoked = await authorize.call.RevokeConsents(
        authorize_pb2.RevokeConsentsRequest(user_id=carol.user_id)
    )
    assert revoked.consents_revoked == 1
    again = await authorize.call.RevokeConsents(
        authorize_pb2.RevokeConsentsRequest(client_id="web", user_id=carol.user_id)
    )
    assert again.consents_revoked == 0
    await authorize.call.DeleteUser(authorize_pb2.DeleteUserRequest(user_id=carol.user_id))
    with pytest.raises(NotFound):
        await authorize.call.GetUserClaims(
            authorize_pb2.GetUserClaimsRequest(user_id=carol.user_id, scopes=["openid"])
        )
