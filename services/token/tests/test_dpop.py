"""DPoP (RFC 9449) in the token service: the proof checks of section 4.3, server
nonces (section 8), and tokens bound to the key (``cnf.jkt``) at the token endpoint,
in introspection and at the gateway's resources (``verify_bearer``). Proofs are made
with joserfc, an independent JOSE library; tokens are read with it too."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from typing import Any

import pytest
from joserfc import jwt as jose_jwt
from joserfc.jwk import ECKey, KeySet, OKPKey, RSAKey

from common.errors import (
    DpopBoundToken,
    InvalidDpopProof,
    InvalidToken,
    TemporarilyUnavailable,
    UseDpopNonce,
)
from common.kv import MemoryKeyValue
from common.replay import ReplayCache
from common.secrets import sha256_hex
from services.token.domain.dpop import (
    DpopNonces,
    DpopProof,
    DpopVerifier,
    access_token_hash,
    normalized_uri,
)
from services.token.domain.grants.base import TokenRequest
from services.token.domain.ports import ClientCredentials
from services.token.tests.conftest import ISSUER, Wired
from services.token.tests.people import (
    exchange_code,
    introspect,
    issue_code,
    refresh,
    register_spa,
    register_web,
)

VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"

TOKEN_URL = ISSUER + "/oauth/token"
USERINFO_URL = ISSUER + "/oauth/userinfo"
SECRET = b"k" * 32


def make_proof(
    key: ECKey | RSAKey | OKPKey,
    alg: str = "ES256",
    *,
    htm: str = "POST",
    htu: str = TOKEN_URL,
    header: dict[str, Any] | None = None,
    public: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    payload: dict[str, Any] = {
        "jti": str(uuid.uuid4()),
        "htm": htm,
        "htu": htu,
        "iat": int(time.time()),
        **claims,
    }
    payload = {name: value for name, value in payload.items() if value is not None}
    head = {
        "typ": "dpop+jwt",
        "alg": alg,
        "jwk": public if public is not None else key.as_dict(private=False),
        **(header or {}),
    }
    return jose_jwt.encode(head, payload, key, algorithms=[alg])


def unsigned(key: ECKey, **claims: Any) -> str:
    """alg=none, which no JOSE library will make."""

    def part(value: dict[str, Any]) -> str:
        raw = json.dumps(value).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    head = {"typ": "dpop+jwt", "alg": "none", "jwk": key.as_dict(private=False)}
    body = {"jti": "x", "htm": "POST", "htu": TOKEN_URL, "iat": int(time.time()), **claims}
    return f"{part(head)}.{part(body)}."


def verifier(**options: Any) -> DpopVerifier:
    return DpopVerifier(ReplayCache(MemoryKeyValue(), "dpop"), DpopNonces(SECRET), **options)


def at_token(proof: str, htm: str = "POST", htu: str = TOKEN_URL) -> DpopProof:
    return DpopProof(proof=proof, htm=htm, htu=htu)


@pytest.fixture(scope="module")
def key() -> ECKey:
    return ECKey.generate_key("P-256")


@pytest.fixture(scope="module")
def other_key() -> ECKey:
    return ECKey.generate_key("P-256")


# joserfc calls EdDSA deprecated (RFC 9864); clients still send it, and it is allowed.
@pytest.mark.filterwarnings("ignore::joserfc.errors.SecurityWarning")
@pytest.mark.parametrize(
    "made",
    [
        lambda: (ECKey.generate_key("P-256"), "ES256"),
        lambda: (RSAKey.generate_key(2048), "PS256"),
        lambda: (RSAKey.generate_key(2048), "RS256"),
        lambda: (OKPKey.generate_key("Ed25519"), "EdDSA"),
    ],
    ids=["ES256", "PS256", "RS256", "EdDSA"],
)
async def test_a_valid_proof_gives_its_keys_rfc7638_thumbprint(made: Any) -> None:
    key, alg = made()
    proven = await verifier().verify(at_token(make_proof(key, alg)))
    assert proven.jkt == key.thumbprint()
    assert proven.next_nonce == ""


async def test_htu_compares_as_rfc3986_normalises(key: ECKey) -> None:
    check = verifier()
    for written in (
        "HTTPS://AS.example.test/oauth/token",
        "https://as.example.test:443/oauth/token",
        "https://as.example.test/oauth/token?query=ignored#and-fragment",
        "https://as.example.test/oauth/%74oken",
    ):
        await check.verify(at_token(make_proof(key, htu=written)))
    assert normalized_uri("https://h.example/") == "https://h.example/"
    assert normalized_uri("https://h.example") == "https://h.example/"
    assert normalized_uri("http://h.example:8080/a") == "http://h.example:8080/a"
    assert normalized_uri("ftp://h.example/a") is None
    assert normalized_uri("/oauth/token") is None
    assert normalized_uri("https://h.example:99999/") is None


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ({"htu": ISSUER + "/oauth/other"}, "htu"),
        ({"htu": "https://elsewhere.example/oauth/token"}, "htu"),
        ({"htu": "http://as.example.test/oauth/token"}, "htu"),
        ({"htm": "GET"}, "htm"),
        ({"iat": int(time.time()) - 3600}, "too old"),
        ({"iat": int(time.time()) + 3600}, "future"),
        ({"iat": "now"}, "iat"),
        ({"jti": None}, "'jti'"),
        ({"htm": None}, "'htm'"),
        ({"htu": None}, "'htu'"),
        ({"iat": None}, "'iat'"),
        ({"jti": "x" * 300}, "jti"),
        ({"exp": int(time.time()) - 10}, "expired"),
        ({"header": {"typ": "JWT"}}, "typ"),
        ({"header": {"typ": None}}, "typ"),
        ({"alg": "HS256"}, "alg"),
    ],
    ids=lambda value: str(value)[:40],
)
async def test_each_broken_rule_is_invalid_dpop_proof(
    key: ECKey, case: dict[str, Any], expected: str
) -> None:
    case = dict(case)
    if case.get("alg") == "HS256":
        proof = make_proof(key)
        head, body, _ = proof.split(".")
        header = json.loads(base64.urlsafe_b64decode(head + "=="))
        header["alg"] = "HS256"
        forged = base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode()
        proof = f"{forged}.{body}.c2ln"
    else:
        header = case.pop("header", None)
        if header and header.get("typ") is None:
            # No typ at all.
            untyped: dict[str, Any] = {"alg": "ES256", "jwk": key.as_dict(private=False)}
            claims = {"jti": "j", "htm": "POST", "htu": TOKEN_URL, "iat": int(time.time())}
            proof = jose_jwt.encode(untyped, claims, key, algorithms=["ES256"])
        else:
            proof = make_proof(key, header=header, **case)
    with pytest.raises(InvalidDpopProof) as refused:
        await verifier().verify(at_token(proof))
    assert expected in refused.value.description


async def test_keys_that_prove_nothing_are_refused(key: ECKey, other_key: ECKey) -> None:
    check = verifier()
    cases = {
        "signed by another key than its jwk": make_proof(
            key, public=other_key.as_dict(private=False)
        ),
        "a private jwk": make_proof(key, public=key.as_dict(private=True)),
        "no jwk": make_proof(key, public={}),
        "a jwk for another alg": make_proof(
            key, public=RSAKey.generate_key(2048).as_dict(private=False)
        ),
        "alg none": unsigned(key),
        "not a JWT": "not-a-jwt",
        "too long": "a" * 9000,
    }
    for name, proof in cases.items():
        with pytest.raises(InvalidDpopProof):
            await check.verify(at_token(proof))
        assert name  # each case named in the failure's traceback


async def test_a_proof_is_good_once(key: ECKey) -> None:
    check = verifier()
    proof = make_proof(key)
    await check.verify(at_token(proof))
    with pytest.raises(InvalidDpopProof, match="used before"):
        await check.verify(at_token(proof))


async def test_an_unanswering_replay_cache_refuses_rather_than_allow_a_replay(
    key: ECKey,
) -> None:
    class Down(MemoryKeyValue):
        async def set_if_absent(
            self, key: str, value: bytes | str, ttl: float | None = None
        ) -> bool:
            raise ConnectionError("redis down")

    check = DpopVerifier(ReplayCache(Down(), "dpop"), DpopNonces(SECRET))
    with pytest.raises(TemporarilyUnavailable):
        await check.verify(at_token(make_proof(key)))


async def test_ath_binds_the_proof_to_the_access_token(key: ECKey) -> None:
    check = verifier()
    token = "eyJ.access.token"
    good = make_proof(key, htm="GET", htu=USERINFO_URL, ath=access_token_hash(token))
    await check.verify(at_token(good, "GET", USERINFO_URL), access_token=token)
    for ath in (access_token_hash("another"), None):
        with pytest.raises(InvalidDpopProof, match="ath"):
            await check.verify(
                at_token(
                    make_proof(key, htm="GET", htu=USERINFO_URL, ath=ath), "GET", USERINFO_URL
                ),
                access_token=token,
            )
    expected = base64.urlsafe_b64encode(hashlib.sha256(token.encode()).digest()).rstrip(b"=")
    assert access_token_hash(token) == expected.decode()


async def test_nonces_when_required(key: ECKey) -> None:
    now = [1_000_000.0]
    nonces = DpopNonces(SECRET, clock=lambda: now[0])
    check = DpopVerifier(
        ReplayCache(MemoryKeyValue(), "dpop"),
        nonces,
        require_nonce=True,
        clock=lambda: now[0],
    )
    with pytest.raises(UseDpopNonce) as missing:
        await check.verify(at_token(make_proof(key, iat=int(now[0]))))
    nonce = missing.value.dpop_nonce
    assert nonce == nonces.current()
    proven = await check.verify(at_token(make_proof(key, iat=int(now[0]), nonce=nonce)))
    assert proven.next_nonce == ""  # the current one: nothing new to say
    # Two steps on it is still accepted, and the answer carries the fresh one.
    now[0] += 120
    proven = await check.verify(at_token(make_proof(key, iat=int(now[0]), nonce=nonce)))
    assert proven.next_nonce == nonces.current() != nonce
    now[0] += 180
    with pytest.raises(UseDpopNonce, match="stale") as stale:
        await check.verify(at_token(make_proof(key, iat=int(now[0]), nonce=nonce)))
    assert stale.value.dpop_nonce == nonces.current()
    with pytest.raises(UseDpopNonce):
        await check.verify(at_token(make_proof(key, iat=int(now[0]), nonce="made-up-é")))


async def test_a_nonce_another_replica_made_is_accepted(key: ECKey) -> None:
    """Every replica derives its nonces from the same key (the KEK)."""
    one, two = DpopNonces(SECRET), DpopNonces(SECRET)
    assert one.accepts(two.current())
    assert not DpopNonces(b"x" * 32).accepts(one.current())


# -- the token endpoint, introspection and resources --------------------------------


def token_request(credentials: ClientCredentials, proof: str = "", **fields: Any) -> TokenRequest:
    return TokenRequest(
        grant_type="client_credentials",
        credentials=credentials,
        dpop=at_token(proof) if proof else None,
        **fields,
    )


def claims_of(wired: Wired, token: str) -> dict[str, Any]:
    key_set = KeySet.import_key_set({"keys": wired.domain.keys.jwks()})  # type: ignore[typeddict-item]
    return dict(jose_jwt.decode(token, key_set, algorithms=["ES256"]).claims)


async def test_client_credentials_with_a_proof_is_bound(wired: Wired, key: ECKey) -> None:
    creds = await wired.clients.register("svc-dpop")
    response = await wired.domain.token_endpoint.exchange(token_request(creds, make_proof(key)))
    assert response.token_type == "DPoP"
    assert claims_of(wired, response.access_token)["cnf"] == {"jkt": key.thumbprint()}

    bearer = await wired.domain.token_endpoint.exchange(token_request(creds))
    assert bearer.token_type == "Bearer"
    assert "cnf" not in claims_of(wired, bearer.access_token)

    introspected = await wired.domain.introspection.introspect(response.access_token, "", creds)
    assert (introspected.token_type, introspected.cnf_jkt) == ("DPoP", key.thumbprint())
    plain = await wired.domain.introspection.introspect(bearer.access_token, "", creds)
    assert (plain.token_type, plain.cnf_jkt) == ("Bearer", "")


async def test_a_client_registered_dpop_bound_needs_a_proof(wired: Wired, key: ECKey) -> None:
    creds = await wired.clients.register("svc-bound", dpop_bound_access_tokens=True)
    endpoint = wired.domain.token_endpoint
    with pytest.raises(InvalidDpopProof, match="must be DPoP-bound"):
        await endpoint.exchange(token_request(creds))
    response = await endpoint.exchange(token_request(creds, make_proof(key)))
    assert response.token_type == "DPoP"


async def test_resources_take_a_bound_token_only_with_its_keys_proof(
    wired: Wired, key: ECKey, other_key: ECKey
) -> None:
    creds = await wired.clients.register("svc-resource")
    issued = await wired.domain.token_endpoint.exchange(token_request(creds, make_proof(key)))
    token = issued.access_token
    check = wired.domain.introspection

    def proof_for(signer: ECKey, **claims: Any) -> DpopProof:
        claims.setdefault("ath", access_token_hash(token))
        made = make_proof(signer, htm="GET", htu=USERINFO_URL, **claims)
        return at_token(made, "GET", USERINFO_URL)

    result = await check.verify_bearer(token, scheme="DPoP", dpop=proof_for(key))
    assert result.cnf_jkt == key.thumbprint()
    with pytest.raises(DpopBoundToken):
        await check.verify_bearer(token, scheme="Bearer")
    with pytest.raises(InvalidDpopProof, match="not the one"):
        await check.verify_bearer(token, scheme="DPoP", dpop=proof_for(other_key))
    with pytest.raises(InvalidDpopProof, match="needs a DPoP proof"):
        await check.verify_bearer(token, scheme="DPoP")
    with pytest.raises(InvalidDpopProof, match="ath"):
        await check.verify_bearer(
            token, scheme="DPoP", dpop=proof_for(key, ath=access_token_hash("x"))
        )

    bearer = (await wired.domain.token_endpoint.exchange(token_request(creds))).access_token
    await check.verify_bearer(bearer, scheme="Bearer")
    with pytest.raises(InvalidToken, match="not DPoP-bound"):
        await check.verify_bearer(bearer, scheme="DPoP", dpop=proof_for(key))


# -- codes and refresh tokens bound to the key (RFC 9449 sections 5 and 10) ----------


def proof_at_token(signer: ECKey) -> DpopProof:
    return at_token(make_proof(signer))


async def test_a_code_bound_by_dpop_jkt_needs_that_keys_proof(
    wired: Wired, key: ECKey, other_key: ECKey
) -> None:
    creds = await register_spa(wired, "spa-bound-code")
    for wrong in (None, proof_at_token(other_key)):
        code = await issue_code(
            wired, "spa-bound-code", verifier=VERIFIER, dpop_jkt=key.thumbprint()
        )
        with pytest.raises(InvalidDpopProof):
            await exchange_code(wired, creds, code, VERIFIER, dpop=wrong)
    code = await issue_code(wired, "spa-bound-code", verifier=VERIFIER, dpop_jkt=key.thumbprint())
    response = await exchange_code(wired, creds, code, VERIFIER, dpop=proof_at_token(key))
    assert response.token_type == "DPoP"
    assert claims_of(wired, response.access_token)["cnf"] == {"jkt": key.thumbprint()}


async def test_a_public_clients_refresh_token_is_bound_to_the_key(
    wired: Wired, key: ECKey, other_key: ECKey
) -> None:
    creds = await register_spa(wired, "spa-bound-refresh")
    code = await issue_code(wired, "spa-bound-refresh", verifier=VERIFIER)
    first = await exchange_code(wired, creds, code, VERIFIER, dpop=proof_at_token(key))
    assert first.refresh_token
    family = wired.grants.families[sha256_hex(code)]
    assert family.dpop_jkt == key.thumbprint()
    introspected = await introspect(wired, first.refresh_token)
    assert introspected.cnf_jkt == key.thumbprint()

    for wrong in (None, proof_at_token(other_key)):
        with pytest.raises(InvalidDpopProof):
            await refresh(wired, creds, first.refresh_token, dpop=wrong)
    # Refused before rotation: the holder of the key still refreshes with it.
    second = await refresh(wired, creds, first.refresh_token, dpop=proof_at_token(key))
    assert second.token_type == "DPoP"
    assert claims_of(wired, second.access_token)["cnf"] == {"jkt": key.thumbprint()}
    with pytest.raises(InvalidDpopProof):
        await refresh(wired, creds, second.refresh_token)


async def test_a_confidential_clients_refresh_token_stays_bound_to_its_authentication(
    wired: Wired, key: ECKey
) -> None:
    """Section 5: bound by client authentication already, it is not tied to the key;
    each access token is bound to the key of the proof it was asked with."""
    creds = await register_web(wired, "web-dpop")
    code = await issue_code(wired, "web-dpop", verifier=VERIFIER)
    first = await exchange_code(wired, creds, code, VERIFIER, dpop=proof_at_token(key))
    assert first.token_type == "DPoP"
    assert wired.grants.families[sha256_hex(code)].dpop_jkt == ""
    second = await refresh(wired, creds, first.refresh_token)
    assert second.token_type == "Bearer"
