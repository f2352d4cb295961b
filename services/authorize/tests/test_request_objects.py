"""Request objects (RFC 9101) in the domain: RequestObjects.unpack and verify, then
the authorization endpoint (SignIn.start) and pushed requests (RFC 9126) taking one.
The objects are signed with joserfc, a JOSE library other than the PyJWT the code
verifies with; the attacks (alg none, a MAC keyed with the public key, a tampered
payload) are put together by hand."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import warnings
from collections.abc import Callable
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from joserfc import jwt as jose_jwt
from joserfc.errors import SecurityWarning
from joserfc.jwk import ECKey, OKPKey, RSAKey

from common.client_keys import ClientKeySets
from common.errors import InvalidClient, InvalidRequest, InvalidRequestObject
from common.kv import MemoryKeyValue
from common.secrets import sha256_hex
from common.vocabulary import ClientSigningAlg
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
    parameters_of,
)
from services.authorize.domain.request_object import RequestObjects
from services.authorize.domain.sign_in import BrowserSession, Respond, ShowLogin
from services.authorize.tests.fakes import (
    Clock,
    FakeClientDirectory,
    MemoryInteractionStore,
    make_client_info,
)

ISSUER = "https://auth.example.com"
CB = "https://app.example.com/cb"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
TYP = "oauth-authz-req+jwt"
BROWSER = BrowserSession(binding="binding-1")

RSA = RSAKey.generate_key(2048, parameters={"kid": "rsa"})
EC = ECKey.generate_key("P-256", parameters={"kid": "ec"})
ED = OKPKey.generate_key("Ed25519", parameters={"kid": "ed"})
# Another key under the same kid as the client's RSA key.
IMPOSTOR = RSAKey.generate_key(2048, parameters={"kid": "rsa"})
KEY_OF: dict[str, RSAKey | ECKey | OKPKey] = {"RS256": RSA, "PS256": RSA, "ES256": EC, "EdDSA": ED}
JWKS = json.dumps({"keys": [key.as_dict(private=False) for key in (RSA, EC, ED)]})

# The request the signed objects below stand for.
SIGNED = AuthorizationRequest(
    response_type="code",
    client_id="web",
    redirect_uri=CB,
    scope="openid profile",
    state="signed-state",
    nonce="n-1",
    code_challenge=CHALLENGE,
    code_challenge_method="S256",
    max_age="300",
)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64_json(value: dict[str, Any]) -> str:
    return b64(json.dumps(value).encode())


def claims(client: str = "web", **changes: Any) -> dict[str, Any]:
    """The claims of a good object of ``client``; a change to None leaves one out."""
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": client,
        "aud": ISSUER,
        "client_id": client,
        "iat": now,
        "exp": now + 300,
        "jti": "jti-1",
        "response_type": "code",
        "redirect_uri": CB,
        "scope": "openid profile",
        "state": "signed-state",
        "nonce": "n-1",
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
        "max_age": 300,
    }
    return {name: value for name, value in (base | changes).items() if value is not None}


def sign(
    payload: dict[str, Any] | None = None,
    alg: str = "RS256",
    key: RSAKey | ECKey | OKPKey | None = None,
    **header: Any,
) -> str:
    """A compact JWS by joserfc; a header member set to None is left out."""
    key = key if key is not None else KEY_OF[alg]
    protected = {"alg": alg, "kid": key.kid, "typ": TYP} | header
    protected = {name: value for name, value in protected.items() if value is not None}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)  # EdDSA: RFC 9864 prefers Ed25519
        return jose_jwt.encode(
            protected,
            payload if payload is not None else claims(),
            key,
            algorithms=[alg],
            default_type=None,
        )


def by_hand(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    return f"{b64_json(header)}.{b64_json(payload)}.{b64(signature)}"


def unsigned() -> str:
    return by_hand({"alg": "none", "typ": TYP}, claims())


def mac_with_the_public_key() -> str:
    """HS256 keyed with the client's public key (the classic RS256/HS256 confusion)."""
    header = b64_json({"alg": "HS256", "kid": "rsa", "typ": TYP})
    payload = b64_json(claims())
    secret = RSA.as_pem(private=False)
    mac = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(mac)}"


def tampered() -> str:
    header, _, signature = sign().split(".")
    return f"{header}.{b64_json(claims(redirect_uri='https://evil.example/cb'))}.{signature}"


def query(token: str, client_id: str = "web", **more: str) -> AuthorizationRequest:
    return AuthorizationRequest.from_query(
        [("client_id", client_id), ("request", token), *more.items()]
    )


@pytest.fixture
def clients() -> FakeClientDirectory:
    return FakeClientDirectory(
        make_client_info("web", jwks=JWKS),
        make_client_info("es-only", jwks=JWKS, request_object_signing_alg="ES256"),
        make_client_info("keyless"),
        make_client_info("strict", jwks=JWKS, require_signed_request_object=True),
    )


@pytest.fixture
def objects(clients: FakeClientDirectory) -> RequestObjects:
    return RequestObjects(clients, ClientKeySets(), issuer=ISSUER)


# -- RequestObjects.unpack --------------------------------------------------------------


@pytest.mark.parametrize("alg", list(ClientSigningAlg))
async def test_an_object_signed_with_an_allowed_alg_is_the_request(
    objects: RequestObjects, alg: str
) -> None:
    request = query(
        sign(alg=alg),
        # RFC 9101 section 6.3: only the object's parameters count.
        state="query-state",
        redirect_uri="https://evil.example/cb",
        scope="openid email",
        prompt="none",
    )
    assert await objects.unpack(request) == SIGNED


@pytest.mark.parametrize(
    "header",
    [
        pytest.param({"typ": TYP}, id="typ"),
        pytest.param({"typ": "OAuth-Authz-Req+JWT"}, id="typ-any-case"),
        pytest.param({"typ": None}, id="no-typ"),
        pytest.param({"kid": None}, id="no-kid"),
    ],
)
async def test_accepted_headers(objects: RequestObjects, header: dict[str, Any]) -> None:
    assert await objects.unpack(query(sign(alg="ES256", **header))) == SIGNED


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"aud": [ISSUER]}, id="aud-list"),
        pytest.param({"aud": ["https://other.example", ISSUER]}, id="aud-list-of-2"),
        pytest.param({"iss": None, "aud": None, "client_id": None}, id="no-iss-aud-client_id"),
        pytest.param({"iat": None, "exp": None}, id="no-times"),
        pytest.param({"max_age": "300"}, id="max_age-string"),
        pytest.param({"unknown_claim": ["ignored"]}, id="other-claims-ignored"),
    ],
)
async def test_accepted_claims(objects: RequestObjects, changes: dict[str, Any]) -> None:
    assert await objects.unpack(query(sign(claims(**changes)))) == SIGNED


def _now() -> int:
    return int(time.time())


REFUSED: list[Any] = [
    pytest.param(lambda: "not-a-jwt", "not a signed JWT", id="not-a-jwt"),
    pytest.param(unsigned, "alg 'none' is not allowed", id="alg-none"),
    pytest.param(mac_with_the_public_key, "alg 'HS256' is not allowed", id="hs256-public-key"),
    pytest.param(lambda: sign(alg="RS384", key=RSA), "'RS384' is not allowed", id="rs384"),
    pytest.param(lambda: sign(alg="RS256", key=IMPOSTOR), "does not verify", id="wrong-key"),
    pytest.param(tampered, "does not verify", id="tampered-claim"),
    pytest.param(lambda: sign(kid="rsa-2"), "no key .* fits kid 'rsa-2'", id="unknown-kid"),
    pytest.param(lambda: sign(typ="at+jwt"), "typ must be", id="typ-at+jwt"),
    pytest.param(lambda: sign(claims(iss="other")), "iss must be the client_id", id="iss"),
    pytest.param(
        lambda: sign(claims(aud="https://other.example")), "aud must be this issuer", id="aud"
    ),
    pytest.param(
        lambda: sign(claims(aud=["https://other.example"])),
        "aud must be this issuer",
        id="aud-list",
    ),
    pytest.param(
        lambda: sign(claims(client_id="other")), "client_id is not the one", id="client_id"
    ),
    pytest.param(
        lambda: sign(claims(iat=_now() - 600, exp=_now() - 120)), "has expired", id="expired"
    ),
    pytest.param(
        lambda: sign(claims(iat=None, nbf=_now() + 600, exp=_now() + 900)),
        "not valid yet",
        id="nbf-future",
    ),
    pytest.param(
        lambda: sign(claims(iat=_now() + 86_400, exp=_now() + 86_460)),
        "issued in the future",
        id="iat-future",
    ),
    pytest.param(lambda: sign(claims(exp=_now() + 3601)), "lives longer than 3600", id="lifetime"),
    pytest.param(
        lambda: sign(claims(iat=None, exp=_now() + 7200)),
        "lives longer than 3600",
        id="lifetime-without-iat",
    ),
    pytest.param(
        lambda: sign(claims(request_uri=REQUEST_URI_PREFIX + "x")),
        "cannot hold 'request_uri'",
        id="request_uri-inside",
    ),
    pytest.param(
        lambda: sign(claims(request="e30.e30.")), "cannot hold 'request'", id="request-inside"
    ),
    pytest.param(
        lambda: sign(claims(scope=["openid", "profile"])),
        "'scope' must be a string",
        id="scope-list",
    ),
    pytest.param(
        lambda: sign(claims(max_age=True)), "'max_age' must be a string", id="max_age-bool"
    ),
    pytest.param(lambda: sign(claims(state="s" * 5000)), "too large", id="parameter-too-long"),
]


@pytest.mark.parametrize(("token", "reason"), REFUSED)
async def test_a_bad_object_is_invalid_request_object(
    objects: RequestObjects, token: Callable[[], str], reason: str
) -> None:
    with pytest.raises(InvalidRequestObject, match=reason):
        await objects.unpack(query(token()))


async def test_a_dpop_jkt_claim_is_a_parameter_of_the_request(objects: RequestObjects) -> None:
    """RFC 9449 section 10 beside RFC 9101: the signed object may bind the code."""
    jkt = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
    unpacked = await objects.unpack(query(sign(claims(dpop_jkt=jkt)), dpop_jkt="ignored"))
    assert unpacked == replace(SIGNED, dpop_jkt=jkt)
    with pytest.raises(InvalidRequestObject, match="'dpop_jkt' must be a string"):
        await objects.unpack(query(sign(claims(dpop_jkt={"kty": "EC"}))))


async def test_hs256_is_refused_even_where_an_allow_list_names_it(
    clients: FakeClientDirectory,
) -> None:
    """Misconfigured with a MAC alg allowed, the public key still does not key it."""
    lenient = RequestObjects(
        clients, ClientKeySets(), issuer=ISSUER, allowed_algs=(*ClientSigningAlg, "HS256")
    )
    with pytest.raises(InvalidRequestObject, match="Cannot verify"):
        await lenient.unpack(query(mac_with_the_public_key()))


async def test_the_clients_registered_alg_is_the_only_one(objects: RequestObjects) -> None:
    with pytest.raises(InvalidRequestObject, match="signs its request objects with ES256"):
        await objects.unpack(query(sign(claims("es-only"), alg="RS256"), client_id="es-only"))
    unpacked = await objects.unpack(
        query(sign(claims("es-only"), alg="ES256"), client_id="es-only")
    )
    assert unpacked.client_id == "es-only" and unpacked.state == "signed-state"


async def test_a_client_without_keys_cannot_sign(objects: RequestObjects) -> None:
    with pytest.raises(InvalidRequestObject, match="registered no keys"):
        await objects.unpack(query(sign(claims("keyless")), client_id="keyless"))


@pytest.mark.parametrize(
    ("request_", "reason"),
    [
        pytest.param(
            AuthorizationRequest.from_query([("request", "x.y.z")]),
            "Missing 'client_id'",
            id="no-client_id",
        ),
        pytest.param(
            AuthorizationRequest.from_query(
                [("client_id", "web"), ("request", "x.y.z"), ("request_uri", "urn:x")]
            ),
            "not both",
            id="request-and-request_uri",
        ),
        pytest.param(
            AuthorizationRequest.from_query(
                [("client_id", "web"), ("client_id", "other"), ("request", "x.y.z")]
            ),
            "'client_id' was given more than once",
            id="two-client_ids",
        ),
        pytest.param(
            AuthorizationRequest.from_query([("client_id", "nobody"), ("request", "x.y.z")]),
            "Unknown client_id",
            id="unknown-client",
        ),
    ],
)
async def test_what_names_no_client_is_invalid_request(
    objects: RequestObjects, request_: AuthorizationRequest, reason: str
) -> None:
    with pytest.raises(InvalidRequest, match=reason) as raised:
        await objects.unpack(request_)
    assert type(raised.value) is InvalidRequest


async def test_verify_answers_the_claims(
    objects: RequestObjects, clients: FakeClientDirectory
) -> None:
    payload = claims(alg="ignored")
    verified = await objects.verify(sign(payload, alg="PS256"), clients.clients["web"])
    assert verified == payload


async def test_the_injected_clock_decides_expiry(clients: FakeClientDirectory) -> None:
    clock = Clock()  # 2025-03-01 12:00 UTC
    then = int(clock.now.timestamp())
    at_then = RequestObjects(clients, ClientKeySets(), issuer=ISSUER, clock=clock)
    token = sign(claims(iat=then, exp=then + 300))
    assert await at_then.unpack(query(token)) == SIGNED


# -- SignIn.start -----------------------------------------------------------------------


def sign_in_with(
    clients: FakeClientDirectory,
    objects: RequestObjects,
    login: PasswordLogin,
    consents: ConsentRegistry,
    codes: AuthorizationCodes,
    clock: Clock,
    pushed: PushedRequests | None = None,
) -> SignIn:
    return SignIn(
        AuthorizationRequestValidator(clients),
        MemoryInteractionStore(),
        login,
        consents,
        codes,
        issuer=ISSUER,
        clock=clock,
        request_objects=objects,
        pushed=pushed,
    )


@pytest.fixture
def sign_in(
    clients: FakeClientDirectory,
    objects: RequestObjects,
    login: PasswordLogin,
    consents: ConsentRegistry,
    codes: AuthorizationCodes,
    clock: Clock,
) -> SignIn:
    return sign_in_with(clients, objects, login, consents, codes, clock)


def plain_query(client_id: str) -> list[tuple[str, str]]:
    return [
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", CB),
        ("scope", "openid"),
        ("state", "plain-state"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]


async def test_a_signed_request_reaches_the_login_page(sign_in: SignIn) -> None:
    token = sign(alg="EdDSA")
    step = await sign_in.start(
        [("client_id", "web"), ("request", token), ("state", "query-state")], BROWSER
    )
    assert isinstance(step, ShowLogin), step
    assert step.validated.request == SIGNED
    assert step.validated.redirect_uri == CB and step.validated.request.state == "signed-state"
    assert step.validated.scopes == ("openid", "profile")


async def test_a_bad_signed_request_is_shown_as_a_page(sign_in: SignIn) -> None:
    with pytest.raises(InvalidRequestObject):
        await sign_in.start([("client_id", "web"), ("request", tampered())], BROWSER)


async def test_a_client_that_must_sign_is_answered_invalid_request_unsigned(
    sign_in: SignIn,
) -> None:
    step = await sign_in.start(plain_query("strict"), BROWSER)
    assert isinstance(step, Respond), step
    assert step.redirect_uri == CB
    answer = {k: v[0] for k, v in parse_qs(urlsplit(step.location).query).items()}
    assert answer["error"] == "invalid_request"
    assert "must sign" in answer["error_description"]
    assert answer["state"] == "plain-state" and answer["iss"] == ISSUER
    # Signed, the same client gets on.
    signed = await sign_in.start(
        [("client_id", "strict"), ("request", sign(claims("strict")))], BROWSER
    )
    assert isinstance(signed, ShowLogin), signed


# -- pushed requests ---------------------------------------------------------------------


class FakeAuthenticator:
    async def authenticate(self, credentials: PresentedCredentials) -> str:
        if credentials.client_secret != "s3cret":
            raise InvalidClient("Client authentication failed")
        return credentials.client_id


def credentials(client_id: str) -> PresentedCredentials:
    return PresentedCredentials(client_id, "s3cret", "client_secret_basic")


@pytest.fixture
def pushed(
    clients: FakeClientDirectory, objects: RequestObjects, kv: MemoryKeyValue
) -> PushedRequests:
    return PushedRequests(
        AuthorizationRequestValidator(clients),
        FakeAuthenticator(),
        kv,
        id_factory=iter([f"ref-{n}" for n in range(100)]).__next__,
        request_objects=objects,
    )


async def test_a_pushed_request_object_is_kept_unpacked_and_taken_as_signed(
    pushed: PushedRequests, kv: MemoryKeyValue
) -> None:
    # The form may leave client_id out: the authenticated client's is the query's.
    answer = await pushed.push(credentials("web"), [("request", sign(alg="ES256"))])
    assert answer.request_uri == REQUEST_URI_PREFIX + "ref-0"
    raw = await kv.get(KEY_PREFIX + sha256_hex("ref-0"))
    assert raw is not None
    record = json.loads(raw)
    assert record == {
        "client_id": "web",
        "parameters": [list(pair) for pair in parameters_of(SIGNED)],
        "signed": True,
    }
    taken, signed = await pushed.take(
        AuthorizationRequest(client_id="web", request_uri=answer.request_uri)
    )
    assert taken == SIGNED and signed is True


async def test_an_unsigned_push_of_a_client_that_must_sign_is_refused(
    pushed: PushedRequests, kv: MemoryKeyValue
) -> None:
    with pytest.raises(InvalidRequest, match="must sign"):
        await pushed.push(credentials("strict"), plain_query("strict"))
    with pytest.raises(InvalidRequestObject):
        await pushed.push(credentials("web"), [("request", tampered())])


async def test_a_signed_push_satisfies_a_client_that_must_sign(
    clients: FakeClientDirectory,
    objects: RequestObjects,
    pushed: PushedRequests,
    login: PasswordLogin,
    consents: ConsentRegistry,
    codes: AuthorizationCodes,
    clock: Clock,
) -> None:
    answer = await pushed.push(credentials("strict"), [("request", sign(claims("strict")))])
    sign_in = sign_in_with(clients, objects, login, consents, codes, clock, pushed=pushed)
    step = await sign_in.start(
        [("client_id", "strict"), ("request_uri", answer.request_uri)], BROWSER
    )
    assert isinstance(step, ShowLogin), step
    assert step.validated.request.state == "signed-state"
