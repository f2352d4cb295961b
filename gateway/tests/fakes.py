"""What the gateway's tests run against: the real authorize domain on
in-memory stores (:class:`AuthorizeWorld`: one client, one person), and canned
answers of the token and clients services for a few tokens.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from argon2 import PasswordHasher
from oauth2.v1 import token_pb2

from common.errors import InsufficientScope, InvalidRequest, InvalidToken
from common.kv import MemoryKeyValue
from services.admin.tests.fakes import in_process
from services.authorize.domain import (
    Argon2PasswordHasher,
    AuthorizationCodes,
    AuthorizationRequestValidator,
    ConsentRegistry,
    LoginPolicy,
    LoginThrottle,
    PasswordLogin,
    SignIn,
    UserDirectory,
)
from services.authorize.domain.login import lock_key
from services.authorize.domain.model import AuthorizationCode, User
from services.authorize.servicer import AuthorizeDomain
from services.authorize.store.client_directory import GrpcClientDirectory
from services.authorize.tests.fakes import (
    MemoryCodeStore,
    MemoryConsentStore,
    MemoryInteractionStore,
    MemoryUserStore,
)
from services.clients.domain import (
    ClientRegistration,
    ClientRegistry,
    RegistrationPolicy,
    ResourceRegistry,
)
from services.clients.domain.model import ClientMetadata
from services.clients.servicer import ClientsServicer
from services.clients.tests.fakes import (
    MemoryClientStore,
    MemoryInitialAccessTokenStore,
    MemoryResourceStore,
)

CLIENT_ID = "photo-book"
# Markup in the name: the pages must escape it.
CLIENT_NAME = "Photo <Book> & Co"
# A registered query that must survive byte for byte.
REDIRECT_URI = "https://app.example.com/cb?tenant=a%20b"
POST_LOGOUT_URI = "https://app.example.com/bye"

USERNAME = "alice"
PASSWORD = "wonderland"
USER_ID = "u-alice"
LOCKED_USERNAME = "locked"
LOCKOUT_SECONDS = 120
LOCKOUT = f"Too many failed sign-in attempts; try again in {LOCKOUT_SECONDS} seconds"
#: The issuer of the browser tests: the `iss` of the authorization responses.
BROWSER_ISSUER = "http://127.0.0.1:8080"

ID_TOKEN_HINT = "hint-for-photo-book"
GOOD_TOKEN = "good-token"
# An access token of the admin client (client_credentials, scope "admin").
ADMIN_TOKEN = "admin-token"
ADMIN_CLIENT_ID = "admin-cli"
ADMIN_CLIENT_SECRET = "bootstrap-secret"


# A cheap Argon2id hash of PASSWORD: the users are stored, not created, so that
# their ids are known.
_PASSWORD_HASH = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)

USERS_CREATED_AT = datetime(2025, 1, 1, tzinfo=UTC)

PHOTO_BOOK = ClientMetadata(
    client_name=CLIENT_NAME,
    redirect_uris=(REDIRECT_URI,),
    post_logout_redirect_uris=(POST_LOGOUT_URI,),
    grant_types=("authorization_code", "refresh_token"),
    response_types=("code",),
    scope="openid profile email offline_access calendar payments:read",
    token_endpoint_auth_method="client_secret_basic",
    require_pkce=True,
    client_uri="https://app.example.com/",
)


def _user(user_id: str, username: str, *, enabled: bool = True) -> User:
    now = USERS_CREATED_AT
    return User(
        user_id=user_id,
        username=username,
        email=f"{username}@example.com",
        email_verified=True,
        enabled=enabled,
        given_name="Alice",
        family_name="Liddell",
        name="Alice Liddell",
        created_at=now,
        updated_at=now,
        password_hash=_PASSWORD_HASH,
    )


class FailingCodeStore(MemoryCodeStore):
    """Codes in memory; ``failure`` set makes storing one fail like a sick database."""

    failure: Exception | None = None

    async def create(self, code: AuthorizationCode) -> None:
        if self.failure is not None:
            raise self.failure
        await super().create(code)


@dataclass
class AuthorizeWorld:
    """The real authorize and clients domains on in-memory stores, for the
    gateway's tests: one client (PHOTO_BOOK, in the real registry, which the
    authorize service asks through its real adapter), alice, a disabled user, and
    ``locked`` locked out; codes numbered ``code-1``, ``code-2``..."""

    kv: MemoryKeyValue = field(default_factory=MemoryKeyValue)
    users: MemoryUserStore = field(default_factory=MemoryUserStore)
    consents: MemoryConsentStore = field(default_factory=MemoryConsentStore)
    codes: FailingCodeStore = field(default_factory=FailingCodeStore)
    interactions: MemoryInteractionStore = field(default_factory=MemoryInteractionStore)
    client_store: MemoryClientStore = field(default_factory=MemoryClientStore)

    def __post_init__(self) -> None:
        self.registry = ClientRegistry(self.client_store)
        self.registration = ClientRegistration(
            self.registry,
            MemoryInitialAccessTokenStore(),
            RegistrationPolicy.of(
                grant_types=("authorization_code",), scopes=("openid",), auth_methods=("none",)
            ),
            mode="open",
        )
        self.resources = ResourceRegistry(MemoryResourceStore(), self.client_store)
        self.clients_servicer = ClientsServicer(self.registry, self.registration, self.resources)

    def domain(self) -> AuthorizeDomain:
        hasher = Argon2PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
        throttle = LoginThrottle(self.kv, LoginPolicy())
        login = PasswordLogin(self.users, hasher, throttle)
        consents = ConsentRegistry(self.consents, self.users)
        numbers = itertools.count(1)
        codes = AuthorizationCodes(
            self.codes, self.users, code_factory=lambda: f"code-{next(numbers)}"
        )
        return AuthorizeDomain(
            users=UserDirectory(self.users, hasher, throttle=throttle),
            login=login,
            sign_in=SignIn(
                AuthorizationRequestValidator(
                    GrpcClientDirectory(in_process(self.clients_servicer))
                ),
                self.interactions,
                login,
                consents,
                codes,
                issuer=BROWSER_ISSUER,
            ),
            consents=consents,
            codes=codes,
        )

    async def populate(self) -> None:
        await self.registry.create(PHOTO_BOOK, client_id=CLIENT_ID)
        self.users.users[USER_ID] = _user(USER_ID, USERNAME)
        self.users.users["u-disabled"] = _user("u-disabled", "dinah", enabled=False)
        self.users.users["u-locked"] = _user("u-locked", LOCKED_USERNAME)
        await self.kv.set(lock_key(LOCKED_USERNAME), repr(time.time() + LOCKOUT_SECONDS), ttl=600)


def verify_access_token(
    request: token_pb2.VerifyAccessTokenRequest,
) -> token_pb2.IntrospectResponse:
    if request.token == ADMIN_TOKEN:
        return token_pb2.IntrospectResponse(
            active=True, client_id=ADMIN_CLIENT_ID, sub=ADMIN_CLIENT_ID, scope="admin"
        )
    subjects = {GOOD_TOKEN: USER_ID, "disabled-user": "u-disabled", "ghost": "u-ghost"}
    if request.token in subjects and "admin" in request.required_scopes:
        raise InsufficientScope("The access token lacks the 'admin' scope")
    if request.token in subjects:
        return token_pb2.IntrospectResponse(
            active=True, sub=subjects[request.token], scope="openid profile email"
        )
    if request.token == "no-openid":
        raise InsufficientScope("The access token lacks the 'openid' scope")
    if request.token == "inactive":
        return token_pb2.IntrospectResponse(active=False)
    raise InvalidToken("The access token expired")


def decode_id_token_hint(request: token_pb2.DecodeIdTokenHintRequest) -> token_pb2.IdTokenHint:
    if request.id_token_hint != ID_TOKEN_HINT:
        raise InvalidRequest("id_token_hint is not a token of this server")
    return token_pb2.IdTokenHint(sub=USER_ID, client_id=CLIENT_ID)
