"""The token endpoint with the client_credentials grant (RFC 6749 section 4.4),
tokens checked with joserfc against the published JWKS (RFC 9068 section 4)."""

from __future__ import annotations

import dataclasses
import time
from typing import Any, ClassVar

import pytest
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet
from oauth2.v1 import token_pb2

from common.errors import (
    InvalidClient,
    InvalidRequest,
    InvalidScope,
    UnauthorizedClient,
    UnsupportedGrantType,
)
from services.token.domain.grants import GRANTS
from services.token.domain.grants.authorization_code import AuthorizationCodeGrant
from services.token.domain.grants.base import (
    REQUEST_PARAMETERS,
    GrantServices,
    TokenRequest,
    TokenResponse,
)
from services.token.domain.grants.client_credentials import ClientCredentialsGrant
from services.token.domain.grants.device_code import DeviceCodeGrant
from services.token.domain.grants.refresh_token import RefreshTokenGrant
from services.token.domain.grants.token_exchange import TokenExchangeGrant
from services.token.domain.ports import ClientCredentials
from services.token.domain.token_endpoint import TokenEndpoint
from services.token.tests.conftest import ISSUER, Wired, wire


def request(
    credentials: ClientCredentials, scope: str = "", grant: str = "client_credentials"
) -> TokenRequest:
    return TokenRequest(grant_type=grant, credentials=credentials, scope=scope)


def verify_with_joserfc(wired: Wired, token: str, alg: str) -> jose_jwt.Token:
    key_set = KeySet.import_key_set({"keys": wired.domain.keys.jwks()})  # type: ignore[typeddict-item]
    return jose_jwt.decode(token, key_set, algorithms=[alg])


def test_registry_is_keyed_by_grant_type() -> None:
    assert GRANTS == {
        "authorization_code": AuthorizationCodeGrant,
        "client_credentials": ClientCredentialsGrant,
        "refresh_token": RefreshTokenGrant,
        "urn:ietf:params:oauth:grant-type:device_code": DeviceCodeGrant,
        "urn:ietf:params:oauth:grant-type:token-exchange": TokenExchangeGrant,
    }


async def test_happy_path_es256(wired: Wired) -> None:
    creds = await wired.clients.register("svc-a", scope=("read", "write", "admin"))
    before = int(time.time())
    response = await wired.domain.token_endpoint.exchange(request(creds, "write read"))

    assert response.token_type == "Bearer"
    assert response.expires_in == 3600
    assert response.scope == "write read"
    assert response.refresh_token == ""  # RFC 6749 section 4.4.3
    token = verify_with_joserfc(wired, response.access_token, "ES256")
    es256 = wired.keys.signing_key("ES256")
    assert token.header == {"alg": "ES256", "kid": es256.kid, "typ": "at+jwt"}
    claims = token.claims
    assert set(claims) == {"iss", "sub", "aud", "client_id", "scope", "exp", "iat", "jti"}
    assert claims["iss"] == ISSUER
    assert claims["sub"] == "svc-a"
    assert claims["aud"] == ISSUER
    assert claims["client_id"] == "svc-a"
    assert claims["scope"] == "write read"
    assert before <= claims["iat"] <= int(time.time())
    assert claims["exp"] == claims["iat"] + 3600
    assert isinstance(claims["jti"], str) and len(claims["jti"]) >= 20
    jose_jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": ISSUER}, aud={"essential": True, "value": ISSUER}
    ).validate(claims)


async def test_rs256_when_the_client_asks(wired: Wired) -> None:
    creds = await wired.clients.register("svc-rsa", alg="RS256")
    response = await wired.domain.token_endpoint.exchange(request(creds, "read"))
    token = verify_with_joserfc(wired, response.access_token, "RS256")
    assert token.header["alg"] == "RS256"
    assert token.header["kid"] == wired.keys.signing_key("RS256").kid
    assert token.header["typ"] == "at+jwt"


async def test_empty_scope_means_the_registered_scope(wired: Wired) -> None:
    creds = await wired.clients.register("svc-b", scope=("read", "write"))
    response = await wired.domain.token_endpoint.exchange(request(creds))
    assert response.scope == "read write"
    claims = verify_with_joserfc(wired, response.access_token, "ES256").claims
    assert claims["scope"] == "read write"


async def test_no_scope_at_all_omits_the_claim(wired: Wired) -> None:
    creds = await wired.clients.register("svc-c", scope=())
    response = await wired.domain.token_endpoint.exchange(request(creds))
    assert response.scope == ""
    assert "scope" not in verify_with_joserfc(wired, response.access_token, "ES256").claims


async def test_several_audiences(wired: Wired) -> None:
    creds = await wired.clients.register("svc-aud")
    domain = wire(
        wired.keys, wired.clients, wired.revocations, audience=("https://api.a", "https://api.b")
    )
    response = await domain.token_endpoint.exchange(request(creds))
    claims = verify_with_joserfc(wired, response.access_token, "ES256").claims
    assert claims["aud"] == ["https://api.a", "https://api.b"]


async def test_each_token_has_its_own_jti(wired: Wired) -> None:
    creds = await wired.clients.register("svc-d")
    a = await wired.domain.token_endpoint.exchange(request(creds))
    b = await wired.domain.token_endpoint.exchange(request(creds))
    jti_a = verify_with_joserfc(wired, a.access_token, "ES256").claims["jti"]
    jti_b = verify_with_joserfc(wired, b.access_token, "ES256").claims["jti"]
    assert jti_a != jti_b


@pytest.mark.parametrize(
    ("grant_type", "message"),
    [
        ("password", "Unsupported grant_type 'password'"),
        (
            "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "Unsupported grant_type 'urn:ietf:params:oauth:grant-type:jwt-bearer'",
        ),
    ],
)
async def test_unsupported_grant_type_before_authentication(
    wired: Wired, grant_type: str, message: str
) -> None:
    creds = ClientCredentials("nobody", "wrong", "client_secret_basic")
    with pytest.raises(UnsupportedGrantType) as info:
        await wired.domain.token_endpoint.exchange(request(creds, grant=grant_type))
    assert info.value.description == message
    assert wired.clients.calls == 0


async def test_missing_grant_type(wired: Wired) -> None:
    with pytest.raises(InvalidRequest, match="Missing 'grant_type'"):
        await wired.domain.token_endpoint.exchange(request(ClientCredentials("x"), grant=""))


async def test_wrong_secret_is_invalid_client(wired: Wired) -> None:
    await wired.clients.register("svc-e")
    creds = ClientCredentials("svc-e", "not-the-secret", "client_secret_basic")
    with pytest.raises(InvalidClient):
        await wired.domain.token_endpoint.exchange(request(creds))


async def test_missing_client_is_invalid_client(wired: Wired) -> None:
    with pytest.raises(InvalidClient):
        await wired.domain.token_endpoint.exchange(request(ClientCredentials("")))
    assert wired.clients.calls == 0


async def test_public_client_is_unauthorized(wired: Wired) -> None:
    # Even when its registration lists the grant: section 4.4 is for confidential clients.
    # The registry refuses such a registration today, so the row is planted as an older
    # release could have stored it; the token service must refuse it all the same.
    creds = wired.clients.plant("spa", auth_method="none", grant_types=("client_credentials",))
    with pytest.raises(UnauthorizedClient) as info:
        await wired.domain.token_endpoint.exchange(request(creds))
    assert info.value.description == "Public clients may not use grant_type 'client_credentials'"
    creds = await wired.clients.register(
        "spa2", auth_method="none", grant_types=("authorization_code",)
    )
    with pytest.raises(UnauthorizedClient, match="Public clients may not"):
        await wired.domain.token_endpoint.exchange(request(creds))


async def test_grant_not_registered_for_client(wired: Wired) -> None:
    creds = await wired.clients.register("web", grant_types=("authorization_code",))
    with pytest.raises(UnauthorizedClient) as info:
        await wired.domain.token_endpoint.exchange(request(creds))
    assert info.value.description == (
        "The client is not allowed to use grant_type 'client_credentials'"
    )


async def test_scope_not_allowed(wired: Wired) -> None:
    creds = await wired.clients.register("svc-f", scope=("read",))
    with pytest.raises(InvalidScope) as info:
        await wired.domain.token_endpoint.exchange(request(creds, "read admin"))
    assert info.value.description == "Scope 'admin' is not allowed for this client"


@pytest.mark.parametrize("scope", ['read "quoted"', "read\\x", "caf\u00e9"])
async def test_bad_scope_syntax(wired: Wired, scope: str) -> None:
    creds = await wired.clients.register("svc-g")
    with pytest.raises(InvalidScope, match="Invalid scope token"):
        await wired.domain.token_endpoint.exchange(request(creds, scope))


async def test_unsupported_client_alg(wired: Wired) -> None:
    # The registry refuses 'HS256' at registration; a row stored before that rule
    # (planted here) must still be refused by the token service.
    creds = wired.clients.plant("svc-h", alg="HS256")
    with pytest.raises(UnauthorizedClient, match="'HS256' is not supported"):
        await wired.domain.token_endpoint.exchange(request(creds))


def test_each_grant_declares_the_parameters_it_reads() -> None:
    assert {grant_type: grant.PARAMETERS for grant_type, grant in GRANTS.items()} == {
        "authorization_code": {"code", "redirect_uri", "code_verifier", "resource"},
        "client_credentials": {"scope", "resource"},
        "refresh_token": {"refresh_token", "scope", "resource"},
        "urn:ietf:params:oauth:grant-type:device_code": {"device_code"},
        "urn:ietf:params:oauth:grant-type:token-exchange": {
            "subject_token",
            "subject_token_type",
            "actor_token",
            "actor_token_type",
            "requested_token_type",
            "scope",
            "resource",
            "audience",
        },
    }
    # Every declared parameter is a field of the contract's TokenRequest.
    contract = set(token_pb2.TokenRequest.DESCRIPTOR.fields_by_name)
    assert REQUEST_PARAMETERS <= contract
    # What every grant is handed: the DPoP proof, checked by the endpoint, included.
    assert contract - REQUEST_PARAMETERS == {"grant_type", "credentials", "dpop"}


class Recorder:
    """A grant that keeps what the endpoint handed it."""

    GRANT_TYPE: ClassVar[str] = "client_credentials"
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[tuple[str, ...]] = (
        ClientCredentialsGrant.TOKEN_ENDPOINT_AUTH_METHODS
    )
    PARAMETERS: ClassVar[frozenset[str]] = frozenset({"scope"})
    seen: ClassVar[list[TokenRequest]] = []

    def __init__(self, services: GrantServices) -> None:
        pass

    async def create_token_response(self, client: Any, request: TokenRequest) -> TokenResponse:
        self.seen.append(request)
        return TokenResponse(access_token="at", expires_in=60)


async def test_a_grant_is_handed_only_the_parameters_it_declares(wired: Wired) -> None:
    creds = await wired.clients.register("svc-p", scope=("read",))
    endpoint = TokenEndpoint(
        wired.clients,
        None,  # type: ignore[arg-type]  # Recorder uses none of the services
        grants={"client_credentials": Recorder},
    )
    plain = request(creds, "read")
    await endpoint.exchange(plain)
    noisy = dataclasses.replace(
        plain, code="c", refresh_token="r", redirect_uri="https://x", resource=("https://api",)
    )
    await endpoint.exchange(noisy)
    first, second = Recorder.seen
    assert first is plain  # nothing to strip: passed on as it is
    assert second == plain


def test_a_grant_declaring_a_parameter_the_contract_lacks_fails_at_start() -> None:
    class Assertion(Recorder):
        PARAMETERS: ClassVar[frozenset[str]] = frozenset({"scope", "assertion"})

    with pytest.raises(ValueError, match="does not carry: assertion"):
        TokenEndpoint(None, None, grants={"client_credentials": Assertion})  # type: ignore[arg-type]
