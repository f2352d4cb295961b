"""The admin REST API (docs/operators.md) against the real AdminService, over the
real domains of the services it composes on in-memory stores (admin_fake):
the bearer check with its exact RFC 6750 challenges, every route's JSON in and
out, the actor passed to every write, paging, and the error statuses."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from common.errors import Conflict, ServerError, TemporarilyUnavailable
from gateway.admin.denied import LocalThrottle
from gateway.tests import fakes
from gateway.tests.admin_fake import FAMILIES, GRANT_USER, AdminBackend
from gateway.tests.conftest import FakeTokenService
from gateway.tests.helpers import assert_error
from services.clients.tests.keys import ec_jwk, key_set, okp_jwk, rsa_private_jwk

ADMIN = {"Authorization": f"Bearer {fakes.ADMIN_TOKEN}"}
ACTOR = f"client:{fakes.ADMIN_CLIENT_ID}"


@pytest.fixture
async def client(admin_client: httpx.AsyncClient) -> httpx.AsyncClient:
    """The admin API is served on the admin listener only."""
    return admin_client


async def call(
    client: httpx.AsyncClient, method: str, path: str, status: int = 200, **kwargs: Any
) -> Any:
    headers = {**ADMIN, **kwargs.pop("headers", {})}
    response = await client.request(method, f"/admin/api{path}", headers=headers, **kwargs)
    assert response.status_code == status, response.text
    assert response.headers["cache-control"] == "no-store"
    if status == 204:
        assert response.content == b""
        return None
    assert response.headers["content-type"] == "application/json"
    return response.json()


# --- the bearer check ---------------------------------------------------------------


async def test_no_token_is_a_bare_challenge(
    client: httpx.AsyncClient, fake_admin: AdminBackend
) -> None:
    response = await client.get("/admin/api/clients")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="oauth2-admin"'
    assert response.json()["error"] == "invalid_token"
    # Basic credentials are not an admin token either.
    response = await client.get("/admin/api/stats", headers={"Authorization": "Basic YTpi"})
    assert response.headers["www-authenticate"] == 'Bearer realm="oauth2-admin"'
    assert fake_admin.requests == []


async def test_a_bad_token_is_invalid_token(
    client: httpx.AsyncClient, fake_token: FakeTokenService, fake_admin: AdminBackend
) -> None:
    response = await client.get(
        "/admin/api/clients", headers={"Authorization": "Bearer not-a-token"}
    )
    assert_error(response, 401, "invalid_token", "The access token expired")
    assert response.headers["www-authenticate"] == (
        'Bearer realm="oauth2-admin", error="invalid_token", '
        'error_description="The access token expired"'
    )
    method, request = fake_token.requests[-1]
    assert method == "VerifyAccessToken"
    assert list(request.required_scopes) == ["admin"]
    assert request.audience == "https://auth.example.com"

    response = await client.get("/admin/api/clients", headers={"Authorization": "Bearer inactive"})
    assert_error(response, 401, "invalid_token", "The access token is not active")

    response = await client.get("/admin/api/clients", headers={"Authorization": "Bearer a b"})
    assert_error(response, 401, "invalid_token", "Malformed bearer token")
    assert fake_admin.requests == []


async def test_a_token_without_the_admin_scope_is_insufficient_scope(
    client: httpx.AsyncClient, fake_admin: AdminBackend
) -> None:
    response = await client.post(
        "/admin/api/clients",
        headers={"Authorization": f"Bearer {fakes.GOOD_TOKEN}"},
        json={"client_name": "x"},
    )
    assert_error(response, 403, "insufficient_scope", "The access token lacks the 'admin' scope")
    assert response.headers["www-authenticate"] == (
        'Bearer realm="oauth2-admin", error="insufficient_scope", scope="admin"'
    )
    assert fake_admin.requests == []


async def test_token_service_down_is_503(
    client: httpx.AsyncClient, fake_token: FakeTokenService
) -> None:
    fake_token.answers["VerifyAccessToken"] = TemporarilyUnavailable()
    response = await client.get("/admin/api/stats", headers=ADMIN)
    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable"


# --- clients ----------------------------------------------------------------------------


async def test_client_lifecycle(client: httpx.AsyncClient, fake_admin: AdminBackend) -> None:
    created = await call(
        client,
        "POST",
        "/clients",
        201,
        json={
            "client_name": "svc",
            "grant_types": ["client_credentials"],
            "scope": "api",
            "require_pkce": False,
            "contacts": ["ops@example.com"],
        },
    )
    client_id, secret = created["client_id"], created["client_secret"]
    assert len(secret) >= 43  # generated, 256 bits
    assert created == {
        "client_id": client_id,
        "client_secret": secret,
        "client_name": "svc",
        "grant_types": ["client_credentials"],
        "redirect_uris": [],
        "response_types": [],
        "scope": "api",
        "token_endpoint_auth_method": "client_secret_basic",
        "require_pkce": False,
        "post_logout_redirect_uris": [],
        "always_issue_refresh_token": False,
        "access_token_signing_alg": "",
        "contacts": ["ops@example.com"],
        "client_uri": "",
        "logo_uri": "",
        "dynamically_registered": False,
        "revision": 1,
        "allowed_cors_origins": [],
        "introspection": False,
        "enabled": True,
        "require_pushed_authorization_requests": False,
        "jwks_uri": "",
        "require_signed_request_object": False,
        "request_object_signing_alg": "",
        "backchannel_logout_uri": "",
        "backchannel_logout_session_required": False,
        "token_exchange_audiences": [],
        "dpop_bound_access_tokens": False,
        "tls_client_auth_subject_dn": "",
        "tls_client_auth_san_dns": "",
        "tls_client_auth_san_uri": "",
        "tls_client_auth_san_ip": "",
        "tls_client_auth_san_email": "",
        "tls_client_certificate_bound_access_tokens": False,
        "client_secret_expires_at": 0,
        "created_at": "2023-11-14T22:13:20Z",
        "updated_at": "2023-11-14T22:13:20Z",
    }
    method, request = fake_admin.requests[-1]
    assert method == "CreateClient"
    assert request.actor.id == ACTOR
    assert request.actor.remote_addr == "127.0.0.1"
    assert request.metadata.HasField("require_pkce") and not request.metadata.require_pkce

    shown = await call(client, "GET", f"/clients/{client_id}")
    assert "client_secret" not in shown and shown["client_name"] == "svc"

    updated = await call(
        client,
        "PATCH",
        f"/clients/{client_id}",
        json={"client_name": "renamed", "redirect_uris": ["https://a.example/cb"], "revision": 1},
    )
    assert updated["client_name"] == "renamed"
    assert updated["redirect_uris"] == ["https://a.example/cb"]
    request = fake_admin.requests[-1][1]
    assert list(request.update_mask) == ["client_name", "redirect_uris"]
    assert request.actor.id == ACTOR

    rotated = await call(client, "POST", f"/clients/{client_id}/secret")
    assert rotated["client_id"] == client_id and rotated["client_secret"] not in ("", secret)

    await call(client, "DELETE", f"/clients/{client_id}", 204)
    assert fake_admin.requests[-1][1].actor.id == ACTOR
    response = await client.get(f"/admin/api/clients/{client_id}", headers=ADMIN)
    assert_error(response, 404, "not_found", f"Client {client_id!r} not found")


async def test_import_a_client_and_conflict(client: httpx.AsyncClient) -> None:
    body = {"client_id": "imported", "client_secret": "a-long-imported-secret-of-32-chars"}
    created = await call(client, "POST", "/clients", 201, json=body)
    # The operator has the imported secret already: it is stored hashed, never echoed.
    assert "client_secret" not in created
    response = await client.post("/admin/api/clients", headers=ADMIN, json=body)
    assert_error(response, 409, "conflict", "Client 'imported' already exists")


async def test_public_client_has_no_secret(client: httpx.AsyncClient) -> None:
    created = await call(
        client,
        "POST",
        "/clients",
        201,
        json={"token_endpoint_auth_method": "none", "redirect_uris": ["https://spa.example/cb"]},
    )
    assert "client_secret" not in created


async def test_client_list_pages_with_a_cursor(
    client: httpx.AsyncClient, fake_admin: AdminBackend
) -> None:
    for name in ("alpha", "beta", "gamma"):
        await call(client, "POST", "/clients", 201, json={"client_id": name, "client_name": name})
    first = await call(client, "GET", "/clients", params={"page_size": 2})
    assert [c["client_id"] for c in first["items"]] == ["alpha", "beta"]
    assert first["next_page_token"]  # an opaque cursor
    rest = await call(
        client, "GET", "/clients", params={"page_size": 2, "page_token": first["next_page_token"]}
    )
    assert [c["client_id"] for c in rest["items"]] == ["gamma"]
    assert "next_page_token" not in rest
    found = await call(client, "GET", "/clients", params={"search": "AMM"})
    assert [c["client_id"] for c in found["items"]] == ["gamma"]
    request = fake_admin.requests[-1][1]
    assert (request.search, request.page.page_size) == ("AMM", 0)


@pytest.mark.parametrize(
    ("body", "error", "description"),
    [
        ({"client_name": 3}, "invalid_client_metadata", "'client_name' must be a string"),
        ({"redirect_uris": "x"}, "invalid_client_metadata", "'redirect_uris' must be an array"),
        ({"require_pkce": "no"}, "invalid_client_metadata", "'require_pkce' must be true or false"),
        ({"colour": "red"}, "invalid_client_metadata", "Unknown field 'colour'"),
        ({"client_name": "a\x00b"}, "invalid_client_metadata", None),
        ({"redirect_uris": ["javascript:alert(1)"]}, "invalid_redirect_uri", None),
        # The same redirect URI policy as dynamic registration.
        ({"redirect_uris": ["http://app.example/cb"]}, "invalid_redirect_uri", None),
        ({"redirect_uris": ["view-source:https://a.example/"]}, "invalid_redirect_uri", None),
        ({"redirect_uris": ["https://a.example@evil.example/"]}, "invalid_redirect_uri", None),
        ({"client_secret": "0123456789"}, "invalid_request", "Invalid 'client_secret': 32 to"),
        (
            {"allowed_cors_origins": ["https://*.example"]},
            "invalid_client_metadata",
            "Invalid origin",
        ),
        ({"introspection": "yes"}, "invalid_client_metadata", "'introspection' must be true"),
        ({"client_id": "0b7c3f3e-8d5d-4e59-9c36-6c1f6d1c7a10"}, "invalid_request", None),
    ],
)
async def test_bad_client_metadata_is_400(
    client: httpx.AsyncClient, body: dict[str, Any], error: str, description: str | None
) -> None:
    response = await client.post("/admin/api/clients", headers=ADMIN, json=body)
    assert response.status_code == 400
    assert response.json()["error"] == error
    if description:
        assert response.json()["error_description"].startswith(description)


async def test_security_fields_of_a_client(
    client: httpx.AsyncClient, fake_admin: AdminBackend
) -> None:
    created = await call(
        client,
        "POST",
        "/clients",
        201,
        json={"introspection": True, "allowed_cors_origins": ["HTTPS://SPA.example:443"]},
    )
    assert created["introspection"] is True and created["enabled"] is True
    assert created["allowed_cors_origins"] == ["https://spa.example"]
    request = fake_admin.requests[-1][1]
    assert request.metadata.introspection and not request.metadata.HasField("enabled")
    updated = await call(
        client, "PATCH", f"/clients/{created['client_id']}", json={"enabled": False}
    )
    assert updated["enabled"] is False
    request = fake_admin.requests[-1][1]
    assert list(request.update_mask) == ["enabled"]
    assert request.metadata.HasField("enabled") and not request.metadata.enabled


async def test_client_keys_and_request_object_settings(
    client: httpx.AsyncClient, fake_admin: AdminBackend
) -> None:
    """jwks is a JSON object in the API, JSON text on the wire; PATCH names what it
    replaces, and null clears jwks."""
    keys = key_set(ec_jwk(), okp_jwk())
    created = await call(
        client,
        "POST",
        "/clients",
        201,
        json={
            "redirect_uris": ["https://app.example/cb"],
            "jwks": keys,
            "require_signed_request_object": True,
            "request_object_signing_alg": "ES256",
        },
    )
    assert created["jwks"] == keys
    assert (created["jwks_uri"], created["require_signed_request_object"]) == ("", True)
    assert created["request_object_signing_alg"] == "ES256"
    request = fake_admin.requests[-1][1]
    assert json.loads(request.metadata.jwks) == keys
    client_id = created["client_id"]
    assert (await call(client, "GET", f"/clients/{client_id}"))["jwks"] == keys

    uri = "https://app.example/jwks.json"
    # Both at once is refused (RFC 7591 section 2): jwks must be cleared with it.
    response = await client.patch(
        f"/admin/api/clients/{client_id}", headers=ADMIN, json={"jwks_uri": uri}
    )
    assert_error(
        response,
        400,
        "invalid_client_metadata",
        "'jwks' and 'jwks_uri' must not both be present (RFC 7591 section 2); register one of them",
    )
    updated = await call(
        client, "PATCH", f"/clients/{client_id}", json={"jwks": None, "jwks_uri": uri}
    )
    assert "jwks" not in updated and updated["jwks_uri"] == uri
    request = fake_admin.requests[-1][1]
    assert list(request.update_mask) == ["jwks", "jwks_uri"]
    assert (request.metadata.jwks, request.metadata.jwks_uri) == ("", uri)
    # A client read back and PATCHed as it was keeps its keys.
    again = await call(client, "PATCH", f"/clients/{client_id}", json=updated)
    assert again["jwks_uri"] == uri and again["require_signed_request_object"] is True


@pytest.mark.parametrize(
    ("body", "description"),
    [
        (
            {"jwks": {"keys": [rsa_private_jwk()]}},
            "'jwks' keys[0] holds private key material ('d'): private keys must never be "
            "registered; register the public key only",
        ),
        ({"jwks": {"keys": [{"kty": "oct", "alg": "HS256"}]}}, "'jwks' keys[0]: 'kty' must be"),
        ({"jwks": "{}"}, "'jwks' must be a JSON object"),
        ({"jwks": [ec_jwk()]}, "'jwks' must be a JSON object"),
        ({"jwks_uri": "http://app.example/jwks"}, "'jwks_uri' must be an absolute https URL"),
        ({"require_signed_request_object": "yes"}, "'require_signed_request_object' must be"),
        ({"request_object_signing_alg": "none"}, "Unsupported 'request_object_signing_alg'"),
    ],
)
async def test_bad_client_keys_are_invalid_client_metadata(
    client: httpx.AsyncClient, body: dict[str, Any], description: str
) -> None:
    response = await client.post("/admin/api/clients", headers=ADMIN, json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_client_metadata"
    assert response.json()["error_description"].startswith(description)


async def test_backchannel_logout_and_token_exchange_of_a_client(
    client: httpx.AsyncClient, fake_admin: AdminBackend
) -> None:
    """Back-Channel Logout 1.0 section 2.2 and RFC 8693 settings: set at creation,
    read back, replaced by PATCH (which names what it replaces) and cleared."""
    exchange = "urn:ietf:params:oauth:grant-type:token-exchange"
    created = await call(
        client,
        "POST",
        "/clients",
        201,
        json={
            "redirect_uris": ["https://app.example/cb"],
            "grant_types": ["authorization_code", exchange],
            "backchannel_logout_uri": "https://app.example/bcl?tenant=1",
            "backchannel_logout_session_required": True,
            "token_exchange_audiences": ["https://api.example", "billing", "billing"],
        },
    )
    assert created["backchannel_logout_uri"] == "https://app.example/bcl?tenant=1"
    assert created["backchannel_logout_session_required"] is True
    assert created["token_exchange_audiences"] == ["https://api.example", "billing"]
    assert created["grant_types"] == ["authorization_code", exchange]
    request = fake_admin.requests[-1][1]
    assert request.metadata.backchannel_logout_session_required
    assert list(request.metadata.token_exchange_audiences) == [
        "https://api.example",
        "billing",
        "billing",
    ]
    client_id = created["client_id"]
    read = await call(client, "GET", f"/clients/{client_id}")
    assert read["token_exchange_audiences"] == ["https://api.example", "billing"]
    assert read["backchannel_logout_uri"] == "https://app.example/bcl?tenant=1"

    updated = await call(
        client, "PATCH", f"/clients/{client_id}", json={"token_exchange_audiences": ["inventory"]}
    )
    assert updated["token_exchange_audiences"] == ["inventory"]
    assert updated["backchannel_logout_session_required"] is True
    # session_required without a uri is refused: the PATCH that clears the uri turns
    # it off too.
    response = await client.patch(
        f"/admin/api/clients/{client_id}", headers=ADMIN, json={"backchannel_logout_uri": ""}
    )
    assert_error(
        response,
        400,
        "invalid_client_metadata",
        "'backchannel_logout_session_required' needs a 'backchannel_logout_uri'",
    )
    cleared = await call(
        client,
        "PATCH",
        f"/clients/{client_id}",
        json={
            "backchannel_logout_uri": "",
            "backchannel_logout_session_required": False,
            "token_exchange_audiences": [],
        },
    )
    request = fake_admin.requests[-1][1]
    assert list(request.update_mask) == [
        "backchannel_logout_uri",
        "backchannel_logout_session_required",
        "token_exchange_audiences",
    ]
    assert cleared["backchannel_logout_uri"] == ""
    assert cleared["backchannel_logout_session_required"] is False
    assert cleared["token_exchange_audiences"] == []
    # A client read back and PATCHed as it was keeps its settings.
    again = await call(client, "PATCH", f"/clients/{client_id}", json=read)
    assert again["token_exchange_audiences"] == ["https://api.example", "billing"]
    assert again["backchannel_logout_session_required"] is True


@pytest.mark.parametrize(
    ("body", "description"),
    [
        (
            {"backchannel_logout_uri": "http://app.example/bcl"},
            "'backchannel_logout_uri' must be an absolute https URL",
        ),
        (
            {"backchannel_logout_uri": "https://app.example/bcl#x"},
            "'backchannel_logout_uri' must be an absolute https URL",
        ),
        (
            {"backchannel_logout_session_required": True},
            "'backchannel_logout_session_required' needs a 'backchannel_logout_uri'",
        ),
        ({"backchannel_logout_session_required": "yes"}, "'backchannel_logout_session_required'"),
        (
            {"token_exchange_audiences": ["billing"]},
            "'token_exchange_audiences' needs urn:ietf:params:oauth:grant-type:token-exchange",
        ),
        (
            {
                "grant_types": ["urn:ietf:params:oauth:grant-type:token-exchange"],
                "token_exchange_audiences": ["two words"],
            },
            "Invalid value 'two words' in 'token_exchange_audiences'",
        ),
        (
            {
                "grant_types": ["urn:ietf:params:oauth:grant-type:token-exchange"],
                "token_endpoint_auth_method": "none",
            },
            "'grant_types' urn:ietf:params:oauth:grant-type:token-exchange requires a "
            "confidential client",
        ),
    ],
)
async def test_bad_logout_and_exchange_settings_are_invalid_client_metadata(
    client: httpx.AsyncClient, body: dict[str, Any], description: str
) -> None:
    response = await client.post("/admin/api/clients", headers=ADMIN, json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_client_metadata"
    assert response.json()["error_description"].startswith(description)


async def test_dpop_bound_access_tokens_of_a_client(
    client: httpx.AsyncClient, fake_admin: AdminBackend
) -> None:
    """RFC 9449 section 5.2: set at creation, read back, turned off and on by PATCH
    (which names what it replaces), kept by a PATCH of another field; not a boolean
    is 400 invalid_client_metadata."""
    created = await call(
        client,
        "POST",
        "/clients",
        201,
        json={"redirect_uris": ["https://app.example/cb"], "dpop_bound_access_tokens": True},
    )
    assert created["dpop_bound_access_tokens"] is True
    assert fake_admin.requests[-1][1].metadata.dpop_bound_access_tokens is True
    client_id = created["client_id"]
    read = await call(client, "GET", f"/clients/{client_id}")
    assert read["dpop_bound_access_tokens"] is True

    renamed = await call(client, "PATCH", f"/clients/{client_id}", json={"client_name": "x"})
    assert renamed["dpop_bound_access_tokens"] is True
    off = await call(
        client, "PATCH", f"/clients/{client_id}", json={"dpop_bound_access_tokens": False}
    )
    assert off["dpop_bound_access_tokens"] is False
    request = fake_admin.requests[-1][1]
    assert list(request.update_mask) == ["dpop_bound_access_tokens"]
    assert request.metadata.dpop_bound_access_tokens is False
    assert (await call(client, "GET", f"/clients/{client_id}"))["dpop_bound_access_tokens"] is False
    # A client read back and PATCHed as it was keeps the setting.
    again = await call(client, "PATCH", f"/clients/{client_id}", json=read)
    assert again["dpop_bound_access_tokens"] is True

    plain = await call(client, "POST", "/clients", 201, json={"client_name": "plain"})
    assert plain["dpop_bound_access_tokens"] is False
    response = await client.post(
        "/admin/api/clients", headers=ADMIN, json={"dpop_bound_access_tokens": "yes"}
    )
    assert_error(
        response,
        400,
        "invalid_client_metadata",
        "'dpop_bound_access_tokens' must be true or false",
    )


async def test_tls_client_auth_settings_of_a_client(
    client: httpx.AsyncClient, fake_admin: AdminBackend
) -> None:
    """RFC 8705: a tls_client_auth client with its one subject attribute, no secret;
    PATCH replaces the attribute (naming what it replaces) and turns certificate-bound
    tokens on; a second attribute, or one without the method, is invalid_client_metadata."""
    created = await call(
        client,
        "POST",
        "/clients",
        201,
        json={
            "token_endpoint_auth_method": "tls_client_auth",
            "tls_client_auth_subject_dn": "CN=svc.example.com,O=Example",
        },
    )
    assert "client_secret" not in created
    assert created["token_endpoint_auth_method"] == "tls_client_auth"
    assert created["tls_client_auth_subject_dn"] == "CN=svc.example.com,O=Example"
    assert created["grant_types"] == ["client_credentials"]
    metadata = fake_admin.requests[-1][1].metadata
    assert metadata.tls_client_auth_subject_dn == "CN=svc.example.com,O=Example"
    client_id = created["client_id"]
    changed = await call(
        client,
        "PATCH",
        f"/clients/{client_id}",
        json={
            "tls_client_auth_subject_dn": "",
            "tls_client_auth_san_ip": "192.0.2.10",
            "tls_client_certificate_bound_access_tokens": True,
        },
    )
    assert list(fake_admin.requests[-1][1].update_mask) == [
        "tls_client_auth_subject_dn",
        "tls_client_auth_san_ip",
        "tls_client_certificate_bound_access_tokens",
    ]
    assert (changed["tls_client_auth_subject_dn"], changed["tls_client_auth_san_ip"]) == (
        "",
        "192.0.2.10",
    )
    assert changed["tls_client_certificate_bound_access_tokens"] is True
    read = await call(client, "GET", f"/clients/{client_id}")
    assert read["tls_client_auth_san_ip"] == "192.0.2.10"

    response = await client.patch(
        f"/admin/api/clients/{client_id}",
        headers=ADMIN,
        json={"tls_client_auth_san_dns": "svc.example.com"},
    )
    assert_error(
        response,
        400,
        "invalid_client_metadata",
        "'token_endpoint_auth_method' tls_client_auth needs exactly one of "
        "'tls_client_auth_subject_dn', 'tls_client_auth_san_dns', 'tls_client_auth_san_uri', "
        "'tls_client_auth_san_ip', 'tls_client_auth_san_email' (RFC 8705 section 2.1.2); got 2",
    )
    response = await client.post(
        "/admin/api/clients", headers=ADMIN, json={"tls_client_auth_san_dns": "svc.example.com"}
    )
    assert_error(
        response,
        400,
        "invalid_client_metadata",
        "'tls_client_auth_san_dns' is only for 'token_endpoint_auth_method' tls_client_auth",
    )
    self_signed = await call(
        client,
        "POST",
        "/clients",
        201,
        json={
            "token_endpoint_auth_method": "self_signed_tls_client_auth",
            "jwks_uri": "https://svc.example.com/jwks",
        },
    )
    assert "client_secret" not in self_signed
    response = await client.post(
        f"/admin/api/clients/{self_signed['client_id']}/secret", headers=ADMIN
    )
    assert_error(
        response,
        400,
        "invalid_request",
        "A client with 'token_endpoint_auth_method' self_signed_tls_client_auth has no "
        "secret to rotate",
    )


async def test_patch_needs_a_field_and_a_matching_id(
    client: httpx.AsyncClient, fake_admin: AdminBackend
) -> None:
    await call(client, "POST", "/clients", 201, json={"client_id": "c1"})
    response = await client.patch("/admin/api/clients/c1", headers=ADMIN, json={})
    assert_error(response, 400, "invalid_request", "No client metadata to update")
    response = await client.patch(
        "/admin/api/clients/c1", headers=ADMIN, json={"client_id": "c2", "client_name": "x"}
    )
    assert_error(response, 400, "invalid_request", "'client_id' does not match the path")
    assert "UpdateClient" not in fake_admin.methods()


# --- resource servers (RFC 8707) -----------------------------------------------------------

API = "https://api.example.com/orders"
#: The identifier as one path segment (encodeURIComponent).
API_PATH = "https%3A%2F%2Fapi.example.com%2Forders"


async def test_resource_lifecycle(client: httpx.AsyncClient, fake_admin: AdminBackend) -> None:
    await call(client, "POST", "/clients", 201, json={"client_id": "orders-rs"})
    created = await call(
        client,
        "POST",
        "/resources",
        201,
        json={
            "identifier": API,
            "name": "Orders API",
            "scopes": ["orders:read", "orders:write", "orders:read"],
            "access_token_ttl_seconds": 600,
            "introspection_client_id": "orders-rs",
        },
    )
    assert created == {
        "identifier": API,
        "name": "Orders API",
        "scopes": ["orders:read", "orders:write"],
        "access_token_ttl_seconds": 600,
        "introspection_client_id": "orders-rs",
        "created_at": "2023-11-14T22:13:20Z",
        "updated_at": "2023-11-14T22:13:20Z",
    }
    method, request = fake_admin.requests[-1]
    assert method == "CreateResource"
    assert request.resource.identifier == API
    assert (request.actor.id, request.actor.remote_addr) == (ACTOR, "127.0.0.1")

    assert await call(client, "GET", f"/resources/{API_PATH}") == created
    assert fake_admin.requests[-1][1].identifier == API
    # Slashes left unencoded reach the same resource.
    assert await call(client, "GET", f"/resources/{API}") == created

    updated = await call(
        client, "PATCH", f"/resources/{API_PATH}", json={"name": "Orders", "scopes": ["o:all"]}
    )
    assert (updated["name"], updated["scopes"]) == ("Orders", ["o:all"])
    assert updated["access_token_ttl_seconds"] == 600  # not named: unchanged
    request = fake_admin.requests[-1][1]
    assert list(request.update_mask) == ["name", "scopes"]
    assert request.resource.identifier == API and request.actor.id == ACTOR
    # What was read may be sent back: the identifier is the path's, the times ignored.
    again = await call(client, "PATCH", f"/resources/{API_PATH}", json=updated)
    assert again == updated
    assert list(fake_admin.requests[-1][1].update_mask) == [
        "name",
        "scopes",
        "access_token_ttl_seconds",
        "introspection_client_id",
    ]
    cleared = await call(
        client, "PATCH", f"/resources/{API_PATH}", json={"introspection_client_id": ""}
    )
    assert cleared["introspection_client_id"] == ""

    await call(client, "DELETE", f"/resources/{API_PATH}", 204)
    assert fake_admin.requests[-1][0] == "DeleteResource"
    assert fake_admin.requests[-1][1].identifier == API
    assert fake_admin.requests[-1][1].actor.id == ACTOR
    response = await client.get(f"/admin/api/resources/{API_PATH}", headers=ADMIN)
    assert_error(response, 404, "not_found", f"Resource {API!r} not found")
    response = await client.delete(f"/admin/api/resources/{API_PATH}", headers=ADMIN)
    assert_error(response, 404, "not_found", f"Resource {API!r} not found")

    events = await call(client, "GET", "/audit", params={"target": f"resource:{API}"})
    assert [(e["action"], e["outcome"]) for e in events["items"]] == [
        ("resource.deleted", "failure"),
        ("resource.deleted", "success"),
        ("resource.updated", "success"),
        ("resource.updated", "success"),
        ("resource.updated", "success"),
        ("resource.created", "success"),
    ]
    assert {e["actor"] for e in events["items"]} == {ACTOR}
    assert events["items"][-2]["details"] == {"fields": "name,scopes"}


async def test_an_identifier_with_a_query_travels_encoded(client: httpx.AsyncClient) -> None:
    identifier = "https://api.example.com/v1?tenant=a%20b"
    await call(client, "POST", "/resources", 201, json={"identifier": identifier, "scopes": ["s"]})
    encoded = quote(identifier, safe="")
    assert (await call(client, "GET", f"/resources/{encoded}"))["identifier"] == identifier
    # Unencoded, its query is the request's query: another identifier.
    response = await client.get(f"/admin/api/resources/{identifier}", headers=ADMIN)
    assert response.status_code == 404
    await call(client, "DELETE", f"/resources/{encoded}", 204)


async def test_resource_list_pages_with_a_cursor(
    client: httpx.AsyncClient, fake_admin: AdminBackend
) -> None:
    for name in ("gamma", "alpha", "beta"):
        body = {"identifier": f"https://{name}.example.com", "scopes": [name]}
        await call(client, "POST", "/resources", 201, json=body)
    first = await call(client, "GET", "/resources", params={"page_size": 2})
    assert [r["identifier"] for r in first["items"]] == [
        "https://alpha.example.com",
        "https://beta.example.com",
    ]
    assert first["next_page_token"]
    assert fake_admin.requests[-1][1].page.page_size == 2
    rest = await call(
        client,
        "GET",
        "/resources",
        params={"page_size": 2, "page_token": first["next_page_token"]},
    )
    assert [r["identifier"] for r in rest["items"]] == ["https://gamma.example.com"]
    assert "next_page_token" not in rest
    assert len((await call(client, "GET", "/resources"))["items"]) == 3
    response = await client.get("/admin/api/resources", headers=ADMIN, params={"page_size": "x"})
    assert_error(response, 400, "invalid_request", "'page_size' must be an integer from 0 to 500")


@pytest.mark.parametrize(
    ("body", "description"),
    [
        ({"scopes": ["a"]}, "Missing 'identifier'"),
        ({"identifier": "", "scopes": ["a"]}, "Missing 'identifier'"),
        ({"identifier": 3, "scopes": ["a"]}, "'identifier' must be a string"),
        ({"identifier": API, "scopes": "a"}, "'scopes' must be an array of strings"),
        ({"identifier": API, "scopes": [1]}, "'scopes' must be a string"),
        ({"identifier": API, "scopes": ["a"], "colour": "red"}, "Unknown field 'colour'"),
        (
            {"identifier": API, "scopes": ["a"], "access_token_ttl_seconds": "60"},
            "'access_token_ttl_seconds' must be an integer",
        ),
        (
            {"identifier": API, "scopes": ["a"], "access_token_ttl_seconds": 10**12},
            "'access_token_ttl_seconds' must be between 0 and 86400",
        ),
        (
            {"identifier": API, "scopes": ["a"], "access_token_ttl_seconds": 59},
            "'access_token_ttl_seconds' must be 0 (the server default) or from 60 to 86400",
        ),
        ({"identifier": API}, "'scopes' must name at least one scope"),
        ({"identifier": API, "scopes": ["a b"]}, "Invalid scope token 'a b' in 'scopes'"),
        ({"identifier": API + "#top", "scopes": ["a"]}, "Invalid 'identifier': it must not"),
        ({"identifier": "orders", "scopes": ["a"]}, "Invalid 'identifier': an absolute URI"),
        ({"identifier": "urn:example:orders", "scopes": ["a"]}, "Invalid 'identifier'"),
        (
            {"identifier": API, "scopes": ["a"], "introspection_client_id": "nobody"},
            "Unknown client 'nobody' in 'introspection_client_id'",
        ),
        ({"identifier": API, "scopes": ["a"], "name": "a\x00b"}, "'name' must not contain NUL"),
    ],
)
async def test_bad_resources_are_invalid_request(
    client: httpx.AsyncClient, fake_admin: AdminBackend, body: dict[str, Any], description: str
) -> None:
    response = await client.post("/admin/api/resources", headers=ADMIN, json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"
    assert response.json()["error_description"].startswith(description)
    assert (await fake_admin.system()).downstream.resource_store.resources == {}


async def test_resource_conflicts_and_patch_rules(
    client: httpx.AsyncClient, fake_admin: AdminBackend
) -> None:
    body = {"identifier": API, "scopes": ["a"]}
    await call(client, "POST", "/resources", 201, json=body)
    response = await client.post("/admin/api/resources", headers=ADMIN, json=body)
    assert_error(response, 409, "conflict", f"Resource {API!r} already exists")
    path = f"/admin/api/resources/{API_PATH}"
    response = await client.patch(path, headers=ADMIN, json={})
    assert_error(response, 400, "invalid_request", "No resource fields to update")
    response = await client.patch(
        path, headers=ADMIN, json={"identifier": "https://other.example", "name": "x"}
    )
    assert_error(response, 400, "invalid_request", "'identifier' does not match the path")
    response = await client.patch(path, headers=ADMIN, json={"scopes": []})
    assert_error(response, 400, "invalid_request", "'scopes' must name at least one scope")
    assert "UpdateResource" in fake_admin.methods()  # the last one reached the service
    response = await client.patch(
        "/admin/api/resources/https%3A%2F%2Fnowhere.example", headers=ADMIN, json={"name": "x"}
    )
    assert_error(response, 404, "not_found", "Resource 'https://nowhere.example' not found")
    response = await client.put(path, headers=ADMIN)
    assert response.status_code == 405
    assert set(response.headers["allow"].replace(" ", "").split(",")) == {
        "GET",
        "HEAD",
        "PATCH",
        "DELETE",
    }
    response = await client.get(path)
    assert response.status_code == 401  # the same bearer check as every admin route


# --- bodies ------------------------------------------------------------------------------


async def test_bodies_must_be_json_objects(client: httpx.AsyncClient) -> None:
    response = await client.post("/admin/api/clients", headers=ADMIN, data={"client_name": "x"})
    assert_error(response, 415, "invalid_request", "Content-Type must be application/json")
    response = await client.post(
        "/admin/api/clients",
        headers={**ADMIN, "Content-Type": "application/json"},
        content=b"{not json",
    )
    assert_error(response, 400, "invalid_request", "The request body is not valid JSON")
    response = await client.post("/admin/api/clients", headers=ADMIN, json=["a"])
    assert_error(response, 400, "invalid_request", "The request body must be a JSON object")
    response = await client.post(
        "/admin/api/clients",
        headers={**ADMIN, "Content-Type": "application/json"},
        content=b"[" * 3000 + b"]" * 3000,
    )
    assert response.status_code == 413  # max_body_bytes is 2048 in these tests
    response = await client.post(
        "/admin/api/clients",
        headers={**ADMIN, "Content-Type": "application/json"},
        content=b"[" * 1000 + b"]" * 1000,
    )
    # Nesting deeper than the parser's recursion limit is bad JSON, not a 500.
    assert_error(response, 400, "invalid_request", "The request body is not valid JSON")


# --- users ---------------------------------------------------------------------------------


async def test_user_lifecycle(client: httpx.AsyncClient, fake_admin: AdminBackend) -> None:
    user = await call(
        client,
        "POST",
        "/users",
        201,
        json={"username": "Erin", "password": "long enough", "email": "erin@example.com"},
    )
    user_id = user["user_id"]
    assert user == {
        "user_id": user_id,
        "username": "Erin",
        "email": "erin@example.com",
        "email_verified": False,
        "enabled": True,
        "given_name": "",
        "family_name": "",
        "name": "",
        "created_at": "2023-11-14T22:13:20Z",
        "updated_at": "2023-11-14T22:13:20Z",
    }
    assert fake_admin.requests[-1][1].actor.id == ACTOR
    assert (await call(client, "GET", f"/users/{user_id}"))["username"] == "Erin"
    listed = await call(client, "GET", "/users", params={"search": "erin"})
    assert [u["user_id"] for u in listed["items"]] == [user_id]

    updated = await call(
        client, "PATCH", f"/users/{user_id}", json={"given_name": "Erin", "enabled": False}
    )
    assert (updated["given_name"], updated["enabled"]) == ("Erin", False)
    request = fake_admin.requests[-1][1]
    assert list(request.update_mask) == ["given_name", "enabled"]
    assert request.actor.id == ACTOR

    await call(client, "POST", f"/users/{user_id}/password", 204, json={"password": "n3w pass"})
    downstream = (await fake_admin.system()).downstream
    stored = downstream.user_store.users[user_id]
    assert stored.password_hash and await downstream.hasher.verify(stored.password_hash, "n3w pass")
    assert fake_admin.requests[-1][1].actor.id == ACTOR
    await call(client, "DELETE", f"/users/{user_id}", 204)
    response = await client.get(f"/admin/api/users/{user_id}", headers=ADMIN)
    assert_error(response, 404, "not_found", f"User {user_id!r} not found")


async def test_user_errors(client: httpx.AsyncClient) -> None:
    response = await client.post("/admin/api/users", headers=ADMIN, json={"username": "x"})
    assert_error(response, 400, "invalid_request", "Missing 'password'")
    body = {"username": "dup", "password": "long enough"}
    await call(client, "POST", "/users", 201, json=body)
    response = await client.post("/admin/api/users", headers=ADMIN, json=body)
    assert_error(response, 409, "conflict", "Username 'dup' is already taken")
    response = await client.patch("/admin/api/users/nobody", headers=ADMIN, json={"name": "x"})
    assert_error(response, 404, "not_found", "User 'nobody' not found")
    response = await client.patch("/admin/api/users/nobody", headers=ADMIN, json={"enabled": 0})
    assert_error(response, 400, "invalid_request", "'enabled' must be true or false")
    response = await client.post("/admin/api/users/nobody/password", headers=ADMIN, json={})
    assert_error(response, 400, "invalid_request", "Missing 'password'")


# --- grants ---------------------------------------------------------------------------------


async def test_grants_list_and_revoke(client: httpx.AsyncClient, fake_admin: AdminBackend) -> None:
    page = await call(client, "GET", "/grants", params={"user_id": GRANT_USER, "page_size": 2})
    assert page["consents"] == [
        {
            "client_id": fakes.CLIENT_ID,
            "user_id": GRANT_USER,
            "scopes": ["openid", "offline_access"],
            "granted_at": "2023-11-14T22:13:20Z",
        }
    ]
    assert [f["family_id"] for f in page["items"]] == list(FAMILIES[:2])
    assert page["items"][0].pop("expires_at").endswith("Z")
    assert page["items"][0] == {
        "family_id": FAMILIES[0],
        "client_id": fakes.CLIENT_ID,
        "user_id": GRANT_USER,
        "scope": "openid offline_access",
        "created_at": "2023-11-14T22:13:20Z",
    }
    assert page["next_page_token"]
    assert fake_admin.requests[-1][1].subject == GRANT_USER

    await call(client, "DELETE", f"/grants/{FAMILIES[0]}", 204)
    assert fake_admin.requests[-1][1].family_id == FAMILIES[0]
    assert fake_admin.requests[-1][1].actor.id == ACTOR
    await call(client, "DELETE", f"/grants/{FAMILIES[0]}", 204)  # again: nothing more to do
    response = await client.delete("/admin/api/grants/nope", headers=ADMIN)
    assert_error(response, 404, "not_found", "Grant 'nope' not found")

    revoked = await call(client, "DELETE", "/grants", params={"client_id": fakes.CLIENT_ID})
    assert revoked == {"revoked": 2}
    request = fake_admin.requests[-1][1]
    assert (request.client_id, request.subject, request.actor.id) == (fakes.CLIENT_ID, "", ACTOR)


async def test_grants_need_a_selector(client: httpx.AsyncClient) -> None:
    response = await client.get("/admin/api/grants", headers=ADMIN)
    assert_error(response, 400, "invalid_request", "Give 'user_id' or 'client_id'")
    response = await client.delete(
        "/admin/api/grants", headers=ADMIN, params={"user_id": "u", "client_id": "c"}
    )
    assert_error(response, 400, "invalid_request", "Give only one of 'user_id' and 'client_id'")


# --- keys, stats, audit, registration tokens -------------------------------------------------


async def test_keys(client: httpx.AsyncClient, fake_admin: AdminBackend) -> None:
    keys = await call(client, "GET", "/keys")
    es256 = keys["items"][0]
    assert es256 == {
        "kid": es256["kid"],
        "alg": "ES256",
        "status": "active",
        "created_at": "2023-11-14T22:13:20Z",
    }
    new = await call(client, "POST", "/keys/rotate", 201, json={"alg": "RS256"})
    assert (new["alg"], new["status"]) == ("RS256", "active")
    assert fake_admin.requests[-1][1].actor.id == ACTOR
    # The body is optional: the server default algorithm.
    default = await call(client, "POST", "/keys/rotate", 201)
    assert fake_admin.requests[-1][1].alg == "" and default["alg"] == "ES256"
    response = await client.post("/admin/api/keys/rotate", headers=ADMIN, json={"alg": "HS256"})
    assert_error(response, 400, "invalid_request", "'alg' must be one of ES256, RS256")

    # The rotation left the former ES256 key previous: retiring it takes it out now.
    retired = await call(client, "POST", f"/keys/{es256['kid']}/retire")
    assert retired["status"] == "retired" and retired["retired_at"]
    response = await client.post(f"/admin/api/keys/{default['kid']}/retire", headers=ADMIN)
    assert_error(response, 400, "invalid_request", "Rotate the key before retiring it")
    response = await client.post("/admin/api/keys/nope/retire", headers=ADMIN)
    assert_error(response, 404, "not_found", "Signing key 'nope' not found")


async def test_stats(client: httpx.AsyncClient) -> None:
    stats = await call(client, "GET", "/stats")
    assert stats.pop("since").endswith("Z")
    assert stats == {
        "clients": 0,
        "users": 0,
        "active_grants": 3,
        "tokens_issued_by_grant_type": {
            "authorization_code": 0,
            "refresh_token": 0,
            "client_credentials": 0,
            "urn:ietf:params:oauth:grant-type:device_code": 0,
            "urn:ietf:params:oauth:grant-type:token-exchange": 0,
        },
    }


async def test_audit_filters(client: httpx.AsyncClient, fake_admin: AdminBackend) -> None:
    await call(client, "POST", "/clients", 201, json={"client_id": "a1"})
    await call(client, "DELETE", "/clients/a1", 204)
    events = await call(client, "GET", "/audit", params={"target": "client:a1"})
    assert [e["action"] for e in events["items"]] == ["client.deleted", "client.created"]
    deleted = events["items"][0]
    assert deleted["event_id"] and deleted["time"].endswith("Z")
    assert deleted == {
        "event_id": deleted["event_id"],
        "action": "client.deleted",
        "actor": ACTOR,
        "remote_addr": "127.0.0.1",
        "target": "client:a1",
        "outcome": "success",
        "time": deleted["time"],
        "trace_id": deleted["trace_id"],
        "source": "oauth2-admin",
        "details": {"families_revoked": "0", "consents_revoked": "0"},
    }
    await call(
        client,
        "GET",
        "/audit",
        params={
            "action": "client.created",
            "actor": ACTOR,
            "outcome": "success",
            "since": "2024-01-01T00:00:00Z",
            "until": "2024-01-02T00:00:00+02:00",
        },
    )
    request = fake_admin.requests[-1][1]
    assert (request.action, request.actor_id, request.outcome) == (
        "client.created",
        ACTOR,
        "success",
    )
    assert request.since.seconds == 1704067200
    assert request.until.seconds == 1704146400
    for params, description in [
        ({"since": "yesterday"}, "'since' must be an RFC 3339 date-time"),
        ({"until": "2024-01-01"}, "'until' must be an RFC 3339 date-time"),
        ({"outcome": "maybe"}, "'outcome' must be one of success, failure, denied"),
        ({"page_size": "-1"}, "'page_size' must be an integer from 0 to 500"),
        ({"page_size": "501"}, "'page_size' must be between 0 and 500"),
    ]:
        response = await client.get("/admin/api/audit", headers=ADMIN, params=params)
        assert response.status_code == 400, params
        assert response.json()["error_description"].startswith(description)


async def test_registration_tokens(client: httpx.AsyncClient, fake_admin: AdminBackend) -> None:
    created = await call(
        client, "POST", "/registration-tokens", 201, json={"expires_in": 600, "max_uses": 3}
    )
    assert len(created["initial_access_token"]) >= 43
    assert created["expires_at"].endswith("Z")
    request = fake_admin.requests[-1][1]
    assert (request.expires_in, request.max_uses, request.actor.id) == (600, 3, ACTOR)
    for body in ({"expires_in": True}, {"max_uses": -1}, {"expires_in": 1.5}):
        response = await client.post("/admin/api/registration-tokens", headers=ADMIN, json=body)
        assert response.status_code == 400, body


# --- downstream failures ---------------------------------------------------------------------


async def test_downstream_errors_map_to_documented_statuses(
    client: httpx.AsyncClient, fake_admin: AdminBackend
) -> None:
    fake_admin.fail["GetStats"] = TemporarilyUnavailable()
    response = await client.get("/admin/api/stats", headers=ADMIN)
    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable"

    fake_admin.fail["GetStats"] = ServerError("boom", detail="a secret stack trace")
    response = await client.get("/admin/api/stats", headers=ADMIN)
    assert_error(response, 500, "server_error")

    fake_admin.fail["ListSigningKeys"] = Conflict("Already")
    response = await client.get("/admin/api/keys", headers=ADMIN)
    assert_error(response, 409, "conflict", "Already")


async def test_admin_service_unreachable_is_503(make_client: Any) -> None:
    from gateway.tests.conftest import dead_target

    client = await make_client(admin_target=dead_target(), admin_listener=True)
    response = await client.get("/admin/api/stats", headers=ADMIN)
    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable"


async def test_wrong_method_is_405_naming_the_allowed_ones(client: httpx.AsyncClient) -> None:
    response = await client.put("/admin/api/clients/x", headers=ADMIN)
    assert response.status_code == 405
    assert set(response.headers["allow"].replace(" ", "").split(",")) == {
        "GET",
        "HEAD",
        "PATCH",
        "DELETE",
    }


# --- the listeners ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/admin/api/clients"),
        ("POST", "/admin/api/clients"),
        ("GET", "/admin/api/users/u-1"),
        ("POST", "/admin/api/keys/rotate"),
        ("GET", "/admin/api/audit"),
        ("GET", "/metrics"),
    ],
)
async def test_the_public_listener_does_not_serve_the_admin_surface(
    make_client: Any, fake_admin: AdminBackend, method: str, path: str
) -> None:
    public = await make_client()
    response = await public.request(method, path, headers=ADMIN, json={})
    assert (response.status_code, response.json()) == (404, {"error": "not_found"})
    assert fake_admin.requests == []
    admin = await make_client(admin_listener=True)
    assert (await admin.get("/admin/api/clients", headers=ADMIN)).status_code == 200
    assert (await admin.get("/metrics")).status_code == 200


# --- denied calls are audited -----------------------------------------------------------


class RecordedAudit:
    """An AuditSink that keeps what it is told."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def report(self, action: str, **fields: Any) -> None:
        self.events.append({"action": action, **fields})


async def test_denied_calls_are_audited_once_per_address_and_minute(
    make_client: Any, fake_token: FakeTokenService, fake_admin: AdminBackend
) -> None:
    audit = RecordedAudit()
    client = await make_client(admin_listener=True, audit=audit)
    response = await client.get("/admin/api/clients")
    assert response.status_code == 401
    assert audit.events == [
        {
            "action": "admin.denied",
            "actor": "anonymous",
            "target": "admin_api",
            "outcome": "denied",
            "remote_addr": "127.0.0.1",
            "details": {
                "path": "/admin/api/clients",
                "method": "GET",
                "status": "401",
                "reason": "no_token",
            },
        }
    ]
    # A flood from the same address: still refused, not reported again.
    for token in ("not-a-token", "good-token", "bad"):
        refused = await client.get("/admin/api/users", headers={"Authorization": f"Bearer {token}"})
        assert refused.status_code in (401, 403)
    assert len(audit.events) == 1
    assert (await client.get("/admin/api/clients", headers=ADMIN)).status_code == 200
    assert len(audit.events) == 1  # allowed calls are the admin service's to audit


async def test_denied_calls_are_audited_without_redis(
    make_client: Any, fake_token: FakeTokenService
) -> None:
    """Redis down (nothing listens on port 1): the shared throttle cannot answer,
    so the process throttles alone; the knock is still reported, once."""
    audit = RecordedAudit()
    client = await make_client(admin_listener=True, audit=audit, redis_url="redis://127.0.0.1:1/0")
    for token in ("not-a-token", "bad", "worse"):
        refused = await client.get("/admin/api/users", headers={"Authorization": f"Bearer {token}"})
        assert refused.status_code == 401
    assert [event["details"]["reason"] for event in audit.events] == ["invalid_token"]


def test_the_local_throttle_forgets_after_its_window() -> None:
    now = [0.0]
    throttle = LocalThrottle(clock=lambda: now[0])
    assert throttle.first("a", 60)
    assert not throttle.first("a", 60)
    assert throttle.first("b", 60)
    now[0] = 61.0
    assert throttle.first("a", 60)


@pytest.mark.parametrize(
    ("token", "status", "reason"),
    [("not-a-token", 401, "invalid_token"), ("good-token", 403, "insufficient_scope")],
)
async def test_the_reason_of_a_denial(
    make_client: Any, fake_token: FakeTokenService, token: str, status: int, reason: str
) -> None:
    audit = RecordedAudit()
    client = await make_client(admin_listener=True, audit=audit)
    response = await client.post(
        "/admin/api/keys/rotate", headers={"Authorization": f"Bearer {token}"}, json={}
    )
    assert response.status_code == status
    [event] = audit.events
    assert event["details"]["reason"] == reason
    assert event["details"]["status"] == str(status)
    assert event["details"]["path"] == "/admin/api/keys/rotate"
