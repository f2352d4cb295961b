"""Discovery (RFC 8414 section 2), liveness and readiness, and the JSON answers
for unknown routes, wrong methods and unexpected failures."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time

import grpc
import httpx
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from common.vocabulary import GrantType
from gateway.routes import token as token_route
from gateway.tests.conftest import Factory, dead_target
from gateway.tests.helpers import assert_error
from oauth2ctl.devrun import free_port
from services.token.domain.grants import GRANTS

#: private_key_jwt's algs, then client_secret_jwt's HMACs (RFC 7523 section 2.2); never
#: among the request objects' algs.
CLIENT_ASSERTION_ALGS = ["RS256", "PS256", "ES256", "EdDSA", "HS256", "HS384", "HS512"]

EXPECTED_METADATA = {
    "issuer": "https://auth.example.com",
    "authorization_endpoint": "https://auth.example.com/oauth/authorize",
    "token_endpoint": "https://auth.example.com/oauth/token",
    "userinfo_endpoint": "https://auth.example.com/oauth/userinfo",
    "jwks_uri": "https://auth.example.com/oauth/jwks",
    "introspection_endpoint": "https://auth.example.com/oauth/introspect",
    "revocation_endpoint": "https://auth.example.com/oauth/revoke",
    "end_session_endpoint": "https://auth.example.com/logout",
    "registration_endpoint": "https://auth.example.com/oauth/register",
    "scopes_supported": ["openid", "profile", "email", "offline_access"],
    "response_types_supported": ["code"],
    "response_modes_supported": ["query", "form_post"],
    "grant_types_supported": [
        "authorization_code",
        "refresh_token",
        "client_credentials",
        "urn:ietf:params:oauth:grant-type:device_code",
        "urn:ietf:params:oauth:grant-type:token-exchange",
    ],
    "code_challenge_methods_supported": ["S256"],
    "subject_types_supported": ["public"],
    "id_token_signing_alg_values_supported": ["RS256", "ES256"],
    "claims_supported": [
        "iss",
        "sub",
        "aud",
        "exp",
        "iat",
        "auth_time",
        "nonce",
        "amr",
        "azp",
        "at_hash",
        "sid",
        "name",
        "given_name",
        "family_name",
        "preferred_username",
        "updated_at",
        "email",
        "email_verified",
    ],
    "authorization_response_iss_parameter_supported": True,
    "request_parameter_supported": True,
    "request_object_signing_alg_values_supported": ["RS256", "PS256", "ES256", "EdDSA"],
    "request_uri_parameter_supported": True,
    "token_endpoint_auth_methods_supported": [
        "client_secret_basic",
        "client_secret_post",
        "client_secret_jwt",
        "private_key_jwt",
        "tls_client_auth",
        "self_signed_tls_client_auth",
        "none",
    ],
    "introspection_endpoint_auth_methods_supported": [
        "client_secret_basic",
        "client_secret_post",
        "client_secret_jwt",
        "private_key_jwt",
        "tls_client_auth",
        "self_signed_tls_client_auth",
    ],
    "revocation_endpoint_auth_methods_supported": [
        "client_secret_basic",
        "client_secret_post",
        "client_secret_jwt",
        "private_key_jwt",
        "tls_client_auth",
        "self_signed_tls_client_auth",
    ],
    "token_endpoint_auth_signing_alg_values_supported": CLIENT_ASSERTION_ALGS,
    "introspection_endpoint_auth_signing_alg_values_supported": CLIENT_ASSERTION_ALGS,
    "revocation_endpoint_auth_signing_alg_values_supported": CLIENT_ASSERTION_ALGS,
    "pushed_authorization_request_endpoint": "https://auth.example.com/oauth/par",
    "require_pushed_authorization_requests": False,
    "dpop_signing_alg_values_supported": ["RS256", "PS256", "ES256", "EdDSA"],
    "backchannel_logout_supported": True,
    "backchannel_logout_session_supported": True,
    "device_authorization_endpoint": "https://auth.example.com/oauth/device_authorization",
}


@pytest.mark.parametrize(
    "path", ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"]
)
async def test_discovery(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert (response.status_code, response.json()) == (200, EXPECTED_METADATA)
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_discovery_follows_the_grant_registry(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(GRANTS, GrantType.DEVICE_CODE)
    body = (await client.get("/.well-known/openid-configuration")).json()
    assert body["grant_types_supported"] == [
        "authorization_code",
        "refresh_token",
        "client_credentials",
        "urn:ietf:params:oauth:grant-type:token-exchange",
    ]
    # RFC 8628 section 4: no device authorization endpoint without the grant.
    assert "device_authorization_endpoint" not in body
    # Only grants for confidential clients left: public clients cannot authenticate.
    for grant_type in ("authorization_code", "refresh_token"):
        monkeypatch.delitem(GRANTS, grant_type)
    body = (await client.get("/.well-known/oauth-authorization-server")).json()
    assert body["grant_types_supported"] == [
        "client_credentials",
        "urn:ietf:params:oauth:grant-type:token-exchange",
    ]
    assert body["token_endpoint_auth_methods_supported"] == [
        "client_secret_basic",
        "client_secret_post",
        "client_secret_jwt",
        "private_key_jwt",
        "tls_client_auth",
        "self_signed_tls_client_auth",
    ]


async def test_issuer_trailing_slash_is_dropped(make_client: Factory) -> None:
    client = await make_client(issuer="https://auth.example.com/tenant/")
    body = (await client.get("/.well-known/oauth-authorization-server")).json()
    assert body["issuer"] == "https://auth.example.com/tenant"
    assert body["token_endpoint"] == "https://auth.example.com/tenant/oauth/token"


async def test_liveness(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_ready_when_every_service_serves(client: httpx.AsyncClient) -> None:
    response = await client.get("/ready")
    assert (response.status_code, response.json()) == (
        200,
        {
            "status": "ok",
            "services": {
                "authorize": "SERVING",
                "token": "SERVING",
                "clients": "SERVING",
                "admin": "SERVING",
            },
        },
    )


async def test_not_ready_while_a_service_is_down(make_client: Factory) -> None:
    client = await make_client(clients_target=dead_target(), ready_timeout_seconds=0.3)
    response = await client.get("/ready")
    assert (response.status_code, response.json()) == (
        503,
        {
            "status": "unavailable",
            "services": {
                "authorize": "SERVING",
                "token": "SERVING",
                "clients": "DEADLINE_EXCEEDED",
                "admin": "SERVING",
            },
        },
    )
    assert response.headers["cache-control"] == "no-store"


async def test_unknown_path_is_json_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/no/such/path")
    assert_error(response, 404, "not_found")


async def test_wrong_method_is_json_405_with_allow(client: httpx.AsyncClient) -> None:
    response = await client.get("/oauth/token")
    assert_error(response, 405, "invalid_request", "Method not allowed")
    assert response.headers["allow"] == "POST"
    response = await client.post("/oauth/jwks")
    assert_error(response, 405, "invalid_request", "Method not allowed")
    assert set(response.headers["allow"].split(", ")) == {"GET", "HEAD"}


async def test_unexpected_exception_is_server_error_without_details(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(_response: object) -> dict[str, object]:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(token_route, "render_token", broken)
    response = await client.post(
        "/oauth/token", data={"grant_type": "client_credentials", "client_id": "c1"}
    )
    assert_error(response, 500, "server_error")
    assert "secret internals" not in response.text


async def test_ready_again_as_soon_as_the_service_is_back(make_client: Factory) -> None:
    port = free_port()
    client = await make_client(clients_target=f"127.0.0.1:{port}", ready_timeout_seconds=1.5)
    assert (await client.get("/ready")).status_code == 503
    # The channel now backs off after refused connections; readiness must wait
    # for its next attempt rather than report the stale failure.
    server = grpc.aio.server()
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await health_servicer.set("oauth2.v1.ClientsService", health_pb2.HealthCheckResponse.SERVING)
    try:
        response = await client.get("/ready")
        assert response.status_code == 200, response.json()
    finally:
        await server.stop(0)


async def test_ready_tells_whether_the_gateways_redis_answers(
    make_client: Factory, redis_url: str, redis_prefix: str
) -> None:
    up = await make_client(redis_url=redis_url, redis_key_prefix=redis_prefix)
    response = await up.get("/ready")
    assert response.status_code == 200
    assert response.json()["services"]["redis"] == "SERVING"
    # Nothing listens on port 1: Redis is down, the gateway is not ready, yet alive.
    down = await make_client(redis_url="redis://127.0.0.1:1/0", ready_timeout_seconds=0.5)
    response = await down.get("/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["services"]["redis"] == "UNAVAILABLE"
    assert body["services"]["token"] == "SERVING"
    assert (await down.get("/health")).status_code == 200


async def test_a_hung_redis_makes_ready_answer_503_within_its_timeout(
    make_client: Factory, private_redis: tuple[str, subprocess.Popen[bytes]]
) -> None:
    """A private Redis (never the machine's), stopped with SIGSTOP: it accepts
    connections but answers nothing. /ready says so within its own timeout."""
    url, server = private_redis
    client = await make_client(redis_url=url, ready_timeout_seconds=0.5)
    for _ in range(50):
        if (await client.get("/ready")).status_code == 200:
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the private Redis never became ready")
    os.kill(server.pid, signal.SIGSTOP)
    started = time.monotonic()
    response = await client.get("/ready")
    elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert response.json()["services"]["redis"] == "DEADLINE_EXCEEDED"
    assert elapsed < 1.5, elapsed
    os.kill(server.pid, signal.SIGCONT)
    for _ in range(50):  # back without a restart of anything
        if (await client.get("/ready")).status_code == 200:
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("not ready again after Redis came back")
