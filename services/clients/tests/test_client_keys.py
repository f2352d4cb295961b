"""A client's public keys and request-object settings (RFC 7591 section 2, RFC 9101
section 10.5, OpenID Connect Registration 1.0 section 2): what the registry
accepts, stores canonical, and refuses with invalid_client_metadata naming the rule."""

from __future__ import annotations

import json
from typing import Any

import pytest

from common.errors import InvalidClientMetadata
from common.settings import CommonSettings
from services.clients.app import build_registry
from services.clients.domain import ClientRegistration, ClientRegistry, RegistrationPolicy
from services.clients.domain.jwks import MAX_JWKS_BYTES, canonical_json
from services.clients.domain.metadata import validate_metadata
from services.clients.domain.model import ClientMetadata
from services.clients.settings import ClientsSettings
from services.clients.tests.fakes import MemoryClientStore, MemoryInitialAccessTokenStore
from services.clients.tests.keys import (
    ec_jwk,
    key_set,
    okp_jwk,
    rsa_jwk,
    rsa_private_jwk,
)

APP = "https://app.example.com/callback"


def validate(jwks_uri_allow_http: bool = False, **fields: Any) -> ClientMetadata:
    return validate_metadata(
        ClientMetadata(redirect_uris=(APP,), **fields),
        client_id="cid",
        jwks_uri_allow_http=jwks_uri_allow_http,
    )


def refused(**fields: Any) -> str:
    with pytest.raises(InvalidClientMetadata) as caught:
        validate(**fields)
    assert type(caught.value) is InvalidClientMetadata
    return caught.value.description


# --- jwks ---------------------------------------------------------------------------


def test_defaults_are_no_keys_and_any_alg() -> None:
    metadata = validate()
    assert (metadata.jwks, metadata.jwks_uri) == ("", "")
    assert metadata.require_signed_request_object is False
    assert metadata.request_object_signing_alg == ""


def test_a_set_of_rsa_ec_and_okp_keys_is_kept_as_canonical_json() -> None:
    document = {"keys": [rsa_jwk(), ec_jwk(), okp_jwk(kid=None)], "x-note": "rotated"}
    text = json.dumps(document, indent=4)  # any spelling of the same JSON
    metadata = validate(jwks=text)
    assert metadata.jwks == json.dumps(document, separators=(",", ":"), sort_keys=True)
    assert json.loads(metadata.jwks) == document
    # Validating the stored form again changes nothing.
    assert validate(jwks=metadata.jwks).jwks == metadata.jwks


@pytest.mark.parametrize(
    ("jwks", "message"),
    [
        ("not json", "'jwks' must be a JWK Set: a JSON object with a 'keys' array"),
        ('[{"kty": "EC"}]', "'jwks' must be a JWK Set: a JSON object with a 'keys' array"),
        ('{"keys": NaN}', "'jwks' must be a JWK Set: a JSON object with a 'keys' array"),
        ("{}", "'jwks' must be a JWK Set: a JSON object with a 'keys' array"),
        ('{"keys": {}}', "'jwks' must be a JWK Set: a JSON object with a 'keys' array"),
        ('{"keys": []}', "'jwks' must hold 1 to 10 keys in 'keys'"),
        ('{"keys": ["k"]}', "'jwks' keys[0] must be a JSON object (a JWK)"),
    ],
)
def test_a_set_must_be_an_object_with_keys(jwks: str, message: str) -> None:
    assert refused(jwks=jwks) == message


def test_at_most_ten_keys() -> None:
    keys = [ec_jwk(kid=f"k{index}") for index in range(10)]
    assert len(json.loads(validate(jwks=json.dumps({"keys": keys})).jwks)["keys"]) == 10
    keys.append(ec_jwk(kid="k10"))
    assert refused(jwks=json.dumps({"keys": keys})) == "'jwks' must hold 1 to 10 keys in 'keys'"


@pytest.mark.parametrize("member", ["d", "p", "q", "dp", "dq", "qi", "oth", "k"])
def test_private_members_are_refused(member: str) -> None:
    key = {**ec_jwk(), member: "AAAA"}
    message = refused(jwks=json.dumps(key_set(key)))
    assert message == (
        f"'jwks' keys[0] holds private key material ('{member}'): private keys must never "
        "be registered; register the public key only"
    )


def test_a_private_rsa_key_is_refused() -> None:
    message = refused(jwks=json.dumps(key_set(ec_jwk(), rsa_private_jwk())))
    assert message.startswith("'jwks' keys[1] holds private key material ('d')")
    assert "private keys must never be registered" in message


@pytest.mark.parametrize(
    "key",
    [
        {"kty": "oct"},
        {"kty": "oct", "alg": "HS256"},
        {"kty": "rsa", "n": "AQAB", "e": "AQAB"},
        {"kty": ["RSA"]},
        {"crv": "P-256", "x": "AAAA", "y": "AAAA"},
    ],
)
def test_only_rsa_ec_and_okp_key_types(key: dict[str, Any]) -> None:
    assert refused(jwks=json.dumps(key_set(key))) == (
        "'jwks' keys[0]: 'kty' must be RSA, EC or OKP (symmetric oct keys are refused)"
    )


@pytest.mark.parametrize(
    ("key", "kty"),
    [
        ({"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"}, "EC"),
        ({"kty": "EC", "crv": "P-999", "x": "AAAA", "y": "AAAA"}, "EC"),
        ({"kty": "OKP", "crv": "X25519", "x": "AAAA"}, "OKP"),
        ({"kty": "RSA", "n": 7, "e": "AQAB"}, "RSA"),
        ({**ec_jwk(), "alg": "RS256"}, "EC"),
        ({**ec_jwk(), "alg": "none"}, "EC"),
        ({"kty": "RSA"}, "RSA"),
    ],
)
def test_each_key_must_parse(key: dict[str, Any], kty: str) -> None:
    message = refused(jwks=json.dumps(key_set(key)))
    assert message.startswith(f"'jwks' keys[0] is not a valid {kty} public key: ")


def test_rsa_keys_of_fewer_than_2048_bits_are_refused() -> None:
    assert refused(jwks=json.dumps(key_set(rsa_jwk(bits=1024)))) == (
        "'jwks' keys[0]: an RSA key must have at least 2048 bits (this one has 1024)"
    )
    assert validate(jwks=json.dumps(key_set(rsa_jwk(bits=3072)))).jwks


def test_kids_must_be_unique_strings_when_present() -> None:
    same = key_set(ec_jwk(kid="a"), okp_jwk(kid="a"))
    assert refused(jwks=json.dumps(same)) == (
        "'jwks' holds two keys with kid 'a': each 'kid' must be unique"
    )
    assert refused(jwks=json.dumps(key_set(ec_jwk(kid=3)))) == (  # type: ignore[arg-type]
        "'jwks' keys[0]: 'kid' must be a string"
    )
    # Keys without a kid do not collide.
    assert validate(jwks=json.dumps(key_set(ec_jwk(kid=None), okp_jwk(kid=None)))).jwks


def test_at_most_16_kib_of_canonical_json() -> None:
    def padded(size: int) -> dict[str, Any]:
        document = key_set(ec_jwk())
        filler = MAX_JWKS_BYTES - len(canonical_json({**document, "x": ""})) + size
        return {**document, "x": "a" * filler}

    assert len(validate(jwks=json.dumps(padded(0))).jwks) == MAX_JWKS_BYTES
    assert refused(jwks=json.dumps(padded(1))) == (
        "'jwks' is larger than 16 KiB; register fewer keys or a 'jwks_uri'"
    )


# --- jwks_uri -----------------------------------------------------------------------


def test_jwks_uri_https() -> None:
    uri = "https://app.example.com/.well-known/jwks.json?v=2"
    assert validate(jwks_uri=uri).jwks_uri == uri
    assert validate(jwks_uri="https://app.example.com:8443/" + "a" * 2000).jwks_uri


HTTPS_ONLY = (
    "'jwks_uri' must be an absolute https URL with a host and no fragment, at most 2048 characters"
)


@pytest.mark.parametrize(
    "uri",
    [
        "http://app.example.com/jwks",
        "/jwks",
        "app.example.com/jwks",
        "https:///jwks",
        "https://app.example.com/jwks#keys",
        "https://app.example.com/jwks#",
        "https://app.example.com/" + "a" * 2030,
        "https://app.example.com/a b",
        "https://app.example.com:99999/jwks",
        "ftp://app.example.com/jwks",
    ],
)
def test_jwks_uri_refused(uri: str) -> None:
    assert refused(jwks_uri=uri) == HTTPS_ONLY


def test_http_only_with_the_setting() -> None:
    assert CommonSettings().jwks_uri_allow_http is False
    uri = "http://127.0.0.1:8000/jwks"
    assert validate(jwks_uri_allow_http=True, jwks_uri=uri).jwks_uri == uri
    with pytest.raises(InvalidClientMetadata, match=r"absolute http\(s\) URL"):
        validate(jwks_uri_allow_http=True, jwks_uri="ftp://127.0.0.1/jwks")


def test_jwks_and_jwks_uri_never_both() -> None:
    assert refused(jwks=json.dumps(key_set()), jwks_uri="https://app.example.com/jwks") == (
        "'jwks' and 'jwks_uri' must not both be present (RFC 7591 section 2); register one of them"
    )


# --- request objects ----------------------------------------------------------------


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256", "EdDSA"])
def test_request_object_signing_algs(alg: str) -> None:
    metadata = validate(request_object_signing_alg=alg, require_signed_request_object=True)
    assert metadata.request_object_signing_alg == alg
    assert metadata.require_signed_request_object is True


@pytest.mark.parametrize("alg", ["none", "HS256", "RS384", "es256", "eddsa", " RS256"])
def test_other_request_object_signing_algs_are_refused(alg: str) -> None:
    assert refused(request_object_signing_alg=alg) == (
        f"Unsupported 'request_object_signing_alg' {alg!r}; use RS256, PS256, ES256, EdDSA "
        "(or leave it out for any of them)"
    )


# --- through the registry and registration ----------------------------------------------


async def test_update_masks_and_replacing_the_key_source(registry: ClientRegistry) -> None:
    keys = json.dumps(key_set(ec_jwk()))
    client, _ = await registry.create(
        ClientMetadata(redirect_uris=(APP,), jwks=keys, request_object_signing_alg="ES256")
    )
    assert client.jwks == canonical_json(key_set(ec_jwk()))
    # Other fields leave the keys alone.
    renamed = await registry.update(
        client.client_id, ClientMetadata(client_name="x"), ["client_name"]
    )
    assert (renamed.jwks, renamed.request_object_signing_alg) == (client.jwks, "ES256")
    # jwks_uri beside the registered jwks is both: refused until jwks is cleared too.
    uri = "https://app.example.com/jwks"
    with pytest.raises(InvalidClientMetadata, match="must not both be present"):
        await registry.update(client.client_id, ClientMetadata(jwks_uri=uri), ["jwks_uri"])
    switched = await registry.update(
        client.client_id, ClientMetadata(jwks_uri=uri), ["jwks", "jwks_uri"]
    )
    assert (switched.jwks, switched.jwks_uri) == ("", uri)
    signed = await registry.update(
        client.client_id,
        ClientMetadata(require_signed_request_object=True),
        ["require_signed_request_object"],
    )
    assert signed.require_signed_request_object is True
    assert signed.metadata().jwks_uri == uri


async def test_the_setting_reaches_the_registry_and_registration() -> None:
    store = MemoryClientStore()
    uri = "http://localhost:9000/jwks"
    strict = build_registry(ClientsSettings(), engine=None, kv=None)  # type: ignore[arg-type]
    with pytest.raises(InvalidClientMetadata, match="absolute https URL"):
        strict.validate(ClientMetadata(jwks_uri=uri), client_id="c")
    relaxed = build_registry(
        ClientsSettings(jwks_uri_allow_http=True),
        engine=None,  # type: ignore[arg-type]
        kv=None,  # type: ignore[arg-type]
    )
    assert relaxed.validate(ClientMetadata(jwks_uri=uri), client_id="c").jwks_uri == uri

    registry = ClientRegistry(store, jwks_uri_allow_http=True)
    registration = ClientRegistration(
        registry,
        MemoryInitialAccessTokenStore(),
        RegistrationPolicy.of(
            grant_types=["authorization_code", "refresh_token"],
            scopes=["openid"],
            auth_methods=["none"],
        ),
        mode="open",
    )
    registered = await registration.register(
        ClientMetadata(
            redirect_uris=(APP,),
            token_endpoint_auth_method="none",
            jwks_uri=uri,
            require_signed_request_object=True,
            request_object_signing_alg="EdDSA",
        )
    )
    client = registered.client
    assert (client.jwks_uri, client.require_signed_request_object) == (uri, True)
    assert client.request_object_signing_alg == "EdDSA"
    with pytest.raises(InvalidClientMetadata, match="private keys must never be registered"):
        await registration.register(
            ClientMetadata(
                redirect_uris=(APP,),
                token_endpoint_auth_method="none",
                jwks=json.dumps(key_set(rsa_private_jwk())),
            )
        )
