"""JWT client authentication, ``private_key_jwt`` and ``client_secret_jwt`` (RFC 7523),
through the gateway on PostgreSQL + Redis and on the embedded default.

A client registered with ``oauth2ctl client create --auth-method private_key_jwt
--jwks-file`` (or ``--jwks-uri``, served here) authenticates with assertions signed
by joserfc and by Authlib's ``PrivateKeyJWT`` (the README's example), at the token,
introspection, revocation and PAR endpoints. A wrong ``aud``, an expired or
replayed assertion, an unknown ``kid``, another client's key, ``alg=none``, a MAC
and the other broken rules are each refused with ``invalid_client``.

A client registered with ``--auth-method client_secret_jwt`` gets a secret once and
authenticates with HMACs keyed by it (HS256, HS384, HS512; joserfc's ``OctKey`` and
Authlib's ``ClientSecretJWT``) at the token and introspection endpoints; never with
the secret itself, a public-key signature, an old secret after a rotation."""

from __future__ import annotations

import base64
import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from authlib.integrations.base_client import OAuthError
from authlib.integrations.httpx_client import OAuth2Client
from authlib.oauth2.rfc7523 import ClientSecretJWT, PrivateKeyJWT
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, OctKey, RSAKey

from tests.e2e.conftest import RunningSystem, basic
from tests.e2e.test_request_objects import KeyServer, key_server, signing_key
from tests.e2e.test_sign_in import REDIRECT, unique

pytestmark = pytest.mark.e2e

__all__ = ["key_server"]  # the fixture, for this module's tests

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def jwt_client(
    system: RunningSystem, tmp_path: Path, key: RSAKey | ECKey | None, *extra: str
) -> dict[str, Any]:
    args = [
        "--name",
        unique("Key App"),
        "--grant-type",
        "client_credentials",
        "--auth-method",
        "private_key_jwt",
        *extra,
    ]
    if key is not None:
        jwks = tmp_path / f"jwks-{unique('k')}.json"
        jwks.write_text(json.dumps({"keys": [key.as_dict(private=False)]}))
        args += ["--jwks-file", str(jwks)]
    return system.create_client(*args)


def assertion(
    system: RunningSystem,
    client_id: str,
    key: RSAKey | ECKey | OctKey,
    alg: str = "ES256",
    *,
    header: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    now = int(time.time())
    payload = {
        "iss": client_id,
        "sub": client_id,
        "aud": system.base_url + "/oauth/token",
        "iat": now,
        "exp": now + 60,
        "jti": str(uuid.uuid4()),
        **claims,
    }
    payload = {name: value for name, value in payload.items() if value is not None}
    head = {"alg": alg, **({"kid": key.kid} if key.kid else {}), **(header or {})}
    return jwt.encode(head, payload, key, algorithms=[alg])


def token(http: httpx.Client, signed: str, **extra: str) -> httpx.Response:
    return http.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": signed,
            **extra,
        },
    )


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_discovery_offers_private_key_jwt(system: RunningSystem) -> None:
    with system.http() as http:
        metadata = http.get("/.well-known/oauth-authorization-server").json()
    for endpoint in ("token", "introspection", "revocation"):
        assert "private_key_jwt" in metadata[f"{endpoint}_endpoint_auth_methods_supported"]
        assert "client_secret_jwt" in metadata[f"{endpoint}_endpoint_auth_methods_supported"]
        assert metadata[f"{endpoint}_endpoint_auth_signing_alg_values_supported"] == [
            "RS256",
            "PS256",
            "ES256",
            "EdDSA",
            "HS256",
            "HS384",
            "HS512",
        ]
    # Request objects are verified with public keys only.
    assert "HS256" not in metadata["request_object_signing_alg_values_supported"]


def test_an_assertion_buys_a_token_once(system: RunningSystem, tmp_path: Path) -> None:
    key = signing_key()
    client = jwt_client(system, tmp_path, key)
    # No secret for a client that holds a private key.
    assert not client.get("client_secret")
    signed = assertion(system, client["client_id"], key)
    with system.http() as http:
        first = token(http, signed)
        assert first.status_code == 200, first.text
        access = first.json()["access_token"]
        keys = KeySet.import_key_set(http.get("/oauth/jwks").json())
        claims = jwt.decode(access, keys, algorithms=["ES256"]).claims
        assert (claims["sub"], claims["client_id"]) == (client["client_id"], client["client_id"])
        # RFC 7523 section 3, item 7: the same jti again is a replay.
        again = token(http, signed)
        assert (again.status_code, again.json()["error"]) == (401, "invalid_client")
        assert "used before" in again.json()["error_description"]
        # client_id beside the assertion must name the same client.
        other = token(http, assertion(system, client["client_id"], key), client_id="someone")
        assert (other.status_code, other.json()["error"]) == (401, "invalid_client")
        # The issuer itself is an audience too.
        by_issuer = token(http, assertion(system, client["client_id"], key, aud=system.base_url))
        assert by_issuer.status_code == 200, by_issuer.text


def test_authlib_private_key_jwt(system: RunningSystem, tmp_path: Path) -> None:
    """The README's example: Authlib's PrivateKeyJWT, unmodified defaults (RS256,
    an hour's lifetime, the token endpoint as aud)."""
    key = RSAKey.generate_key(2048)
    client = jwt_client(system, tmp_path, key)
    token_endpoint = system.base_url + "/oauth/token"
    with OAuth2Client(
        client_id=client["client_id"],
        client_secret=key.as_pem(private=True).decode(),
        token_endpoint_auth_method=PrivateKeyJWT(token_endpoint),
    ) as oauth:
        tokens = oauth.fetch_token(token_endpoint, grant_type="client_credentials")
        assert tokens["token_type"] == "Bearer"
    # Introspection and revocation authenticate the same way (a new assertion each).
    with httpx.Client(base_url=system.base_url, timeout=10) as http:
        for path in ("/oauth/introspect", "/oauth/revoke"):
            answer = http.post(
                path,
                data={
                    "token": tokens["access_token"],
                    "client_assertion_type": ASSERTION_TYPE,
                    "client_assertion": assertion(
                        system,
                        client["client_id"],
                        key,
                        "RS256",
                        aud=system.base_url + path,
                    ),
                },
            )
            assert answer.status_code == 200, (path, answer.text)
            if path == "/oauth/introspect":
                assert answer.json()["active"] is True
    # Revoked: the next introspection (a resource server's) says inactive.
    rs = system.resource_server()
    with system.http() as http:
        seen = http.post(
            "/oauth/introspect",
            data={"token": tokens["access_token"]},
            auth=(rs["client_id"], rs["client_secret"]),
        )
        assert seen.json() == {"active": False}


def test_broken_assertions_are_refused(system: RunningSystem, tmp_path: Path) -> None:
    key = signing_key()
    client = jwt_client(system, tmp_path, key)
    client_id = client["client_id"]
    other_key = signing_key()
    other = jwt_client(system, tmp_path, other_key)
    # The registered key's kid, signed by another key.
    impostor = ECKey.import_key(other_key.as_dict(private=True) | {"kid": key.kid})
    good = assertion(system, client_id, key)
    _, payload, _ = good.split(".")
    now = int(time.time())
    cases = {
        "wrong aud": (
            assertion(system, client_id, key, aud="https://elsewhere.example/token"),
            "aud must be this issuer",
        ),
        "expired": (
            assertion(system, client_id, key, iat=now - 600, exp=now - 300),
            "expired",
        ),
        "no exp": (assertion(system, client_id, key, exp=None), "must have 'exp'"),
        "no jti": (assertion(system, client_id, key, jti=None), "must have 'jti'"),
        "too long a life": (
            assertion(system, client_id, key, exp=now + 7200),
            "lives longer than",
        ),
        "issued in the future": (
            assertion(system, client_id, key, iat=now + 600, exp=now + 900),
            "not valid yet",
        ),
        "iss not the client": (
            assertion(system, client_id, key, iss="someone-else"),
            "iss must be the client_id",
        ),
        "unknown kid": (
            assertion(system, client_id, key, header={"kid": "no-such-kid"}),
            "Cannot verify the client assertion",
        ),
        "another client's key": (assertion(system, client_id, other_key), "Cannot verify"),
        "forged with the kid": (
            assertion(system, client_id, impostor),
            "signature does not verify",
        ),
        "alg=none": (f"{b64({'alg': 'none'})}.{payload}.", "alg 'none' is not allowed"),
        # A MAC is client_secret_jwt, which this client did not register.
        "a MAC": (
            assertion(system, client_id, OctKey.generate_key(256), "HS256"),
            "Client authentication failed",
        ),
        "a DPoP proof's typ": (
            assertion(system, client_id, key, header={"typ": "dpop+jwt"}),
            "typ must be",
        ),
        "not a JWT": ("not-a-jwt", "Malformed client assertion"),
    }
    with system.http() as http:
        for name, (signed, message) in cases.items():
            answer = token(http, signed)
            assert answer.status_code == 401, (name, answer.status_code, answer.text)
            body = answer.json()
            assert body["error"] == "invalid_client", (name, body)
            assert message in body["error_description"], (name, body)
        # Another client's good assertion does not pass for this one.
        theirs = token(http, assertion(system, other["client_id"], key))
        assert (theirs.status_code, theirs.json()["error"]) == (401, "invalid_client")
        # A wrong assertion_type, and an assertion beside a secret.
        wrong_type = http.post(
            "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_assertion_type": "urn:example:saml",
                "client_assertion": good,
            },
        )
        assert (wrong_type.status_code, wrong_type.json()["error"]) == (401, "invalid_client")
        both = http.post(
            "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": good,
                "client_id": client_id,
                "client_secret": "x" * 40,
            },
        )
        assert (both.status_code, both.json()["error"]) == (400, "invalid_request")
        # None of the refusals used up the good one.
        assert token(http, good).status_code == 200


def test_keys_from_a_jwks_uri_and_a_pushed_request(
    system: RunningSystem, tmp_path: Path, key_server: KeyServer
) -> None:
    key = signing_key("RSA")
    jwks_uri = key_server.publish(f"/{unique('pkj')}/jwks.json", key)
    client = system.create_client(
        "--name",
        unique("Key URI App"),
        "--grant-type",
        "authorization_code",
        "--redirect-uri",
        REDIRECT,
        "--scope",
        "openid",
        "--auth-method",
        "private_key_jwt",
        "--jwks-uri",
        jwks_uri,
    )
    with system.http() as http:
        pushed = http.post(
            "/oauth/par",
            data={
                "response_type": "code",
                "redirect_uri": REDIRECT,
                "scope": "openid",
                "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                "code_challenge_method": "S256",
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": assertion(
                    system, client["client_id"], key, "PS256", aud=system.base_url
                ),
            },
        )
        assert pushed.status_code == 201, pushed.text
        assert pushed.json()["request_uri"].startswith("urn:ietf:params:oauth:request_uri:")
    assert any(path.endswith("/jwks.json") for path in key_server.fetches)


def test_registration_needs_keys(system: RunningSystem, tmp_path: Path) -> None:
    result = system.ctl(
        "client",
        "create",
        "--name",
        unique("Keyless"),
        "--grant-type",
        "client_credentials",
        "--auth-method",
        "private_key_jwt",
        check=False,
    )
    assert result.returncode != 0
    assert "register 'jwks' or 'jwks_uri'" in result.stderr
    key = signing_key()
    client = jwt_client(system, tmp_path, key)
    rotate = system.ctl("client", "rotate-secret", client["client_id"], check=False)
    assert rotate.returncode != 0
    assert "has no secret to rotate" in rotate.stderr


def secret_jwt_client(system: RunningSystem, *extra: str) -> dict[str, Any]:
    return system.create_client(
        "--name",
        unique("HMAC App"),
        "--grant-type",
        "client_credentials",
        "--auth-method",
        "client_secret_jwt",
        *extra,
    )


def introspect(http: httpx.Client, access_token: str, signed: str) -> httpx.Response:
    return http.post(
        "/oauth/introspect",
        data={
            "token": access_token,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": signed,
        },
    )


def test_client_secret_jwt_with_joserfc(system: RunningSystem) -> None:
    client = secret_jwt_client(system)
    client_id, secret = client["client_id"], client["client_secret"]
    # Shown once, like every confidential client's; long enough a key for HS512.
    assert len(secret.encode()) >= 64
    key = OctKey.import_key(secret)
    with system.http() as http:
        for alg in ("HS256", "HS384", "HS512"):
            signed = assertion(system, client_id, key, alg)
            first = token(http, signed)
            assert first.status_code == 200, (alg, first.text)
            again = token(http, signed)
            assert (again.status_code, again.json()["error"]) == (401, "invalid_client")
            assert "used before" in again.json()["error_description"]
        access = first.json()["access_token"]
        at_introspection = assertion(
            system, client_id, key, aud=system.base_url + "/oauth/introspect", alg="HS256"
        )
        answer = introspect(http, access, at_introspection)
        assert answer.status_code == 200, answer.text
        assert answer.json()["active"] is True and answer.json()["client_id"] == client_id
        refused = {
            "another secret": (
                assertion(system, client_id, OctKey.import_key("x" * 86), "HS256"),
                "signature does not verify",
            ),
            "wrong aud": (
                assertion(system, client_id, key, "HS256", aud="https://elsewhere.example"),
                "aud must be this issuer",
            ),
            "expired": (
                assertion(
                    system,
                    client_id,
                    key,
                    "HS256",
                    iat=int(time.time()) - 600,
                    exp=int(time.time()) - 300,
                ),
                "expired",
            ),
            # A signature by a key pair is private_key_jwt: not this client's method.
            "an ES256 signature": (
                assertion(system, client_id, signing_key()),
                "Client authentication failed",
            ),
        }
        for name, (signed, message) in refused.items():
            answer = token(http, signed)
            assert answer.status_code == 401, (name, answer.text)
            assert answer.json()["error"] == "invalid_client", name
            assert message in answer.json()["error_description"], (name, answer.json())
        # The secret itself is no credential of this client, by Basic or in the body.
        by_basic = http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": basic(client_id, secret)},
        )
        assert (by_basic.status_code, by_basic.json()["error"]) == (401, "invalid_client")
        by_post = http.post(
            "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": secret,
            },
        )
        assert (by_post.status_code, by_post.json()["error"]) == (401, "invalid_client")
        # Introspection refuses what the token endpoint refuses.
        bad = introspect(
            http, access, assertion(system, client_id, OctKey.import_key("y" * 86), "HS256")
        )
        assert (bad.status_code, bad.json()["error"]) == (401, "invalid_client")


def test_authlib_client_secret_jwt_and_a_rotation(system: RunningSystem) -> None:
    """Authlib's ClientSecretJWT, unmodified defaults (HS256, an hour's lifetime, the
    URL of each request as aud), at the token and introspection endpoints; after
    ``oauth2ctl client rotate-secret`` only the new secret signs."""
    client = secret_jwt_client(system)
    token_endpoint = system.base_url + "/oauth/token"

    def authlib(secret: str) -> OAuth2Client:
        return OAuth2Client(
            client_id=client["client_id"],
            client_secret=secret,
            token_endpoint_auth_method=ClientSecretJWT(),
        )

    with authlib(client["client_secret"]) as oauth:
        tokens = oauth.fetch_token(token_endpoint, grant_type="client_credentials")
        assert tokens["token_type"] == "Bearer"
        seen = oauth.introspect_token(
            system.base_url + "/oauth/introspect", token=tokens["access_token"]
        )
        assert seen.status_code == 200, seen.text
        assert seen.json()["active"] is True
    rotated = json.loads(
        system.ctl("client", "rotate-secret", client["client_id"], "--json").stdout
    )
    new_secret = rotated["client_secret"]
    assert new_secret != client["client_secret"] and len(new_secret.encode()) >= 64
    # The rotation revoked the client's tokens issued up to its second (whole-second
    # iat, docs/operators.md "Client changes revoke outstanding tokens").
    time.sleep(1.1)
    with authlib(client["client_secret"]) as oauth, pytest.raises(OAuthError) as refused:
        oauth.fetch_token(token_endpoint, grant_type="client_credentials")
    assert refused.value.error == "invalid_client"
    assert "signature does not verify" in str(refused.value.description)
    with authlib(new_secret) as oauth:
        tokens = oauth.fetch_token(token_endpoint, grant_type="client_credentials")
        seen = oauth.introspect_token(
            system.base_url + "/oauth/introspect", token=tokens["access_token"]
        )
        assert seen.json()["active"] is True


def test_oauth2ctl_gets_a_token_as_a_client_secret_jwt_client(system: RunningSystem) -> None:
    created = secret_jwt_client(system, "--scope", "api:read", "--get-token")
    assert created["token_response"]["token_type"] == "Bearer"
    assert created["token_response"]["scope"] == "api:read"
