"""ClientRegistration (RFC 7591, RFC 7592) on in-memory stores and a settable clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from common.errors import (
    AccessDenied,
    InvalidClientMetadata,
    InvalidRedirectUri,
    InvalidRequest,
    InvalidToken,
)
from common.secrets import sha256_hex
from services.clients.domain import ClientMetadata, ClientRegistration, ClientRegistry
from services.clients.domain.registration import RegistrationMode
from services.clients.domain.registration_policy import RegistrationPolicy
from services.clients.tests.fakes import (
    MemoryClientStore,
    MemoryInitialAccessTokenStore,
    RecordingAuditReporter,
)

T0 = datetime(2025, 5, 1, 9, 0, tzinfo=UTC)
WEB = ClientMetadata(
    client_name="Web app",
    redirect_uris=("https://app.example.com/cb",),
    scope="openid profile",
)
NATIVE = ClientMetadata(
    redirect_uris=("http://127.0.0.1:51004/cb", "com.example.app:/cb"),
    token_endpoint_auth_method="none",
    grant_types=("authorization_code",),
)
BACKEND = ClientMetadata(grant_types=("client_credentials",), scope="openid")
POLICY = RegistrationPolicy.of(
    grant_types=["authorization_code", "refresh_token", "client_credentials"],
    scopes=["openid", "profile", "email", "offline_access"],
    auth_methods=["client_secret_basic", "client_secret_post", "none"],
)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class Setup:
    def __init__(self, mode: RegistrationMode) -> None:
        self.clock = Clock()
        self.clients = MemoryClientStore()
        self.tokens = MemoryInitialAccessTokenStore()
        self.audit = RecordingAuditReporter()
        self.registry = ClientRegistry(self.clients, clock=self.clock)
        self.registration = ClientRegistration(
            self.registry,
            self.tokens,
            POLICY,
            mode=mode,
            initial_access_token_ttl=timedelta(hours=1),
            audit=self.audit,
            clock=self.clock,
        )


@pytest.fixture
def open_mode() -> Setup:
    return Setup("open")


@pytest.fixture
def token_mode() -> Setup:
    return Setup("token")


async def test_open_registration_of_a_confidential_web_client(open_mode: Setup) -> None:
    registered = await open_mode.registration.register(WEB, remote_addr="203.0.113.9")
    client = registered.client
    assert client.dynamically_registered and client.client_name == "Web app"
    assert client.grant_types == ("authorization_code", "refresh_token")
    assert client.token_endpoint_auth_method == "client_secret_basic"
    assert client.require_pkce and client.scope == "openid profile"
    assert len(registered.client_secret) >= 43 and len(registered.registration_access_token) >= 43
    # Only hashes are stored.
    stored = open_mode.clients.clients[client.client_id]
    assert stored.registration_access_token_hash == sha256_hex(registered.registration_access_token)
    assert registered.registration_access_token not in repr(stored)
    # The client can authenticate with what it got.
    await open_mode.registry.authenticate(
        client.client_id, registered.client_secret, "client_secret_basic"
    )
    [event] = open_mode.audit.events
    assert (event.action, event.target, event.actor, event.remote_addr) == (
        "client.registered",
        f"client:{client.client_id}",
        f"client:{client.client_id}",
        "203.0.113.9",
    )
    assert event.details["registration_mode"] == "open"
    assert registered.client_secret not in str(event.details)


async def test_native_public_client_has_no_secret(open_mode: Setup) -> None:
    registered = await open_mode.registration.register(NATIVE)
    assert registered.client_secret == "" and registered.client.client_secret_hash is None
    assert registered.client.redirect_uris == NATIVE.redirect_uris


async def test_policy_errors_come_before_any_write(open_mode: Setup) -> None:
    with pytest.raises(InvalidRedirectUri):
        await open_mode.registration.register(
            ClientMetadata(redirect_uris=("http://app.example.com/cb",))
        )
    with pytest.raises(InvalidClientMetadata, match="'scope'"):
        await open_mode.registration.register(ClientMetadata(scope="admin"))
    assert open_mode.clients.clients == {} and open_mode.audit.events == []


async def test_closed_mode_refuses() -> None:
    closed = Setup("closed")
    with pytest.raises(AccessDenied, match="Dynamic registration is disabled"):
        await closed.registration.register(BACKEND)
    with pytest.raises(AccessDenied):
        await closed.registration.register(BACKEND, initial_access_token="anything")


async def test_token_mode_needs_an_initial_access_token(token_mode: Setup) -> None:
    registration = token_mode.registration
    with pytest.raises(InvalidToken, match="required"):
        await registration.register(BACKEND)
    with pytest.raises(InvalidToken, match="invalid, expired or used up"):
        await registration.register(BACKEND, initial_access_token="never-issued")
    plain, token = await registration.create_initial_access_token()
    assert token.expires_at == T0 + timedelta(hours=1) and token.max_uses == 1
    assert token.token_hash == sha256_hex(plain) and plain not in repr(token)
    registered = await registration.register(BACKEND, initial_access_token=plain)
    assert registered.client.grant_types == ("client_credentials",)
    # Single use by default.
    with pytest.raises(InvalidToken):
        await registration.register(BACKEND, initial_access_token=plain)
    assert len(token_mode.clients.clients) == 1


async def test_invalid_metadata_does_not_spend_a_use(token_mode: Setup) -> None:
    plain, _ = await token_mode.registration.create_initial_access_token()
    with pytest.raises(InvalidRedirectUri):
        await token_mode.registration.register(
            ClientMetadata(redirect_uris=("myapp:/cb",)), initial_access_token=plain
        )
    await token_mode.registration.register(BACKEND, initial_access_token=plain)


async def test_initial_access_token_max_uses_and_expiry(token_mode: Setup) -> None:
    registration = token_mode.registration
    plain, token = await registration.create_initial_access_token(expires_in=600, max_uses=2)
    assert token.expires_at == T0 + timedelta(seconds=600)
    await registration.register(BACKEND, initial_access_token=plain)
    await registration.register(BACKEND, initial_access_token=plain)
    with pytest.raises(InvalidToken):
        await registration.register(BACKEND, initial_access_token=plain)

    later, _ = await registration.create_initial_access_token(expires_in=60, max_uses=5)
    token_mode.clock.now = T0 + timedelta(seconds=59)
    await registration.register(BACKEND, initial_access_token=later)
    token_mode.clock.now = T0 + timedelta(seconds=60)
    with pytest.raises(InvalidToken):
        await registration.register(BACKEND, initial_access_token=later)
    # Expired tokens are swept when new ones are made.
    await registration.create_initial_access_token()
    assert sha256_hex(later) not in token_mode.tokens.tokens


@pytest.mark.parametrize(
    ("expires_in", "max_uses"), [(-1, 0), (365 * 86_400 + 1, 0), (0, -1), (0, 100_001)]
)
async def test_initial_access_token_bounds(
    token_mode: Setup, expires_in: int, max_uses: int
) -> None:
    with pytest.raises(InvalidRequest):
        await token_mode.registration.create_initial_access_token(
            expires_in=expires_in, max_uses=max_uses
        )


async def test_open_mode_ignores_a_presented_token(open_mode: Setup) -> None:
    await open_mode.registration.register(BACKEND, initial_access_token="whatever")


async def test_registration_access_token_is_required(open_mode: Setup) -> None:
    registration = open_mode.registration
    registered = await registration.register(WEB)
    client_id, token = registered.client.client_id, registered.registration_access_token
    got = await registration.get(client_id, token)
    assert got.client == registered.client
    assert got.client_secret == "" and got.registration_access_token == token
    other = await registration.register(BACKEND)
    for cid, presented in [
        (client_id, ""),
        (client_id, "wrong"),
        (client_id, token + "x"),
        (client_id, other.registration_access_token),  # another client's token
        ("unknown", token),
        ("", token),
    ]:
        with pytest.raises(InvalidToken, match="registration access token is invalid"):
            await registration.get(cid, presented)
        with pytest.raises(InvalidToken):
            await registration.update(cid, presented, WEB)
        with pytest.raises(InvalidToken):
            await registration.delete(cid, presented)
    assert client_id in open_mode.clients.clients


async def test_admin_created_clients_have_no_registration_access(open_mode: Setup) -> None:
    client, _ = await open_mode.registry.create(BACKEND, client_id="by-admin")
    assert not client.dynamically_registered
    with pytest.raises(InvalidToken):
        await open_mode.registration.get("by-admin", "")
    with pytest.raises(InvalidToken):
        await open_mode.registration.get("by-admin", "anything")


async def test_update_replaces_the_whole_metadata(open_mode: Setup) -> None:
    registration = open_mode.registration
    registered = await registration.register(
        ClientMetadata(
            client_name="Before",
            redirect_uris=("https://app.example.com/cb",),
            scope="openid email",
            contacts=("ops@example.com",),
            client_uri="https://app.example.com/",
        )
    )
    client_id, token = registered.client.client_id, registered.registration_access_token
    open_mode.clock.now = T0 + timedelta(minutes=5)
    updated = await registration.update(
        client_id,
        token,
        ClientMetadata(redirect_uris=("https://app.example.com/new",), client_name="After"),
    )
    client = updated.client
    # Fields left out are gone or back to their defaults (RFC 7592 section 2.2).
    assert client.client_name == "After" and client.redirect_uris == (
        "https://app.example.com/new",
    )
    assert client.contacts == () and client.client_uri == ""
    assert client.scope == "openid profile email offline_access"
    assert client.revision == 2 and client.updated_at == T0 + timedelta(minutes=5)
    assert client.created_at == T0 and client.dynamically_registered
    # The secret and the registration access token stay.
    assert updated.client_secret == "" and updated.registration_access_token == token
    await open_mode.registry.authenticate(
        client_id, registered.client_secret, "client_secret_basic"
    )
    assert [e.action for e in open_mode.audit.events] == ["client.registered", "client.updated"]
    # The policy applies to updates too.
    with pytest.raises(InvalidClientMetadata, match="'scope'"):
        await registration.update(client_id, token, ClientMetadata(scope="admin"))
    with pytest.raises(InvalidRedirectUri):
        await registration.update(
            client_id, token, ClientMetadata(redirect_uris=("http://app.example.com/cb",))
        )


async def test_update_keeps_what_an_operator_set(open_mode: Setup) -> None:
    """The token exchange grant and its audiences are an operator's (admin API): the
    client's RFC 7592 replacement of its metadata neither drops nor widens them."""
    exchange = "urn:ietf:params:oauth:grant-type:token-exchange"
    registered = await open_mode.registration.register(BACKEND)
    client_id, token = registered.client.client_id, registered.registration_access_token
    await open_mode.registry.update(
        client_id,
        ClientMetadata(
            grant_types=("client_credentials", exchange), token_exchange_audiences=("billing",)
        ),
        ["grant_types", "token_exchange_audiences"],
    )
    read = (await open_mode.registration.get(client_id, token)).client
    assert read.grant_types == ("client_credentials", exchange)
    # Echoed back as read, or left out: both keep the operator's grant and audiences.
    for grant_types in (read.grant_types, ("client_credentials",)):
        updated = await open_mode.registration.update(
            client_id,
            token,
            ClientMetadata(
                grant_types=grant_types,
                scope="openid",
                backchannel_logout_uri="https://svc.example.com/bcl",
            ),
        )
        assert updated.client.grant_types == ("client_credentials", exchange)
        assert updated.client.token_exchange_audiences == ("billing",)
        assert updated.client.backchannel_logout_uri == "https://svc.example.com/bcl"
    with pytest.raises(InvalidClientMetadata, match="set by operators only"):
        await open_mode.registration.update(
            client_id,
            token,
            ClientMetadata(grant_types=("client_credentials",), token_exchange_audiences=("x",)),
        )


async def test_update_may_echo_the_secret_but_not_choose_one(open_mode: Setup) -> None:
    registered = await open_mode.registration.register(BACKEND)
    client_id, token = registered.client.client_id, registered.registration_access_token
    await open_mode.registration.update(
        client_id, token, BACKEND, client_secret=registered.client_secret
    )
    with pytest.raises(InvalidClientMetadata, match="'client_secret'"):
        await open_mode.registration.update(client_id, token, BACKEND, client_secret="chosen")


async def test_update_between_public_and_confidential(open_mode: Setup) -> None:
    registered = await open_mode.registration.register(NATIVE)
    client_id, token = registered.client.client_id, registered.registration_access_token
    confidential = await open_mode.registration.update(
        client_id, token, NATIVE.__class__(redirect_uris=NATIVE.redirect_uris)
    )
    # It becomes confidential: a new secret, shown in this answer only.
    assert confidential.client.token_endpoint_auth_method == "client_secret_basic"
    assert confidential.client_secret
    await open_mode.registry.authenticate(
        client_id, confidential.client_secret, "client_secret_basic"
    )
    public = await open_mode.registration.update(client_id, token, NATIVE)
    assert public.client.client_secret_hash is None and public.client_secret == ""


async def test_delete(open_mode: Setup) -> None:
    registered = await open_mode.registration.register(WEB, remote_addr="198.51.100.7")
    client_id, token = registered.client.client_id, registered.registration_access_token
    await open_mode.registration.delete(client_id, token)
    assert client_id not in open_mode.clients.clients
    # Section 2.1: a deleted client's token answers invalid_token.
    with pytest.raises(InvalidToken):
        await open_mode.registration.get(client_id, token)
    with pytest.raises(InvalidToken):
        await open_mode.registration.delete(client_id, token)
    # The admin service's cascade, which calls this, audits the deletion.
    assert [e.action for e in open_mode.audit.events] == ["client.registered"]
