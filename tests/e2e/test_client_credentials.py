"""A backend gets a token with client_credentials (RFC 6749 section 4.4) through
the gateway; a resource server checks it by signature against the JWKS
(verified with joserfc, not the PyJWT that signed it), by introspection
(RFC 7662), and sees it die on revocation (RFC 7009).
"""

from __future__ import annotations

import time

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.e2e.conftest import RunningSystem, basic

pytestmark = pytest.mark.e2e


def _verify(system: RunningSystem, access_token: str, client_id: str, scope: str) -> dict:
    with system.http() as http:
        jwks = http.get("/oauth/jwks").json()
    keys = KeySet.import_key_set(jwks)
    token = jwt.decode(access_token, keys, algorithms=["ES256", "RS256"])
    assert token.header["typ"] == "at+jwt"
    assert token.header["alg"] == "ES256"
    assert token.header["kid"] in {k["kid"] for k in jwks["keys"]}
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": system.base_url},
        sub={"essential": True, "value": client_id},
        aud={"essential": True, "value": system.base_url},
        client_id={"essential": True, "value": client_id},
        scope={"essential": True, "value": scope},
        exp={"essential": True},
        iat={"essential": True},
        jti={"essential": True},
    ).validate(token.claims)
    now = time.time()
    assert token.claims["iat"] <= now + 5
    assert token.claims["exp"] - token.claims["iat"] == 3600
    return dict(token.claims)


@pytest.mark.parametrize("auth_method", ["client_secret_basic", "client_secret_post"])
def test_token_introspect_revoke(system: RunningSystem, auth_method: str) -> None:
    client = system.create_client(
        "--name",
        f"backend-{auth_method}",
        "--grant-type",
        "client_credentials",
        "--scope",
        "api:read api:write",
        "--auth-method",
        auth_method,
    )
    assert client["token_endpoint_auth_method"] == auth_method
    client_id, secret = client["client_id"], client["client_secret"]
    resource_server = system.create_client(
        "--name",
        "resource-server",
        "--grant-type",
        "client_credentials",
        "--scope",
        "introspect",
        "--introspection",
    )
    rs_auth = {
        "Authorization": basic(resource_server["client_id"], resource_server["client_secret"])
    }

    with system.http() as http:
        form = {"grant_type": "client_credentials", "scope": "api:read"}
        if auth_method == "client_secret_basic":
            resp = http.post(
                "/oauth/token", data=form, headers={"Authorization": basic(client_id, secret)}
            )
        else:
            resp = http.post(
                "/oauth/token", data={**form, "client_id": client_id, "client_secret": secret}
            )
        assert resp.status_code == 200, resp.text
        assert resp.headers["cache-control"] == "no-store"
        assert resp.headers["content-type"].startswith("application/json")
        body = resp.json()
        access_token = body.pop("access_token")
        assert body == {"token_type": "Bearer", "expires_in": 3600, "scope": "api:read"}

        claims = _verify(system, access_token, client_id, "api:read")

        resp = http.post("/oauth/introspect", data={"token": access_token}, headers=rs_auth)
        assert resp.status_code == 200
        assert resp.headers["cache-control"] == "no-store"
        assert resp.json() == {
            "active": True,
            "scope": "api:read",
            "client_id": client_id,
            "token_type": "Bearer",
            "exp": claims["exp"],
            "iat": claims["iat"],
            "sub": client_id,
            "aud": system.base_url,
            "iss": system.base_url,
            "jti": claims["jti"],
        }

        # Only the client the token was issued to may revoke it (RFC 7009 section 2.1).
        resp = http.post("/oauth/revoke", data={"token": access_token}, headers=rs_auth)
        assert resp.status_code == 400
        assert resp.json()["error"] == "unauthorized_client"
        assert (
            http.post("/oauth/introspect", data={"token": access_token}, headers=rs_auth).json()[
                "active"
            ]
            is True
        )

        revoke_form = {"token": access_token, "token_type_hint": "access_token"}
        if auth_method == "client_secret_basic":
            resp = http.post(
                "/oauth/revoke",
                data=revoke_form,
                headers={"Authorization": basic(client_id, secret)},
            )
        else:
            resp = http.post(
                "/oauth/revoke",
                data={**revoke_form, "client_id": client_id, "client_secret": secret},
            )
        assert resp.status_code == 200
        assert resp.content == b""

        resp = http.post("/oauth/introspect", data={"token": access_token}, headers=rs_auth)
        assert resp.status_code == 200
        assert resp.json() == {"active": False}

        # Revoking again is not an error (RFC 7009 section 2.2).
        resp = http.post(
            "/oauth/revoke",
            data={"token": access_token},
            headers={"Authorization": basic(client_id, secret)}
            if auth_method == "client_secret_basic"
            else None,
        )
        if auth_method == "client_secret_basic":
            assert resp.status_code == 200


def test_default_scope_is_the_registered_scope(system: RunningSystem) -> None:
    client = system.create_client(
        "--name", "svc", "--grant-type", "client_credentials", "--scope", "a b"
    )
    with system.http() as http:
        resp = http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": basic(client["client_id"], client["client_secret"])},
        )
    assert resp.status_code == 200, resp.text
    assert resp.json()["scope"] == "a b"


def test_discovery_and_jwks(system: RunningSystem) -> None:
    with system.http() as http:
        for path in (
            "/.well-known/oauth-authorization-server",
            "/.well-known/openid-configuration",
        ):
            meta = http.get(path).json()
            assert meta["issuer"] == system.base_url
            assert meta["token_endpoint"] == system.base_url + "/oauth/token"
            assert meta["jwks_uri"] == system.base_url + "/oauth/jwks"
            assert meta["introspection_endpoint"] == system.base_url + "/oauth/introspect"
            assert meta["revocation_endpoint"] == system.base_url + "/oauth/revoke"
            assert "client_credentials" in meta["grant_types_supported"]
            assert set(meta["token_endpoint_auth_methods_supported"]) >= {
                "client_secret_basic",
                "client_secret_post",
            }
        jwks = http.get("/oauth/jwks").json()
    algs = {key["alg"] for key in jwks["keys"]}
    assert {"ES256", "RS256"} <= algs
    for key in jwks["keys"]:
        assert key["kid"] and key["use"] == "sig"
        assert "d" not in key and "p" not in key  # never a private member


def test_health_and_ready(system: RunningSystem) -> None:
    with system.http() as http:
        assert http.get("/health").status_code == 200
        assert http.get("/ready").status_code == 200
