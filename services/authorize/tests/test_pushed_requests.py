"""Pushed authorization requests (RFC 9126) in the domain: what a push checks and
keeps, how the authorization endpoint takes it (once, by its client, before it
expires), and the server-wide requirement to push."""

from __future__ import annotations

import asyncio
import json

import pytest

from common.errors import (
    InvalidClient,
    InvalidDpopProof,
    InvalidRequest,
    InvalidScope,
    TemporarilyUnavailable,
)
from common.kv import MemoryKeyValue
from common.secrets import sha256_hex
from services.authorize.domain import (
    AuthorizationCodes,
    AuthorizationRequestValidator,
    ConsentRegistry,
    PasswordLogin,
    SignIn,
)
from services.authorize.domain.authorization_request import AuthorizationRequest
from services.authorize.domain.model import PresentedCredentials
from services.authorize.domain.pushed_requests import (
    KEY_PREFIX,
    REQUEST_URI_PREFIX,
    PushedRequests,
)
from services.authorize.domain.sign_in import BrowserSession, Respond, ShowLogin
from services.authorize.tests.fakes import (
    Clock,
    FakeClientDirectory,
    MemoryInteractionStore,
    make_client_info,
)

CB = "https://app.example.com/cb"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
# RFC 7638 thumbprints of two DPoP keys (RFC 9449 section 10).
JKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
OTHER_JKT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
BROWSER = BrowserSession(binding="binding-1")
WEB = PresentedCredentials("web", "s3cret", "client_secret_basic")


class FakeAuthenticator:
    """The clients service's answer: the client_id when the secret is right."""

    def __init__(self, secrets: dict[str, str]) -> None:
        self.secrets = secrets

    async def authenticate(self, credentials: PresentedCredentials) -> str:
        if self.secrets.get(credentials.client_id) != credentials.client_secret:
            raise InvalidClient("Client authentication failed")
        return credentials.client_id


PARAMS = [
    ("response_type", "code"),
    ("redirect_uri", CB),
    ("scope", "openid profile"),
    ("state", "st"),
    ("code_challenge", CHALLENGE),
    ("code_challenge_method", "S256"),
]


@pytest.fixture
def pushed(kv: MemoryKeyValue) -> PushedRequests:
    clients = FakeClientDirectory(make_client_info("web"), make_client_info("other"))
    return PushedRequests(
        AuthorizationRequestValidator(clients),
        FakeAuthenticator({"web": "s3cret", "other": "0ther"}),
        kv,
        ttl_seconds=1,
        id_factory=iter([f"ref-{n}" for n in range(100)]).__next__,
    )


def sign_in_with(
    pushed: PushedRequests,
    login: PasswordLogin,
    consents: ConsentRegistry,
    codes: AuthorizationCodes,
    clock: Clock,
    *,
    required: bool = False,
) -> SignIn:
    clients = FakeClientDirectory(make_client_info("web"), make_client_info("other"))
    return SignIn(
        AuthorizationRequestValidator(clients),
        MemoryInteractionStore(),
        login,
        consents,
        codes,
        issuer="https://auth.example.com",
        clock=clock,
        pushed=pushed,
        require_pushed_requests=required,
    )


async def test_a_push_keeps_the_checked_request_under_the_hash_of_its_reference(
    pushed: PushedRequests, kv: MemoryKeyValue
) -> None:
    answer = await pushed.push(WEB, PARAMS)
    assert answer.request_uri == REQUEST_URI_PREFIX + "ref-0" and answer.expires_in == 1
    raw = await kv.get(KEY_PREFIX + sha256_hex("ref-0"))
    assert raw is not None and b"ref-0" not in raw
    record = json.loads(raw)
    # The authenticated client_id joins the parameters when the form had none.
    assert record == {
        "client_id": "web",
        "parameters": [["client_id", "web"], *[list(pair) for pair in PARAMS]],
        "signed": False,
    }


async def test_a_push_is_refused_with_the_error_the_request_would_meet(
    pushed: PushedRequests,
) -> None:
    with pytest.raises(InvalidClient):
        await pushed.push(PresentedCredentials("web", "wrong", "client_secret_basic"), PARAMS)
    with pytest.raises(InvalidScope):
        await pushed.push(WEB, [*PARAMS[:2], ("scope", "openid admin"), *PARAMS[3:]])
    cases = [
        [("redirect_uri", "https://evil.example/cb"), *PARAMS[:1], *PARAMS[2:]],
        [("request_uri", REQUEST_URI_PREFIX + "x"), *PARAMS],
        [("client_id", "other"), *PARAMS],
        PARAMS[:4],  # no PKCE
    ]
    for params in cases:
        with pytest.raises(InvalidRequest):
            await pushed.push(WEB, params)


async def test_the_authorization_endpoint_takes_a_pushed_request_once(
    pushed: PushedRequests,
    login: PasswordLogin,
    consents: ConsentRegistry,
    codes: AuthorizationCodes,
    clock: Clock,
) -> None:
    sign_in = sign_in_with(pushed, login, consents, codes, clock)
    uri = (await pushed.push(WEB, [*PARAMS, ("login_hint", "alice")])).request_uri
    # The query's other parameters are not the request: the pushed ones are.
    step = await sign_in.start(
        [("client_id", "web"), ("request_uri", uri), ("login_hint", "mallory")], BROWSER
    )
    assert isinstance(step, ShowLogin)
    assert step.validated.request.login_hint == "alice"
    assert step.validated.redirect_uri == CB and step.validated.scopes == ("openid", "profile")
    with pytest.raises(InvalidRequest, match="already used"):
        await sign_in.start([("client_id", "web"), ("request_uri", uri)], BROWSER)


async def test_a_request_uri_is_its_clients_own_and_expires(
    pushed: PushedRequests,
    login: PasswordLogin,
    consents: ConsentRegistry,
    codes: AuthorizationCodes,
    clock: Clock,
) -> None:
    sign_in = sign_in_with(pushed, login, consents, codes, clock)
    uri = (await pushed.push(WEB, PARAMS)).request_uri
    with pytest.raises(InvalidRequest, match="another client"):
        await sign_in.start([("client_id", "other"), ("request_uri", uri)], BROWSER)
    with pytest.raises(InvalidRequest, match="already used"):  # spent: it has leaked
        await sign_in.start([("client_id", "web"), ("request_uri", uri)], BROWSER)

    brief = (await pushed.push(WEB, PARAMS)).request_uri
    await asyncio.sleep(1.1)  # ttl_seconds=1
    with pytest.raises(InvalidRequest, match="expired"):
        await sign_in.start([("client_id", "web"), ("request_uri", brief)], BROWSER)
    for query in (
        [("request_uri", brief)],
        [("client_id", "web"), ("request_uri", "https://app.example.com/req.jwt")],
        [("client_id", "web"), ("request_uri", uri), ("request_uri", uri)],
    ):
        with pytest.raises(InvalidRequest):
            await sign_in.start(query, BROWSER)


async def test_the_server_may_require_every_request_to_be_pushed(
    pushed: PushedRequests,
    login: PasswordLogin,
    consents: ConsentRegistry,
    codes: AuthorizationCodes,
    clock: Clock,
) -> None:
    sign_in = sign_in_with(pushed, login, consents, codes, clock, required=True)
    direct = await sign_in.start([("client_id", "web"), *PARAMS], BROWSER)
    assert isinstance(direct, Respond)
    params = dict(direct.parameters)
    assert params["error"] == "invalid_request" and "RFC 9126" in params["error_description"]
    uri = (await pushed.push(WEB, PARAMS)).request_uri
    step = await sign_in.start([("client_id", "web"), ("request_uri", uri)], BROWSER)
    assert isinstance(step, ShowLogin)


async def _kept(kv: MemoryKeyValue, reference: str) -> list[list[str]]:
    raw = await kv.get(KEY_PREFIX + sha256_hex(reference))
    assert raw is not None
    parameters: list[list[str]] = json.loads(raw)["parameters"]
    return parameters


async def test_the_key_of_a_pushs_dpop_proof_binds_the_request(
    pushed: PushedRequests, kv: MemoryKeyValue
) -> None:
    """RFC 9449 section 10.1: the proof's key stands for a dpop_jkt the form left out."""
    answer = await pushed.push(WEB, PARAMS, dpop_jkt=JKT)
    assert (await _kept(kv, "ref-0"))[-1] == ["dpop_jkt", JKT]
    taken, _ = await pushed.take(
        AuthorizationRequest(client_id="web", request_uri=answer.request_uri)
    )
    assert taken.dpop_jkt == JKT


async def test_a_dpop_jkt_beside_a_proof_must_name_its_key(
    pushed: PushedRequests, kv: MemoryKeyValue
) -> None:
    await pushed.push(WEB, [*PARAMS, ("dpop_jkt", JKT)], dpop_jkt=JKT)
    assert [pair for pair in await _kept(kv, "ref-0") if pair[0] == "dpop_jkt"] == [
        ["dpop_jkt", JKT]
    ]
    with pytest.raises(InvalidDpopProof) as mismatch:
        await pushed.push(WEB, [*PARAMS, ("dpop_jkt", OTHER_JKT)], dpop_jkt=JKT)
    assert mismatch.value.error == "invalid_dpop_proof"
    assert mismatch.value.description == (
        "The dpop_jkt parameter does not match the key of the DPoP proof"
    )
    assert await kv.get(KEY_PREFIX + sha256_hex("ref-1")) is None  # nothing kept


async def test_a_pushed_dpop_jkt_without_a_proof_is_checked_and_kept(
    pushed: PushedRequests, kv: MemoryKeyValue
) -> None:
    await pushed.push(WEB, [*PARAMS, ("dpop_jkt", JKT)])
    assert (await _kept(kv, "ref-0"))[-1] == ["dpop_jkt", JKT]
    with pytest.raises(InvalidRequest, match="'dpop_jkt' must be the SHA-256 JWK thumbprint"):
        await pushed.push(WEB, [*PARAMS, ("dpop_jkt", "not-a-thumbprint")])
    with pytest.raises(InvalidRequest, match="'dpop_jkt' was given more than once"):
        await pushed.push(WEB, [*PARAMS, ("dpop_jkt", JKT), ("dpop_jkt", JKT)], dpop_jkt=JKT)


class DownKeyValue(MemoryKeyValue):
    async def set(self, key: str, value: bytes | str, ttl: float | None = None) -> None:
        raise ConnectionError("Redis is away")

    async def take(self, key: str) -> bytes | None:
        raise ConnectionError("Redis is away")


async def test_redis_away_is_temporarily_unavailable_not_a_server_error() -> None:
    clients = FakeClientDirectory(make_client_info("web"))
    down = PushedRequests(
        AuthorizationRequestValidator(clients), FakeAuthenticator({"web": "s3cret"}), DownKeyValue()
    )
    with pytest.raises(TemporarilyUnavailable):
        await down.push(WEB, PARAMS)
    with pytest.raises(TemporarilyUnavailable):
        await down.take(
            AuthorizationRequest(client_id="web", request_uri=REQUEST_URI_PREFIX + "ref-0")
        )
