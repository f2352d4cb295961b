"""CORS (gateway/cors.py): preflights and actual responses of the endpoints browser
apps call, for the origins of a client's redirect URIs and the global list, and
nothing at all on the endpoints that must stay same-origin."""

from __future__ import annotations

import httpx
import pytest
from oauth2.v1 import token_pb2
from pydantic import ValidationError

from gateway.cors import CORS_ROUTES
from gateway.origins import origin_of
from gateway.settings import GatewaySettings
from gateway.tests import fakes
from gateway.tests.conftest import Factory, FakeClientsService, FakeTokenService
from gateway.tests.helpers import FORM, assert_error, basic

# The origin of photo-book's redirect URI (https://app.example.com/cb?tenant=a%20b).
APP = "https://app.example.com"
OTHER = "https://evil.example"
SPA = "https://spa.example"
CORS_HEADERS = (
    "access-control-allow-origin",
    "access-control-allow-methods",
    "access-control-allow-headers",
    "access-control-allow-credentials",
    "access-control-expose-headers",
    "access-control-max-age",
)


def preflight(origin: str, method: str = "POST") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization,content-type",
    }


def assert_no_cors(response: httpx.Response) -> None:
    present = [name for name in CORS_HEADERS if name in response.headers]
    assert present == [], f"{response.request.url.path} answered CORS headers {present}"


def token_request(origin: str) -> dict[str, object]:
    return {
        "content": "grant_type=client_credentials",
        "headers": {**FORM, **basic(fakes.CLIENT_ID, "secret"), "Origin": origin},
    }


@pytest.mark.parametrize("path", ["/oauth/token", "/oauth/revoke"])
async def test_preflight_for_a_client_origin(client: httpx.AsyncClient, path: str) -> None:
    response = await client.options(path, headers=preflight(APP))
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == APP
    assert response.headers["access-control-allow-methods"] == "POST"
    assert response.headers["access-control-allow-headers"] == "Authorization, Content-Type, DPoP"
    assert response.headers["access-control-max-age"] == "600"
    assert response.headers["vary"] == "Origin"
    assert "access-control-allow-credentials" not in response.headers


async def test_preflight_for_another_origin_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.options("/oauth/token", headers=preflight(OTHER))
    assert_error(response, 400, "invalid_request", "The origin is not allowed")
    assert_no_cors(response)
    assert response.headers["vary"] == "Origin"


@pytest.mark.parametrize("origin", ["null", APP + "/", APP + ":443", "HTTPS://APP.EXAMPLE.COM"])
async def test_preflight_for_what_is_not_an_origin_is_refused(
    client: httpx.AsyncClient, origin: str
) -> None:
    response = await client.options("/oauth/token", headers=preflight(origin))
    assert response.status_code == 400
    assert_no_cors(response)


async def test_preflight_for_a_method_the_endpoint_lacks_is_refused(
    client: httpx.AsyncClient,
) -> None:
    response = await client.options("/oauth/token", headers=preflight(APP, "DELETE"))
    assert_error(response, 400, "invalid_request", "CORS does not allow DELETE here")
    assert_no_cors(response)


async def test_global_origins_are_allowed_for_every_client(
    make_client: Factory, fake_token: FakeTokenService
) -> None:
    client = await make_client(cors_allowed_origins=[SPA])
    response = await client.options("/oauth/userinfo", headers=preflight(SPA, "GET"))
    assert response.status_code == 204
    assert response.headers["access-control-allow-methods"] == "GET, HEAD, POST"
    response = await client.post("/oauth/token", **token_request(SPA))  # type: ignore[arg-type]
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == SPA


async def test_token_answer_names_the_clients_origin(
    client: httpx.AsyncClient, fake_token: FakeTokenService
) -> None:
    response = await client.post("/oauth/token", **token_request(APP))  # type: ignore[arg-type]
    assert response.status_code == 200, response.text
    assert response.json()["access_token"] == "at-1"
    assert response.headers["access-control-allow-origin"] == APP
    assert (
        response.headers["access-control-expose-headers"]
        == "WWW-Authenticate, Retry-After, DPoP-Nonce"
    )
    assert response.headers["vary"] == "Origin"
    assert "access-control-allow-credentials" not in response.headers


async def test_token_errors_are_readable_by_the_clients_origin(
    client: httpx.AsyncClient, fake_token: FakeTokenService
) -> None:
    response = await client.post(
        "/oauth/token", content="grant_type=client_credentials", headers={**FORM, "Origin": APP}
    )
    assert_error(response, 401, "invalid_client", "Client authentication required")
    assert response.headers["access-control-allow-origin"] == APP


async def test_another_origin_gets_no_token(
    client: httpx.AsyncClient, fake_token: FakeTokenService
) -> None:
    """A simple request (no preflight) from an origin the client does not allow:
    refused before the token service mints anything, and unreadable."""
    response = await client.post("/oauth/token", **token_request(OTHER))  # type: ignore[arg-type]
    assert_error(
        response, 400, "invalid_request", f"The origin {OTHER} is not allowed for this client"
    )
    assert_no_cors(response)
    assert fake_token.requests == []


async def test_an_origin_of_one_client_is_not_allowed_for_another(
    client: httpx.AsyncClient, fake_token: FakeTokenService
) -> None:
    response = await client.post(
        "/oauth/revoke",
        content="token=t",
        headers={**FORM, **basic("someone-else", "s"), "Origin": APP},
    )
    assert response.status_code == 400
    assert_no_cors(response)
    assert fake_token.requests == []


async def test_revocation_from_the_clients_origin(
    client: httpx.AsyncClient, fake_token: FakeTokenService
) -> None:
    response = await client.post(
        "/oauth/revoke",
        content="token=t",
        headers={**FORM, **basic(fakes.CLIENT_ID, "s"), "Origin": APP},
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == APP
    assert fake_token.methods() == ["Revoke"]


async def test_userinfo_follows_the_tokens_client(
    client: httpx.AsyncClient, fake_token: FakeTokenService
) -> None:
    fake_token.answers["VerifyAccessToken"] = token_pb2.IntrospectResponse(
        active=True, sub=fakes.USER_ID, client_id=fakes.CLIENT_ID, scope="openid profile"
    )
    bearer = {"Authorization": "Bearer some-token"}
    response = await client.get("/oauth/userinfo", headers={**bearer, "Origin": APP})
    assert response.status_code == 200
    assert response.json()["sub"] == fakes.USER_ID
    assert response.headers["access-control-allow-origin"] == APP
    response = await client.get("/oauth/userinfo", headers={**bearer, "Origin": OTHER})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert_no_cors(response)


@pytest.mark.parametrize(
    "path",
    ["/oauth/jwks", "/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"],
)
async def test_public_documents_echo_only_allowed_origins(
    client: httpx.AsyncClient, fake_token: FakeTokenService, path: str
) -> None:
    allowed = await client.get(path, headers={"Origin": APP})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == APP
    refused = await client.get(path, headers={"Origin": OTHER})
    assert refused.status_code == 200  # readable by anyone without a browser
    assert_no_cors(refused)
    plain = await client.get(path)
    assert_no_cors(plain)
    # A cache between must keep the answers to different origins apart.
    assert {allowed.headers["vary"], refused.headers["vary"], plain.headers["vary"]} == {"Origin"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/oauth/authorize?client_id=photo-book"),
        ("GET", "/login"),
        ("POST", "/login"),
        ("GET", "/consent"),
        ("GET", "/logout"),
        ("POST", "/oauth/introspect"),
        ("POST", "/oauth/register"),
        ("GET", "/admin/api/clients"),
        ("GET", "/health"),
        ("GET", "/openapi.json"),
    ],
)
async def test_no_cors_anywhere_else(
    make_client: Factory, fake_token: FakeTokenService, method: str, path: str
) -> None:
    # Even an origin allowed for every client gets nothing here.
    client = await make_client(cors_allowed_origins=[APP])
    answered = await client.request(method, path, headers={"Origin": APP})
    assert_no_cors(answered)
    checked = await client.options(path, headers=preflight(APP, method))
    assert checked.status_code in (404, 405)
    assert_no_cors(checked)


async def test_same_origin_requests_are_not_cors(
    client: httpx.AsyncClient, fake_token: FakeTokenService
) -> None:
    """A browser sends Origin on its own origin's POSTs too: that is no cross-origin call."""
    response = await client.post(
        "/oauth/token",
        **token_request("https://auth.example.com"),  # type: ignore[arg-type]
    )
    assert response.status_code == 200
    assert_no_cors(response)
    assert fake_token.methods() == ["Exchange"]


async def test_the_clients_service_is_asked_once_per_period(
    client: httpx.AsyncClient, fake_token: FakeTokenService, fake_clients: FakeClientsService
) -> None:
    for _ in range(3):
        assert (await client.options("/oauth/token", headers=preflight(APP))).status_code == 204
        response = await client.post("/oauth/token", **token_request(APP))  # type: ignore[arg-type]
        assert response.headers["access-control-allow-origin"] == APP
    assert fake_clients.methods() == ["ListClients", "GetClient"]


async def test_a_clients_service_that_is_down_allows_nothing(
    client: httpx.AsyncClient, fake_token: FakeTokenService, fake_clients: FakeClientsService
) -> None:
    from common.errors import TemporarilyUnavailable

    fake_clients.failures["ListClients"] = TemporarilyUnavailable("down")
    response = await client.options("/oauth/token", headers=preflight(APP))
    assert response.status_code == 400
    assert_no_cors(response)


def test_every_cors_route_exists() -> None:
    from gateway.routes import ROUTES

    paths = {getattr(route, "path", "") for route in ROUTES}
    assert set(CORS_ROUTES) <= paths


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://App.Example.com/cb?x=1", "https://app.example.com"),
        ("https://app.example.com:443/cb", "https://app.example.com"),
        ("http://127.0.0.1:9000/callback", "http://127.0.0.1:9000"),
        ("http://[::1]:80/cb", "http://[::1]"),
        ("com.example.app:/oauth", None),
        ("https://", None),
        ("https://a.example:99999/", None),
    ],
)
def test_origin_of(url: str, origin: str | None) -> None:
    assert origin_of(url) == origin


@pytest.mark.parametrize(
    "value", ["*", "https://a.example/", "https://a.example/path", "a.example"]
)
def test_global_origins_must_be_origins(value: str) -> None:
    with pytest.raises(ValidationError, match="cors_allowed_origins"):
        GatewaySettings(cors_allowed_origins=[value])


async def test_a_null_origin_gets_nothing(
    client: httpx.AsyncClient, fake_token: FakeTokenService
) -> None:
    """A sandboxed frame or a file: page sends ``Origin: null``: never allowed."""
    response = await client.post("/oauth/token", **token_request("null"))  # type: ignore[arg-type]
    assert_error(response, 400, "invalid_request", "The origin null is not allowed for this client")
    assert_no_cors(response)
    assert fake_token.requests == []
