"""Authorization code binding to a DPoP key (RFC 9449 section 10) through the real
AuthorizeService over gRPC (SQLite, in-process KeyValue, a fake client registry): a
``dpop_jkt`` from the query, a pushed request (the parameter, the key of the push's
DPoP proof, or both) or a signed request object goes with the code and comes back
from ConsumeAuthorizationCode for the token service to check the proof against."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import grpc
import pytest
from joserfc import jwt as jose_jwt
from joserfc.jwk import ECKey
from oauth2.v1 import authorize_pb2, authorize_pb2_grpc, common_pb2

from common.db import create_engine
from common.errors import InvalidClient, InvalidDpopProof, InvalidRequest
from common.grpc_client import ServiceClient
from common.grpc_server import ErrorInterceptor
from common.kv import MemoryKeyValue
from common.migrations import upgrade
from common.services import AuthorizeClient
from services.authorize.app import MIGRATIONS_DIR, SERVICE_NAME, build_domain, servicer_adder
from services.authorize.domain.authorization_request import MALFORMED_DPOP_JKT
from services.authorize.domain.model import PresentedCredentials
from services.authorize.domain.pushed_requests import OTHER_DPOP_KEY
from services.authorize.servicer import AuthorizeServicer
from services.authorize.settings import AuthorizeSettings
from services.authorize.tests.conftest import CHEAP_ARGON2
from services.authorize.tests.fakes import FakeClientDirectory, make_client_info

Client = AuthorizeClient
CB = "https://app.example.com/cb"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
PASSWORD = "correct horse battery staple"
SECRET = "s3cret"  # the fake registry's client secret
# RFC 7638 thumbprints of two DPoP keys.
JKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
OTHER_JKT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
# The signing key of the client "signer" (RFC 9101 request objects).
SIGNER_KEY = ECKey.generate_key("P-256", parameters={"kid": "signer-1"})


class FakeAuthenticator:
    """The clients service's AuthenticateClient: the client_id for the right secret."""

    async def authenticate(self, credentials: PresentedCredentials) -> str:
        if credentials.client_secret != SECRET:
            raise InvalidClient("Client authentication failed")
        return credentials.client_id


@pytest.fixture(scope="module")
async def authorize(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Client]:
    data_dir: Path = tmp_path_factory.mktemp("authorize-dpop")
    settings = AuthorizeSettings(data_dir=data_dir, database_url=None, **CHEAP_ARGON2)
    await asyncio.to_thread(upgrade, settings, MIGRATIONS_DIR)
    engine = create_engine(settings)
    jwks = json.dumps({"keys": [SIGNER_KEY.as_dict(private=False)]})
    clients = FakeClientDirectory(make_client_info("web"), make_client_info("signer", jwks=jwks))
    server = grpc.aio.server(interceptors=[ErrorInterceptor()])
    domain = build_domain(
        settings, engine, MemoryKeyValue(), clients, authenticator=FakeAuthenticator()
    )
    servicer_adder(AuthorizeServicer(domain))(server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    client: Client = ServiceClient(
        authorize_pb2_grpc.AuthorizeServiceStub, f"127.0.0.1:{port}", SERVICE_NAME, deadline=5
    )
    await client.call.CreateUser(
        authorize_pb2.CreateUserRequest(username="dora", password=PASSWORD)
    )
    yield client
    await client.close()
    await server.stop(None)
    await engine.dispose()


def parameters(*pairs: tuple[str, str]) -> list[authorize_pb2.QueryParameter]:
    return [authorize_pb2.QueryParameter(name=name, value=value) for name, value in pairs]


def request_pairs(client_id: str = "web", **more: str) -> list[tuple[str, str]]:
    """A good authorization request of ``client_id``, with ``more`` after it."""
    return [
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", CB),
        ("scope", "openid"),
        ("state", "st"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
        *more.items(),
    ]


async def start(authorize: Client, pairs: list[tuple[str, str]]) -> authorize_pb2.Interaction:
    return await authorize.call.StartAuthorization(
        authorize_pb2.StartAuthorizationRequest(
            parameters=parameters(*pairs), session=authorize_pb2.BrowserSession(binding="b-1")
        )
    )


def answer_of(step: authorize_pb2.Interaction) -> dict[str, str]:
    """The query of the authorization response the step redirects with."""
    assert step.WhichOneof("step") == "response", step
    query = parse_qs(urlsplit(step.response.location).query)
    return {name: values[0] for name, values in query.items()}


async def code_for(authorize: Client, pairs: list[tuple[str, str]]) -> str:
    """The authorization code of a sign-in (login, then consent when it is asked)."""
    session = authorize_pb2.BrowserSession(binding="b-1")
    started = await authorize.call.StartAuthorization(
        authorize_pb2.StartAuthorizationRequest(parameters=parameters(*pairs), session=session)
    )
    assert started.WhichOneof("step") == "login", started
    outcome = await authorize.call.CompleteLogin(
        authorize_pb2.CompleteLoginRequest(
            interaction_id=started.interaction_id,
            session=session,
            username="dora",
            password=PASSWORD,
        )
    )
    step = outcome.next
    if step.WhichOneof("step") == "consent":
        session.subject = outcome.signed_in.user.user_id
        step = await authorize.call.CompleteConsent(
            authorize_pb2.CompleteConsentRequest(
                interaction_id=started.interaction_id,
                session=session,
                decision=authorize_pb2.CompleteConsentRequest.APPROVE,
            )
        )
    return answer_of(step)["code"]


async def consume(
    authorize: Client, code: str, client_id: str = "web"
) -> authorize_pb2.AuthorizationCodeGrant:
    return await authorize.call.ConsumeAuthorizationCode(
        authorize_pb2.ConsumeAuthorizationCodeRequest(code=code, client_id=client_id)
    )


async def push(
    authorize: Client, pairs: list[tuple[str, str]], *, dpop_jkt: str = "", client_id: str = "web"
) -> str:
    """PAR as the gateway makes it; ``dpop_jkt``: the key of the DPoP proof the token
    service verified for the push. Answers the request_uri."""
    pushed = await authorize.call.PushAuthorizationRequest(
        authorize_pb2.PushAuthorizationRequestRequest(
            credentials=common_pb2.ClientCredentials(
                client_id=client_id, client_secret=SECRET, auth_method="client_secret_basic"
            ),
            parameters=parameters(*pairs),
            dpop_jkt=dpop_jkt,
        )
    )
    return pushed.request_uri


def request_object(**claims: Any) -> str:
    """A request object of the client "signer" (RFC 9101) holding ``claims``."""
    now = int(time.time())
    payload = {"iss": "signer", "client_id": "signer", "iat": now, "exp": now + 300}
    payload |= dict(request_pairs("signer")) | claims
    return jose_jwt.encode(
        {"alg": "ES256", "kid": SIGNER_KEY.kid, "typ": "oauth-authz-req+jwt"},
        payload,
        SIGNER_KEY,
        algorithms=["ES256"],
    )


# --- the authorization endpoint ----------------------------------------------------------


async def test_a_dpop_jkt_in_the_query_binds_the_code(authorize: Client) -> None:
    code = await code_for(authorize, request_pairs(dpop_jkt=JKT))
    grant = await consume(authorize, code)
    assert grant.dpop_jkt == JKT and grant.client_id == "web" and grant.scopes == ["openid"]
    # Without one the code is bound to no key.
    unbound = await consume(authorize, await code_for(authorize, request_pairs()))
    assert unbound.dpop_jkt == ""


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(JKT[:42], id="42-characters"),
        pytest.param(JKT + "A", id="44-characters"),
        pytest.param(JKT[:42] + "=", id="padded"),
        pytest.param("+" + JKT[1:], id="base64-not-base64url"),
        pytest.param(json.dumps({"kty": "EC"}), id="a-jwk"),
    ],
)
async def test_a_malformed_dpop_jkt_is_invalid_request_at_the_redirect_uri(
    authorize: Client, value: str
) -> None:
    answer = answer_of(await start(authorize, request_pairs(dpop_jkt=value)))
    assert answer["error"] == "invalid_request" and answer["state"] == "st"
    assert answer["error_description"] == MALFORMED_DPOP_JKT


async def test_a_repeated_dpop_jkt_is_invalid_request(authorize: Client) -> None:
    answer = answer_of(await start(authorize, [*request_pairs(dpop_jkt=JKT), ("dpop_jkt", JKT)]))
    assert answer["error"] == "invalid_request"
    assert answer["error_description"] == "Parameter 'dpop_jkt' was given more than once"


async def test_a_dpop_jkt_claim_of_a_request_object_binds_the_code(authorize: Client) -> None:
    token = request_object(dpop_jkt=JKT)
    # RFC 9101 section 6.3: a dpop_jkt beside the object is not the request's.
    code = await code_for(
        authorize, [("client_id", "signer"), ("request", token), ("dpop_jkt", OTHER_JKT)]
    )
    assert (await consume(authorize, code, "signer")).dpop_jkt == JKT


# --- pushed authorization requests (RFC 9449 section 10.1) --------------------------------


async def test_the_key_of_a_pushs_dpop_proof_binds_the_code(authorize: Client) -> None:
    uri = await push(authorize, request_pairs(), dpop_jkt=JKT)
    code = await code_for(authorize, [("client_id", "web"), ("request_uri", uri)])
    assert (await consume(authorize, code)).dpop_jkt == JKT


async def test_a_pushed_dpop_jkt_naming_the_proofs_key_binds_the_code(authorize: Client) -> None:
    uri = await push(authorize, request_pairs(dpop_jkt=JKT), dpop_jkt=JKT)
    code = await code_for(authorize, [("client_id", "web"), ("request_uri", uri)])
    assert (await consume(authorize, code)).dpop_jkt == JKT
    # The parameter alone binds it as well.
    uri = await push(authorize, request_pairs(dpop_jkt=OTHER_JKT))
    code = await code_for(authorize, [("client_id", "web"), ("request_uri", uri)])
    assert (await consume(authorize, code)).dpop_jkt == OTHER_JKT


async def test_a_pushed_dpop_jkt_naming_another_key_is_invalid_dpop_proof(
    authorize: Client,
) -> None:
    with pytest.raises(InvalidDpopProof) as form:
        await push(authorize, request_pairs(dpop_jkt=OTHER_JKT), dpop_jkt=JKT)
    assert form.value.error == "invalid_dpop_proof"
    assert form.value.description == OTHER_DPOP_KEY
    # Inside a pushed request object too.
    with pytest.raises(InvalidDpopProof, match=OTHER_DPOP_KEY):
        await push(
            authorize,
            [("request", request_object(dpop_jkt=OTHER_JKT))],
            dpop_jkt=JKT,
            client_id="signer",
        )


async def test_a_malformed_pushed_dpop_jkt_is_invalid_request(authorize: Client) -> None:
    with pytest.raises(InvalidRequest) as malformed:
        await push(authorize, request_pairs(dpop_jkt="not-a-thumbprint"))
    assert malformed.value.description == MALFORMED_DPOP_JKT
    with pytest.raises(InvalidRequest, match="'dpop_jkt' was given more than once"):
        await push(authorize, [*request_pairs(dpop_jkt=JKT), ("dpop_jkt", JKT)], dpop_jkt=JKT)


async def test_a_pushed_request_object_is_bound_to_the_proofs_key(authorize: Client) -> None:
    uri = await push(authorize, [("request", request_object())], dpop_jkt=JKT, client_id="signer")
    code = await code_for(authorize, [("client_id", "signer"), ("request_uri", uri)])
    assert (await consume(authorize, code, "signer")).dpop_jkt == JKT
