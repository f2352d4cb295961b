"""The device authorization grant (RFC 8628) in the domain, on the SQL store of
SQLite and PostgreSQL: user codes, the start (only hashes stored), polling
(authorization_pending, slow_down, access_denied, expired_token, once only),
the person's decision, concurrent polls and redemptions, and the sign-in on the
verification page (services.authorize.domain.sign_in, ``start_device``)."""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from common.errors import (
    AuthorizationPending,
    Conflict,
    DeviceAccessDenied,
    ExpiredToken,
    InvalidClient,
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
    NotFound,
    OAuthError,
    PollingTooFast,
    UnauthorizedClient,
)
from common.secrets import sha256_hex
from common.vocabulary import GrantType
from services.authorize.domain import (
    AuthorizationCodes,
    AuthorizationRequestValidator,
    ConsentRegistry,
    PasswordLogin,
    SignIn,
    UserDirectory,
)
from services.authorize.domain.device_authorization import (
    UNKNOWN_USER_CODE,
    USER_CODE_ALPHABET,
    DeviceAuthorizations,
    StartedDeviceAuthorization,
    format_user_code,
    new_user_code,
    normalize_user_code,
)
from services.authorize.domain.model import (
    DeviceAuthorization,
    DeviceStatus,
    NewUser,
    PresentedCredentials,
    UserChanges,
)
from services.authorize.domain.sign_in import (
    BrowserSession,
    DeviceDone,
    Expired,
    ShowConsent,
    ShowLogin,
)
from services.authorize.store.sql import SqlDeviceAuthorizationStore, SqlInteractionStore
from services.authorize.store.tables import device_authorizations
from services.authorize.tests.fakes import (
    Clock,
    FakeClientDirectory,
    MemoryUserStore,
    make_client_info,
)

PASSWORD = "correct horse battery staple"
ISSUER = "https://auth.example.com"
BROWSER = BrowserSession(binding="binding-1")
TTL = 600
INTERVAL = 5

TV = make_client_info(
    "tv",
    client_name="Living Room TV",
    redirect_uris=(),
    grant_types=(GrantType.DEVICE_CODE, GrantType.REFRESH_TOKEN),
    token_endpoint_auth_method="none",
    require_pkce=False,
)
OTHER_TV = replace(TV, client_id="tv-2")
WEB = make_client_info("web")  # no device grant

TV_CREDENTIALS = PresentedCredentials("tv", "", "none")
OTHER_TV_CREDENTIALS = PresentedCredentials("tv-2", "", "none")
WEB_CREDENTIALS = PresentedCredentials("web", "s3cret", "client_secret_basic")


class FakeAuthenticator:
    """The clients service's answer: the client_id when the secret is right."""

    def __init__(self, secrets: dict[str, str]) -> None:
        self.secrets = secrets

    async def authenticate(self, credentials: PresentedCredentials) -> str:
        if self.secrets.get(credentials.client_id) != credentials.client_secret:
            raise InvalidClient("Client authentication failed")
        return credentials.client_id


@pytest.fixture
def device_store(engine: AsyncEngine) -> SqlDeviceAuthorizationStore:
    return SqlDeviceAuthorizationStore(engine)


@pytest.fixture
def clients() -> FakeClientDirectory:
    return FakeClientDirectory(TV, OTHER_TV, WEB)


def devices_with(
    store: SqlDeviceAuthorizationStore,
    clients: FakeClientDirectory,
    user_store: MemoryUserStore,
    clock: Clock,
    **options: object,
) -> DeviceAuthorizations:
    return DeviceAuthorizations(
        store,
        FakeAuthenticator({"tv": "", "tv-2": "", "web": "s3cret"}),
        clients,
        user_store,
        clock=clock,
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture
def devices(
    device_store: SqlDeviceAuthorizationStore,
    clients: FakeClientDirectory,
    user_store: MemoryUserStore,
    clock: Clock,
) -> DeviceAuthorizations:
    return devices_with(
        device_store, clients, user_store, clock, ttl_seconds=TTL, interval_seconds=INTERVAL
    )


@pytest.fixture
async def alice(users: UserDirectory) -> str:
    user = await users.create(NewUser(username="alice", password=PASSWORD))
    return user.user_id


async def started(devices: DeviceAuthorizations, scope: str = "openid profile") -> str:
    """A new device authorization for the TV: its device_code."""
    return (await devices.start(TV_CREDENTIALS, scope)).device_code


async def stored(store: SqlDeviceAuthorizationStore, device_code: str) -> DeviceAuthorization:
    found = await store.get(sha256_hex(device_code))
    assert found is not None
    return found


async def approve(
    devices: DeviceAuthorizations, device_code: str, subject: str, clock: Clock
) -> bool:
    return await devices.decide(
        sha256_hex(device_code),
        approved=True,
        subject=subject,
        auth_time=clock.now - timedelta(minutes=1),
        amr=("pwd",),
        scopes=("openid",),
    )


async def deny(devices: DeviceAuthorizations, device_code: str, subject: str) -> bool:
    return await devices.decide(
        sha256_hex(device_code),
        approved=False,
        subject=subject,
        auth_time=None,
        amr=(),
        scopes=("openid", "profile"),
    )


# --- user codes ------------------------------------------------------------------


def test_user_codes_are_eight_consonants_shown_in_two_halves() -> None:
    assert USER_CODE_ALPHABET == "BCDFGHJKLMNPQRSTVWXZ"
    codes = {new_user_code() for _ in range(200)}
    assert len(codes) > 190  # random, not a counter
    for code in codes:
        assert len(code) == 8 and set(code) <= set(USER_CODE_ALPHABET)
        shown = format_user_code(code)
        assert re.fullmatch(r"[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}", shown)
        assert shown.replace("-", "") == code
        assert normalize_user_code(shown) == code
    assert format_user_code("BCDFGHJK") == "BCDF-GHJK"


@pytest.mark.parametrize(
    "entered",
    ["BCDFGHJK", "BCDF-GHJK", "bcdf-ghjk", "bcdfghjk", " BCDF GHJK ", "bC-dF gH\tjK"],
)
def test_normalize_ignores_case_hyphens_and_spaces(entered: str) -> None:
    assert normalize_user_code(entered) == "BCDFGHJK"


@pytest.mark.parametrize(
    "entered",
    [
        "",
        "BCDF-GHJ",  # 7 letters
        "BCDF-GHJKL",  # 9 letters
        "BCDA-GHJK",  # a vowel
        "BCDE-GHJK",
        "BCDF-GHJY",  # Y is not in the alphabet
        "BCD1-GHJK",  # a digit
        "BCDF_GHJK",  # only hyphens and spaces are ignored
        "BCDF" + " " * 40 + "GHJK",  # over-long with spaces
        "-" * 33,
    ],
)
def test_normalize_refuses_what_cannot_be_a_code(entered: str) -> None:
    assert normalize_user_code(entered) is None


# --- start ----------------------------------------------------------------------


async def test_start_stores_only_hashes(
    devices: DeviceAuthorizations, engine: AsyncEngine, clock: Clock
) -> None:
    answer = await devices.start(TV_CREDENTIALS, "openid profile")
    assert len(answer.device_code) >= 43  # 256 bits, base64url
    assert re.fullmatch(r"[A-Za-z0-9_-]+", answer.device_code)
    assert re.fullmatch(r"[A-Z]{4}-[A-Z]{4}", answer.user_code)
    code = normalize_user_code(answer.user_code)
    assert code is not None
    assert (answer.expires_in, answer.interval) == (TTL, INTERVAL)
    async with engine.connect() as conn:
        rows = (await conn.execute(select(device_authorizations))).mappings().all()
    assert len(rows) == 1
    row = rows[0]
    assert row["device_key"] == sha256_hex(answer.device_code)
    assert row["user_code_key"] == sha256_hex(code)
    assert (row["client_id"], row["status"], row["interval"]) == ("tv", "pending", INTERVAL)
    assert row["scopes"] == ("openid", "profile") and row["subject"] == ""
    for value in row.values():
        text = str(value)
        assert answer.device_code not in text
        assert code not in text and answer.user_code not in text
    found = await devices.find_pending(answer.user_code)
    assert found.authorization.created_at == clock.now
    assert found.authorization.expires_at == clock.now + timedelta(seconds=TTL)
    assert found.authorization.next_poll_at is None


async def test_start_answers_the_configured_lifetime_and_interval(
    device_store: SqlDeviceAuthorizationStore,
    clients: FakeClientDirectory,
    user_store: MemoryUserStore,
    clock: Clock,
) -> None:
    devices = devices_with(
        device_store, clients, user_store, clock, ttl_seconds=900, interval_seconds=7
    )
    answer = await devices.start(TV_CREDENTIALS, "openid")
    assert (answer.expires_in, answer.interval) == (900, 7)
    row = await stored(device_store, answer.device_code)
    assert row.interval == 7 and row.expires_at == clock.now + timedelta(seconds=900)
    another = await devices.start(TV_CREDENTIALS, "openid")
    assert another.device_code != answer.device_code
    assert another.user_code != answer.user_code


async def test_start_refuses_a_client_without_the_device_grant(
    devices: DeviceAuthorizations, engine: AsyncEngine
) -> None:
    with pytest.raises(UnauthorizedClient, match="device_code") as caught:
        await devices.start(WEB_CREDENTIALS, "openid")
    assert caught.value.error == "unauthorized_client"
    async with engine.connect() as conn:
        assert (await conn.execute(select(device_authorizations))).first() is None


async def test_start_refuses_a_scope_beyond_the_clients(devices: DeviceAuthorizations) -> None:
    with pytest.raises(InvalidScope, match="'admin'") as caught:
        await devices.start(TV_CREDENTIALS, "openid admin")
    assert caught.value.error == "invalid_scope"


async def test_start_without_a_scope_asks_for_the_clients_scope(
    devices: DeviceAuthorizations, device_store: SqlDeviceAuthorizationStore
) -> None:
    device_code = await started(devices, scope="")
    assert (await stored(device_store, device_code)).scopes == TV.scope
    assert TV.scope == ("openid", "profile", "email", "offline_access")


async def test_start_passes_invalid_client_through(devices: DeviceAuthorizations) -> None:
    with pytest.raises(InvalidClient) as caught:
        await devices.start(PresentedCredentials("web", "wrong", "client_secret_basic"), "openid")
    assert caught.value.error == "invalid_client" and caught.value.status_code == 401


async def test_start_retries_a_user_code_already_taken(
    device_store: SqlDeviceAuthorizationStore,
    clients: FakeClientDirectory,
    user_store: MemoryUserStore,
    clock: Clock,
) -> None:
    offered = iter(["BCDFGHJK", "BCDFGHJK", "LMNPQRST"])
    devices = devices_with(
        device_store, clients, user_store, clock, user_code_factory=offered.__next__
    )
    first = await devices.start(TV_CREDENTIALS, "openid")
    second = await devices.start(TV_CREDENTIALS, "openid")
    assert (first.user_code, second.user_code) == ("BCDF-GHJK", "LMNP-QRST")
    assert next(offered, None) is None  # exactly one retry
    assert (await devices.find_pending("BCDFGHJK")).authorization.device_key == sha256_hex(
        first.device_code
    )
    assert (await devices.find_pending("LMNPQRST")).authorization.device_key == sha256_hex(
        second.device_code
    )


async def test_start_gives_up_after_five_taken_user_codes(
    device_store: SqlDeviceAuthorizationStore,
    clients: FakeClientDirectory,
    user_store: MemoryUserStore,
    clock: Clock,
) -> None:
    calls: list[str] = []

    def always_the_same() -> str:
        calls.append("BCDFGHJK")
        return "BCDFGHJK"

    devices = devices_with(
        device_store, clients, user_store, clock, user_code_factory=always_the_same
    )
    await devices.start(TV_CREDENTIALS, "openid")
    with pytest.raises(Conflict):
        await devices.start(TV_CREDENTIALS, "openid")
    assert len(calls) == 1 + 5


# --- polling --------------------------------------------------------------------


async def test_polling_too_fast_slows_the_device_down(
    devices: DeviceAuthorizations, device_store: SqlDeviceAuthorizationStore, clock: Clock
) -> None:
    device_code = await started(devices)
    with pytest.raises(AuthorizationPending) as pending:
        await devices.consume(device_code, "tv")
    assert pending.value.error == "authorization_pending" and pending.value.status_code == 400
    row = await stored(device_store, device_code)
    assert (row.interval, row.next_poll_at) == (INTERVAL, clock.now + timedelta(seconds=INTERVAL))

    clock.advance(1)
    with pytest.raises(PollingTooFast) as too_fast:
        await devices.consume(device_code, "tv")
    assert too_fast.value.error == "slow_down" and too_fast.value.status_code == 400
    row = await stored(device_store, device_code)
    assert row.interval == INTERVAL + 5
    assert row.next_poll_at == clock.now + timedelta(seconds=INTERVAL + 5)

    clock.advance(INTERVAL + 5)  # the new interval
    with pytest.raises(AuthorizationPending):
        await devices.consume(device_code, "tv")
    row = await stored(device_store, device_code)
    assert row.interval == INTERVAL + 5  # for good
    assert row.status == DeviceStatus.PENDING


async def test_an_approved_code_is_redeemed_once(
    devices: DeviceAuthorizations,
    device_store: SqlDeviceAuthorizationStore,
    alice: str,
    clock: Clock,
) -> None:
    device_code = await started(devices)
    with pytest.raises(AuthorizationPending):
        await devices.consume(device_code, "tv")
    assert await approve(devices, device_code, alice, clock)
    # Right after the last poll: tokens are not held back by the interval.
    redeemed = await devices.consume(device_code, "tv")
    assert redeemed.status == DeviceStatus.APPROVED
    assert redeemed.device_key == sha256_hex(device_code) and redeemed.client_id == "tv"
    assert (redeemed.subject, redeemed.amr, redeemed.scopes) == (alice, ("pwd",), ("openid",))
    assert redeemed.auth_time == clock.now - timedelta(minutes=1)
    assert redeemed.decided_at == clock.now
    assert (await stored(device_store, device_code)).status == DeviceStatus.REDEEMED
    with pytest.raises(InvalidGrant, match="already used"):
        await devices.consume(device_code, "tv")
    clock.advance(TTL)
    with pytest.raises(InvalidGrant, match="already used"):
        await devices.consume(device_code, "tv")


async def test_another_clients_poll_is_invalid_grant_and_changes_nothing(
    devices: DeviceAuthorizations,
    device_store: SqlDeviceAuthorizationStore,
    alice: str,
    clock: Clock,
) -> None:
    device_code = await started(devices)
    with pytest.raises(InvalidGrant, match="another client"):
        await devices.consume(device_code, "tv-2")
    assert (await stored(device_store, device_code)).next_poll_at is None
    with pytest.raises(AuthorizationPending):  # not slow_down: the other poll did not count
        await devices.consume(device_code, "tv")
    assert await approve(devices, device_code, alice, clock)
    with pytest.raises(InvalidGrant):
        await devices.consume(device_code, "tv-2")
    assert (await devices.consume(device_code, "tv")).subject == alice


async def test_an_unknown_or_missing_device_code(devices: DeviceAuthorizations) -> None:
    await started(devices)
    with pytest.raises(InvalidGrant, match="Unknown device_code"):
        await devices.consume("not-a-device-code", "tv")
    with pytest.raises(InvalidRequest, match="device_code") as caught:
        await devices.consume("", "tv")
    assert caught.value.error == "invalid_request"


async def test_an_expired_code_is_expired_token(
    devices: DeviceAuthorizations, alice: str, clock: Clock
) -> None:
    waiting = await started(devices)
    approved = await started(devices)
    assert await approve(devices, approved, alice, clock)
    clock.advance(TTL)
    for device_code in (waiting, approved):
        with pytest.raises(ExpiredToken) as caught:
            await devices.consume(device_code, "tv")
        assert caught.value.error == "expired_token" and caught.value.status_code == 400


async def test_a_denied_code_is_access_denied(
    devices: DeviceAuthorizations, device_store: SqlDeviceAuthorizationStore, alice: str
) -> None:
    device_code = await started(devices)
    assert await deny(devices, device_code, alice)
    for _ in range(2):
        with pytest.raises(DeviceAccessDenied) as caught:
            await devices.consume(device_code, "tv")
        assert caught.value.error == "access_denied" and caught.value.status_code == 400
    assert (await stored(device_store, device_code)).status == DeviceStatus.DENIED


# --- the decision and the verification page's lookup ----------------------------


async def test_a_decision_is_taken_once(
    devices: DeviceAuthorizations,
    device_store: SqlDeviceAuthorizationStore,
    alice: str,
    clock: Clock,
) -> None:
    device_code = await started(devices)
    assert await approve(devices, device_code, alice, clock)
    assert not await deny(devices, device_code, alice)
    assert not await approve(devices, device_code, alice, clock)
    row = await stored(device_store, device_code)
    assert (row.status, row.subject, row.scopes) == (DeviceStatus.APPROVED, alice, ("openid",))


async def test_no_decision_after_expiry(
    devices: DeviceAuthorizations,
    device_store: SqlDeviceAuthorizationStore,
    alice: str,
    clock: Clock,
) -> None:
    device_code = await started(devices)
    clock.advance(TTL)
    assert not await approve(devices, device_code, alice, clock)
    assert not await deny(devices, device_code, alice)
    row = await stored(device_store, device_code)
    assert (row.status, row.subject, row.decided_at) == (DeviceStatus.PENDING, "", None)


async def test_a_disabled_or_unknown_user_cannot_approve(
    devices: DeviceAuthorizations,
    device_store: SqlDeviceAuthorizationStore,
    users: UserDirectory,
    alice: str,
    clock: Clock,
) -> None:
    device_code = await started(devices)
    await users.update(alice, UserChanges(enabled=False), ["enabled"])
    with pytest.raises(DeviceAccessDenied, match="disabled"):
        await approve(devices, device_code, alice, clock)
    with pytest.raises(DeviceAccessDenied):
        await approve(devices, device_code, "no-such-user", clock)
    assert (await stored(device_store, device_code)).status == DeviceStatus.PENDING


async def test_find_pending_takes_the_code_as_typed(
    devices: DeviceAuthorizations, device_store: SqlDeviceAuthorizationStore
) -> None:
    answer = await devices.start(TV_CREDENTIALS, "openid profile")
    typed = answer.user_code.replace("-", "").lower()
    found = await devices.find_pending(typed)
    assert found.authorization == await stored(device_store, answer.device_code)
    assert found.client == TV
    assert (await devices.find_pending(f"  {answer.user_code.lower()} ")).client == TV


async def test_find_pending_says_one_thing_whatever_is_wrong(
    devices: DeviceAuthorizations, alice: str, clock: Clock
) -> None:
    decided = await devices.start(TV_CREDENTIALS, "openid")
    assert await approve(devices, decided.device_code, alice, clock)
    denied = await devices.start(TV_CREDENTIALS, "openid")
    assert await deny(devices, denied.device_code, alice)
    expiring = await devices.start(TV_CREDENTIALS, "openid")
    unknown = "ZZZZ-ZZZZ"
    assert unknown not in {decided.user_code, denied.user_code, expiring.user_code}
    clock.advance(TTL)
    messages = set()
    for entered in (
        unknown,
        "garbage",
        "",
        "AEIO-UAEI",
        "x" * 500,
        decided.user_code,
        denied.user_code,
        expiring.user_code,
    ):
        with pytest.raises(NotFound) as caught:
            await devices.find_pending(entered)
        messages.add((caught.value.description, caught.value.public_description))
    assert messages == {(UNKNOWN_USER_CODE, UNKNOWN_USER_CODE)}


async def test_find_pending_refuses_a_client_that_lost_the_grant(
    devices: DeviceAuthorizations, clients: FakeClientDirectory
) -> None:
    answer = await devices.start(TV_CREDENTIALS, "openid")
    clients.add(replace(TV, grant_types=(GrantType.REFRESH_TOKEN,)))
    with pytest.raises(NotFound) as caught:
        await devices.find_pending(answer.user_code)
    assert caught.value.description == UNKNOWN_USER_CODE


# --- concurrency ----------------------------------------------------------------


def make_authorization(device_key: str, clock: Clock, **changes: object) -> DeviceAuthorization:
    authorization = DeviceAuthorization(
        device_key=device_key,
        user_code_key=sha256_hex(device_key),
        client_id="tv",
        scopes=("openid",),
        interval=INTERVAL,
        created_at=clock.now,
        expires_at=clock.now + timedelta(seconds=TTL),
    )
    return replace(authorization, **changes)  # type: ignore[arg-type]


async def test_concurrent_redemptions_one_wins(
    device_store: SqlDeviceAuthorizationStore, clock: Clock
) -> None:
    key = sha256_hex("approved")
    await device_store.create(
        make_authorization(key, clock, status=DeviceStatus.APPROVED, subject="u1")
    )
    results = await asyncio.gather(device_store.redeem(key), device_store.redeem(key))
    assert sorted(results) == [False, True]
    assert not await device_store.redeem(key)
    found = await device_store.get(key)
    assert found is not None and found.status == DeviceStatus.REDEEMED


async def test_concurrent_polls_one_records(
    device_store: SqlDeviceAuthorizationStore, clock: Clock
) -> None:
    key = sha256_hex("pending")
    await device_store.create(make_authorization(key, clock))
    first = clock.now + timedelta(seconds=INTERVAL)
    results = await asyncio.gather(
        device_store.record_poll(key, seen=None, interval=INTERVAL, next_poll_at=first),
        device_store.record_poll(key, seen=None, interval=INTERVAL, next_poll_at=first),
    )
    assert sorted(results) == [False, True]
    later = first + timedelta(seconds=INTERVAL)
    results = await asyncio.gather(
        device_store.record_poll(key, seen=first, interval=INTERVAL + 5, next_poll_at=later),
        device_store.record_poll(key, seen=first, interval=INTERVAL + 5, next_poll_at=later),
    )
    assert sorted(results) == [False, True]
    found = await device_store.get(key)
    assert found is not None and (found.interval, found.next_poll_at) == (INTERVAL + 5, later)
    # A stale read records nothing.
    assert not await device_store.record_poll(key, seen=first, interval=1, next_poll_at=first)


async def test_concurrent_consumers_get_the_tokens_once(
    devices: DeviceAuthorizations, alice: str, clock: Clock
) -> None:
    polled = await started(devices)
    results = await asyncio.gather(
        devices.consume(polled, "tv"), devices.consume(polled, "tv"), return_exceptions=True
    )
    assert sorted(type(r).__name__ for r in results) == ["AuthorizationPending", "PollingTooFast"]
    approved = await started(devices)
    assert await approve(devices, approved, alice, clock)
    results = await asyncio.gather(
        devices.consume(approved, "tv"), devices.consume(approved, "tv"), return_exceptions=True
    )
    winners = [r for r in results if isinstance(r, DeviceAuthorization)]
    losers = [r for r in results if isinstance(r, OAuthError)]
    assert len(winners) == 1 and winners[0].subject == alice
    assert len(losers) == 1 and isinstance(losers[0], InvalidGrant)


# --- the verification page's sign-in --------------------------------------------


@pytest.fixture
def sign_in(
    engine: AsyncEngine,
    login: PasswordLogin,
    consents: ConsentRegistry,
    codes: AuthorizationCodes,
    user_store: MemoryUserStore,
    clients: FakeClientDirectory,
    devices: DeviceAuthorizations,
    clock: Clock,
) -> SignIn:
    return SignIn(
        AuthorizationRequestValidator(clients),
        SqlInteractionStore(engine),
        login,
        consents,
        codes,
        issuer=ISSUER,
        ttl_seconds=TTL,
        clock=clock,
        users=user_store,
        devices=devices,
    )


async def signed_in_at_consent(
    sign_in: SignIn, answer: StartedDeviceAuthorization, alice: str
) -> ShowConsent:
    step = await sign_in.start_device(answer.user_code, BROWSER)
    assert isinstance(step, ShowLogin)
    assert step.validated.client == TV and step.validated.scopes == ("openid", "profile")
    outcome = await sign_in.complete_login(step.interaction_id, BROWSER, "alice", PASSWORD)
    assert outcome.signed_in is not None and outcome.signed_in.user.user_id == alice
    consent = outcome.next
    assert isinstance(consent, ShowConsent) and consent.interaction_id == step.interaction_id
    return consent


async def test_the_device_sign_in_always_asks_and_approves(
    sign_in: SignIn,
    devices: DeviceAuthorizations,
    consents: ConsentRegistry,
    alice: str,
    clock: Clock,
) -> None:
    # A consent on record covering the scopes does not skip the page (RFC 8628 5.4).
    await consents.grant("tv", alice, ("openid", "profile", "email"))
    answer = await devices.start(TV_CREDENTIALS, "openid profile")
    consent = await signed_in_at_consent(sign_in, answer, alice)
    assert consent.device
    assert consent.scopes == (
        ("openid", "Confirm your identity"),
        ("profile", "Your name and username"),
    )
    login_time = clock.now
    clock.advance(3)
    session = replace(BROWSER, subject=alice, auth_time=login_time, amr=("pwd",))
    done = await sign_in.complete_consent(consent.interaction_id, session, approve=True)
    assert done == DeviceDone(TV, approved=True)
    redeemed = await devices.consume(answer.device_code, "tv")
    assert (redeemed.subject, redeemed.scopes, redeemed.amr) == (
        alice,
        ("openid", "profile"),
        ("pwd",),
    )
    assert redeemed.auth_time == login_time
    # Finished: the interaction cannot decide again.
    again = await sign_in.complete_consent(consent.interaction_id, session, approve=True)
    assert isinstance(again, Expired)


async def test_a_signed_in_person_goes_straight_to_the_consent_page(
    sign_in: SignIn,
    devices: DeviceAuthorizations,
    consents: ConsentRegistry,
    alice: str,
    clock: Clock,
) -> None:
    await consents.grant("tv", alice, ("openid",))
    answer = await devices.start(TV_CREDENTIALS, "openid")
    session = replace(BROWSER, subject=alice, auth_time=clock.now, amr=("pwd",))
    consent = await sign_in.start_device(answer.user_code.lower(), session)
    assert isinstance(consent, ShowConsent) and consent.device
    done = await sign_in.complete_consent(consent.interaction_id, session, approve=True)
    assert done == DeviceDone(TV, approved=True)
    assert (await devices.consume(answer.device_code, "tv")).subject == alice


async def test_the_consent_page_may_narrow_the_scopes(
    sign_in: SignIn, devices: DeviceAuthorizations, consents: ConsentRegistry, alice: str
) -> None:
    answer = await devices.start(TV_CREDENTIALS, "openid profile")
    consent = await signed_in_at_consent(sign_in, answer, alice)
    session = replace(BROWSER, subject=alice)
    done = await sign_in.complete_consent(
        consent.interaction_id, session, approve=True, scopes=["openid"]
    )
    assert done == DeviceDone(TV, approved=True)
    assert (await devices.consume(answer.device_code, "tv")).scopes == ("openid",)
    remembered = await consents.get("tv", alice)
    assert remembered is not None and remembered.scopes == ("openid",)


async def test_the_person_denies_the_device(
    sign_in: SignIn,
    devices: DeviceAuthorizations,
    device_store: SqlDeviceAuthorizationStore,
    alice: str,
) -> None:
    answer = await devices.start(TV_CREDENTIALS, "openid profile")
    consent = await signed_in_at_consent(sign_in, answer, alice)
    session = replace(BROWSER, subject=alice)
    done = await sign_in.complete_consent(consent.interaction_id, session, approve=False)
    assert done == DeviceDone(TV, approved=False, message="")
    with pytest.raises(DeviceAccessDenied):
        await devices.consume(answer.device_code, "tv")
    assert (await stored(device_store, answer.device_code)).subject == alice


async def test_consent_after_the_device_authorization_expired(
    sign_in: SignIn,
    devices: DeviceAuthorizations,
    device_store: SqlDeviceAuthorizationStore,
    alice: str,
    clock: Clock,
) -> None:
    answer = await devices.start(TV_CREDENTIALS, "openid profile")
    clock.advance(TTL - 60)
    consent = await signed_in_at_consent(sign_in, answer, alice)
    clock.advance(60)  # the device authorization expires, and its sign-in with it
    session = replace(BROWSER, subject=alice)
    done = await sign_in.complete_consent(consent.interaction_id, session, approve=True)
    assert done == Expired(TV)
    assert (await stored(device_store, answer.device_code)).status == DeviceStatus.PENDING
    with pytest.raises(ExpiredToken):
        await devices.consume(answer.device_code, "tv")


async def test_a_code_answered_in_another_tab_is_refused_with_a_message(
    sign_in: SignIn, devices: DeviceAuthorizations, alice: str
) -> None:
    answer = await devices.start(TV_CREDENTIALS, "openid profile")
    first = await signed_in_at_consent(sign_in, answer, alice)
    second = await signed_in_at_consent(sign_in, answer, alice)
    assert first.interaction_id != second.interaction_id
    session = replace(BROWSER, subject=alice)
    assert await sign_in.complete_consent(first.interaction_id, session, approve=False) == (
        DeviceDone(TV, approved=False)
    )
    late = await sign_in.complete_consent(second.interaction_id, session, approve=True)
    assert isinstance(late, DeviceDone) and not late.approved and late.message
    with pytest.raises(DeviceAccessDenied):  # the first answer stands
        await devices.consume(answer.device_code, "tv")


async def test_an_account_disabled_before_consent_cannot_approve(
    sign_in: SignIn, devices: DeviceAuthorizations, users: UserDirectory, alice: str
) -> None:
    answer = await devices.start(TV_CREDENTIALS, "openid")
    step = await sign_in.start_device(answer.user_code, BROWSER)
    assert isinstance(step, ShowLogin)
    outcome = await sign_in.complete_login(step.interaction_id, BROWSER, "alice", PASSWORD)
    assert isinstance(outcome.next, ShowConsent)
    await users.update(alice, UserChanges(enabled=False), ["enabled"])
    session = replace(BROWSER, subject=alice)
    done = await sign_in.complete_consent(step.interaction_id, session, approve=True)
    assert done == DeviceDone(TV, approved=False, message="The user account is disabled")
    with pytest.raises(AuthorizationPending):
        await devices.consume(answer.device_code, "tv")


async def test_an_unknown_code_on_the_verification_page(sign_in: SignIn) -> None:
    for entered in ("BCDF-GHJK", "nonsense"):
        with pytest.raises(NotFound) as caught:
            await sign_in.start_device(entered, BROWSER)
        assert caught.value.description == UNKNOWN_USER_CODE


class RecordingEvents:
    """An AuditSink fake that keeps what was reported."""

    def __init__(self) -> None:
        self.reports: list[dict[str, object]] = []

    def report(self, action: str, **fields: object) -> None:
        self.reports.append({"action": action, **fields})


async def test_decisions_are_audited_and_every_outcome_counted(
    device_store: SqlDeviceAuthorizationStore,
    clients: FakeClientDirectory,
    user_store: MemoryUserStore,
    alice: str,
    clock: Clock,
) -> None:
    events = RecordingEvents()
    outcomes: list[str] = []
    devices = devices_with(
        device_store,
        clients,
        user_store,
        clock,
        ttl_seconds=TTL,
        interval_seconds=INTERVAL,
        events=events,
        on_outcome=outcomes.append,
    )
    approved, denied, expired = [await started(devices) for _ in range(3)]
    assert await approve(devices, approved, alice, clock)
    assert await deny(devices, denied, alice)
    assert not await deny(devices, denied, alice)  # a refused second decision: no event
    assert (await devices.consume(approved, "tv")).subject == alice
    clock.advance(TTL)
    with pytest.raises(ExpiredToken):
        await devices.consume(expired, "tv")
    assert events.reports == [
        {
            "action": "device_authorization.approved",
            "actor": f"user:{alice}",
            "target": "client:tv",
            "outcome": "success",
            "details": {"scope": "openid", "grant": sha256_hex(approved)},
        },
        {
            "action": "device_authorization.denied",
            "actor": f"user:{alice}",
            "target": "client:tv",
            "outcome": "denied",
            "details": {"scope": "openid profile", "grant": sha256_hex(denied)},
        },
    ]
    assert outcomes == ["started"] * 3 + ["approved", "denied", "redeemed", "expired"]
