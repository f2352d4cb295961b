"""The sign-in pipeline (services.authorize.domain.sign_in) on in-memory stores:
the decision of docs/signin.md step by step, prompt and max_age, single use,
binding to the browser session, expiry, and what a finished or foreign
interaction answers."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from common.errors import AccessDenied, InvalidRequest, SlowDown
from common.secrets import sha256_hex
from services.authorize.domain import (
    AuthorizationCodes,
    AuthorizationRequestValidator,
    ConsentRegistry,
    PasswordLogin,
    SignIn,
    UserDirectory,
)
from services.authorize.domain.model import NewUser, UserChanges
from services.authorize.domain.sign_in import (
    BrowserSession,
    Expired,
    Respond,
    ShowConsent,
    ShowLogin,
    Step,
)
from services.authorize.tests.fakes import (
    Clock,
    FakeClientDirectory,
    MemoryCodeStore,
    MemoryInteractionStore,
    MemoryUserStore,
    make_client_info,
)

CB = "https://app.example.com/cb"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
PASSWORD = "correct horse battery staple"
ISSUER = "https://auth.example.com"
BROWSER = BrowserSession(binding="binding-1")


@pytest.fixture
def interaction_store() -> MemoryInteractionStore:
    return MemoryInteractionStore()


@pytest.fixture
def sign_in(
    interaction_store: MemoryInteractionStore,
    login: PasswordLogin,
    consents: ConsentRegistry,
    codes: AuthorizationCodes,
    user_store: MemoryUserStore,
    clock: Clock,
) -> SignIn:
    clients = FakeClientDirectory(make_client_info("web"))
    return SignIn(
        AuthorizationRequestValidator(clients),
        interaction_store,
        login,
        consents,
        codes,
        issuer=ISSUER,
        ttl_seconds=600,
        clock=clock,
        users=user_store,
    )


@pytest.fixture
async def alice(users: UserDirectory) -> str:
    user = await users.create(NewUser(username="alice", password=PASSWORD))
    return user.user_id


def query(**params: str) -> list[tuple[str, str]]:
    base = {
        "response_type": "code",
        "client_id": "web",
        "redirect_uri": CB,
        "scope": "openid profile",
        "state": "st",
        "nonce": "n",
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
    }
    return list((base | params).items())


def response_params(step: Step) -> dict[str, str]:
    assert isinstance(step, Respond), step
    assert step.location.startswith(CB + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(step.location).query).items()}


def signed_in(subject: str, clock: Clock, seconds_ago: float = 0) -> BrowserSession:
    return replace(
        BROWSER,
        subject=subject,
        auth_time=clock.now - timedelta(seconds=seconds_ago),
        amr=("pwd",),
    )


async def first_sign_in(sign_in: SignIn, alice: str, **params: str) -> tuple[str, Step]:
    started = await sign_in.start(query(**params), BROWSER)
    assert isinstance(started, ShowLogin)
    outcome = await sign_in.complete_login(started.interaction_id, BROWSER, "alice", PASSWORD)
    assert outcome.signed_in is not None and outcome.signed_in.user.user_id == alice
    return started.interaction_id, outcome.next


async def test_first_sign_in_login_consent_code(
    sign_in: SignIn,
    alice: str,
    interaction_store: MemoryInteractionStore,
    code_store: MemoryCodeStore,
    clock: Clock,
) -> None:
    started = await sign_in.start(query(login_hint="alice"), BROWSER)
    assert isinstance(started, ShowLogin)
    assert started.validated.request.login_hint == "alice"
    # Stored under the hash of its id, bound to the session's binding.
    stored = interaction_store.interactions[sha256_hex(started.interaction_id)]
    assert stored.binding_key == sha256_hex(BROWSER.binding) and stored.subject == ""

    outcome = await sign_in.complete_login(started.interaction_id, BROWSER, "alice", PASSWORD)
    consent = outcome.next
    assert isinstance(consent, ShowConsent) and consent.interaction_id == started.interaction_id
    assert consent.scopes == (
        ("openid", "Confirm your identity"),
        ("profile", "Your name and username"),
    )
    session = replace(BROWSER, subject=alice)
    done = await sign_in.complete_consent(started.interaction_id, session, approve=True)
    params = response_params(done)
    assert params["state"] == "st" and params["iss"] == ISSUER and "code" in params
    (code,) = code_store.codes.values()
    assert code.code_id == sha256_hex(params["code"])
    assert (code.user_id, code.scopes, code.nonce) == (alice, ("openid", "profile"), "n")
    assert (code.code_challenge, code.code_challenge_method) == (CHALLENGE, "S256")
    assert code.redirect_uri_in_request and code.amr == ("pwd",)

    # The consent is remembered: signed in, the next request gets its code at once.
    again = await sign_in.start(query(state="st-2"), signed_in(alice, clock))
    assert response_params(again)["state"] == "st-2"
    # ...and no interaction was stored for it.
    assert len(interaction_store.interactions) == 1


async def test_finished_interactions_are_single_use(sign_in: SignIn, alice: str) -> None:
    interaction_id, consent = await first_sign_in(sign_in, alice)
    assert isinstance(consent, ShowConsent)
    session = replace(BROWSER, subject=alice)
    assert isinstance(
        await sign_in.complete_consent(interaction_id, session, approve=True), Respond
    )
    replayed = await sign_in.complete_consent(interaction_id, session, approve=True)
    assert isinstance(replayed, Expired) and replayed.client is not None
    assert replayed.client.client_id == "web"  # a way back to the client
    login_again = await sign_in.complete_login(interaction_id, BROWSER, "alice", PASSWORD)
    assert login_again.signed_in is None and isinstance(login_again.next, Expired)


async def test_another_sessions_or_an_unknown_interaction_is_expired(
    sign_in: SignIn, alice: str
) -> None:
    interaction_id, _ = await first_sign_in(sign_in, alice)
    thief = BrowserSession(binding="someone-else", subject=alice)
    stolen = await sign_in.complete_consent(interaction_id, thief, approve=True)
    assert isinstance(stolen, Expired) and stolen.client is not None
    outcome = await sign_in.complete_login(interaction_id, thief, "alice", PASSWORD)
    assert outcome.signed_in is None and isinstance(outcome.next, Expired)
    for unknown in ("", "nope", "x" * 500):
        assert await sign_in.complete_consent(unknown, BROWSER, approve=True) == Expired()


async def test_interactions_expire(sign_in: SignIn, alice: str, clock: Clock) -> None:
    started = await sign_in.start(query(), BROWSER)
    assert isinstance(started, ShowLogin)
    clock.advance(601)
    outcome = await sign_in.complete_login(started.interaction_id, BROWSER, "alice", PASSWORD)
    assert outcome.signed_in is None  # the password was not even looked at
    assert isinstance(outcome.next, Expired) and outcome.next.client is not None


async def test_a_session_keeps_at_most_ten_requests_waiting(
    sign_in: SignIn, alice: str, clock: Clock
) -> None:
    started = []
    for _ in range(11):
        step = await sign_in.start(query(), BROWSER)
        assert isinstance(step, ShowLogin)
        started.append(step.interaction_id)
        clock.advance(1)
    # The eleventh ended the first; the other ten still go on.
    oldest = await sign_in.complete_login(started[0], BROWSER, "alice", PASSWORD)
    assert oldest.signed_in is None and isinstance(oldest.next, Expired)
    newest = await sign_in.complete_login(started[-1], BROWSER, "alice", PASSWORD)
    assert newest.signed_in is not None
    # Another browser's requests do not count against this one's.
    other = await sign_in.start(query(), BrowserSession(binding="another-browser"))
    assert isinstance(other, ShowLogin)
    second = await sign_in.complete_login(started[1], BROWSER, "alice", PASSWORD)
    assert second.signed_in is not None


async def test_expired_interactions_are_purged_a_day_later(
    sign_in: SignIn, alice: str, clock: Clock, interaction_store: MemoryInteractionStore
) -> None:
    await sign_in.start(query(), BROWSER)
    clock.advance(86_400 + 601 + 61)
    await sign_in.start(query(), BROWSER)
    assert len(interaction_store.interactions) == 1


async def test_deny_is_access_denied_and_finishes(
    sign_in: SignIn, alice: str, code_store: MemoryCodeStore
) -> None:
    interaction_id, _ = await first_sign_in(sign_in, alice)
    session = replace(BROWSER, subject=alice)
    denied = await sign_in.complete_consent(interaction_id, session, approve=False)
    assert response_params(denied) == {
        "error": "access_denied",
        "error_description": "The user denied the request",
        "state": "st",
        "iss": ISSUER,
    }
    assert not code_store.codes
    assert isinstance(
        await sign_in.complete_consent(interaction_id, session, approve=True), Expired
    )


async def test_consent_may_narrow_the_scopes(
    sign_in: SignIn, alice: str, code_store: MemoryCodeStore
) -> None:
    interaction_id, _ = await first_sign_in(sign_in, alice, scope="openid profile email")
    session = replace(BROWSER, subject=alice)
    with pytest.raises(InvalidRequest):
        await sign_in.complete_consent(interaction_id, session, approve=True, scopes=["admin"])
    await sign_in.complete_consent(
        interaction_id, session, approve=True, scopes=["email", "openid"]
    )
    (code,) = code_store.codes.values()
    assert code.scopes == ("openid", "email")


async def test_consent_needs_the_person_who_signed_in(sign_in: SignIn, alice: str) -> None:
    interaction_id, _ = await first_sign_in(sign_in, alice)
    for session in (BROWSER, replace(BROWSER, subject="someone-else")):
        step = await sign_in.complete_consent(interaction_id, session, approve=True)
        assert isinstance(step, ShowLogin) and step.interaction_id == interaction_id


async def test_wrong_password_and_lockout_keep_the_interaction(sign_in: SignIn, alice: str) -> None:
    started = await sign_in.start(query(), BROWSER)
    assert isinstance(started, ShowLogin)
    for _ in range(5):
        with pytest.raises(AccessDenied, match="Invalid username or password"):
            await sign_in.complete_login(started.interaction_id, BROWSER, "alice", "wrong")
    with pytest.raises(SlowDown):
        await sign_in.complete_login(started.interaction_id, BROWSER, "alice", PASSWORD)


async def test_prompt_none(sign_in: SignIn, alice: str, clock: Clock) -> None:
    assert response_params(await sign_in.start(query(prompt="none"), BROWSER))["error"] == (
        "login_required"
    )
    quiet = await sign_in.start(query(prompt="none"), signed_in(alice, clock))
    assert response_params(quiet)["error"] == "consent_required"


async def test_prompt_login_and_max_age_ask_for_one_fresh_sign_in(
    sign_in: SignIn, alice: str, clock: Clock, consents: ConsentRegistry
) -> None:
    await consents.grant("web", alice, ["openid", "profile"])
    session = signed_in(alice, clock, seconds_ago=120)
    assert "code" in response_params(await sign_in.start(query(), session))
    assert "code" in response_params(await sign_in.start(query(max_age="300"), session))
    for params in ({"prompt": "login"}, {"max_age": "60"}, {"max_age": "0"}):
        step = await sign_in.start(query(**params), session)
        assert isinstance(step, ShowLogin), params
        outcome = await sign_in.complete_login(step.interaction_id, session, "alice", PASSWORD)
        # The fresh sign-in satisfies it once: the code, consent being on record.
        assert "code" in response_params(outcome.next), params
    # prompt=consent shows the page although the consent is on record.
    assert isinstance(await sign_in.start(query(prompt="consent"), session), ShowConsent)


async def test_the_code_records_the_sid_of_the_session_approving_it(
    sign_in: SignIn, alice: str, clock: Clock, code_store: MemoryCodeStore
) -> None:
    """OpenID Connect Back-Channel Logout 1.0: the code keeps the ``sid`` of the
    sign-in that approved it, whichever call issues it."""

    def sid_of(step: Step) -> str:
        code_id = sha256_hex(response_params(step)["code"])
        return code_store.codes[code_id].sid

    # On the consent page: the session's sid at that moment.
    started = await sign_in.start(query(), BROWSER)
    assert isinstance(started, ShowLogin)
    signing_in = replace(BROWSER, sid="sid-1")
    outcome = await sign_in.complete_login(started.interaction_id, signing_in, "alice", PASSWORD)
    assert isinstance(outcome.next, ShowConsent)
    approving = replace(signed_in(alice, clock), sid="sid-1")
    done = await sign_in.complete_consent(started.interaction_id, approving, approve=True)
    assert sid_of(done) == "sid-1"
    # Consent on record: at the start, from the signed-in session.
    assert sid_of(await sign_in.start(query(), replace(approving, sid="sid-2"))) == "sid-2"
    # prompt=login: at once on the login page, with the sid of the new sign-in.
    forced = await sign_in.start(query(prompt="login"), replace(approving, sid="sid-2"))
    assert isinstance(forced, ShowLogin)
    again = await sign_in.complete_login(
        forced.interaction_id, replace(approving, sid="sid-3"), "alice", PASSWORD
    )
    assert sid_of(again.next) == "sid-3"
    # A session without one (an older gateway): a code without one.
    assert sid_of(await sign_in.start(query(), signed_in(alice, clock))) == ""


async def test_consent_page_cannot_skip_a_forced_login(
    sign_in: SignIn, alice: str, clock: Clock, consents: ConsentRegistry
) -> None:
    session = signed_in(alice, clock)
    step = await sign_in.start(query(prompt="login consent"), session)
    assert isinstance(step, ShowLogin)
    again = await sign_in.complete_consent(step.interaction_id, session, approve=True)
    assert isinstance(again, ShowLogin)


async def test_validation_errors(sign_in: SignIn) -> None:
    with pytest.raises(InvalidRequest, match="Unknown client_id"):
        await sign_in.start(query(client_id="nobody"), BROWSER)
    with pytest.raises(InvalidRequest, match="binding"):
        await sign_in.start(query(), BrowserSession(binding=""))
    bad = response_params(await sign_in.start(query(response_type="token"), BROWSER))
    assert bad["error"] == "unsupported_response_type" and bad["state"] == "st"


async def test_a_failed_issuance_is_told_to_the_client(
    sign_in: SignIn, alice: str, users: UserDirectory
) -> None:
    interaction_id, _ = await first_sign_in(sign_in, alice)
    await users.update(alice, UserChanges(enabled=False), ["enabled"])
    step = await sign_in.complete_consent(
        interaction_id, replace(BROWSER, subject=alice), approve=True
    )
    assert response_params(step)["error"] == "access_denied"


async def test_a_new_password_ends_the_sessions_signed_in_before_it(
    sign_in: SignIn, users: UserDirectory, alice: str, clock: Clock
) -> None:
    """SetPassword (a reset by an administrator, or a change) ends every browser
    session the old password opened: the next authorization shows the login
    page, and a consent page already shown cannot stand in for it."""
    _, consent = await first_sign_in(sign_in, alice)
    assert isinstance(consent, ShowConsent)
    session = signed_in(alice, clock)
    pending = await sign_in.start(query(state="before"), session)
    assert isinstance(pending, ShowConsent)  # signed in: straight to consent

    clock.advance(5)
    await users.set_password(alice, "a brand new password")
    again = await sign_in.start(query(), session)
    assert isinstance(again, ShowLogin)
    done = await sign_in.complete_consent(pending.interaction_id, session, approve=True)
    assert isinstance(done, ShowLogin)
    # prompt=none cannot ride on the old session either.
    assert response_params(await sign_in.start(query(prompt="none"), session))["error"] == (
        "login_required"
    )

    # Signing in with the new password makes a session that counts.
    outcome = await sign_in.complete_login(
        again.interaction_id, BROWSER, "alice", "a brand new password"
    )
    assert isinstance(outcome.next, ShowConsent)
    assert isinstance(await sign_in.start(query(), signed_in(alice, clock)), ShowConsent)


async def test_form_post_carries_the_code_and_every_error_after_validation(
    sign_in: SignIn, alice: str, clock: Clock
) -> None:
    """OAuth 2.0 Form Post Response Mode: the response's parameters for a form
    instead of a query; an error after the redirect URI is checked goes the same
    way, and a response_mode that is not valid answers in the query (the default)."""
    interaction_id, consent = await first_sign_in(sign_in, alice, response_mode="form_post")
    assert isinstance(consent, ShowConsent)
    done = await sign_in.complete_consent(
        interaction_id, replace(BROWSER, subject=alice), approve=True
    )
    assert isinstance(done, Respond) and done.form_post
    assert done.redirect_uri == CB
    params = dict(done.parameters)
    assert set(params) == {"code", "state", "iss"}
    assert (params["state"], params["iss"]) == ("st", ISSUER)

    # Signed in with consent given: the code at once, posted as well.
    again = await sign_in.start(query(response_mode="form_post"), signed_in(alice, clock))
    assert isinstance(again, Respond) and again.form_post and "code" in dict(again.parameters)

    # An error once the redirect URI is known: posted, state and iss with it.
    refused = await sign_in.start(query(response_mode="form_post", prompt="none"), BROWSER)
    assert isinstance(refused, Respond) and refused.form_post
    assert dict(refused.parameters) == {
        "error": "login_required",
        "error_description": "Sign-in required",
        "state": "st",
        "iss": ISSUER,
    }
    # The state left out when the request had none (empty values are not sent).
    stateless = await sign_in.start(
        query(response_mode="form_post", prompt="none", state=""), BROWSER
    )
    assert isinstance(stateless, Respond) and "state" not in dict(stateless.parameters)

    # A response_mode this server does not offer is itself the error, in the query.
    for mode in ("fragment", "form_post.jwt"):
        wrong = await sign_in.start(query(response_mode=mode), BROWSER)
        assert isinstance(wrong, Respond) and not wrong.form_post
        assert response_params(wrong)["error"] == "invalid_request"
