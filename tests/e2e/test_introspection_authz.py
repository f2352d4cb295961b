"""Who may introspect which token (RFC 7662 sections 2.1 and 4), through the gateway:
a client sees its own tokens; another client sees {"active": false}, exactly what
a token that does not exist gets; a resource server named in the token's aud and
a client an operator gave the introspection permission (oauth2ctl client create
--introspection) see every token they concern. Revocation keeps the RFC 7009
section 2.1 check: another client's revocation is refused and revokes nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.admin_support import AdminApi, client_token
from tests.e2e.browser import pkce_pair
from tests.e2e.conftest import RunningSystem, basic
from tests.e2e.test_sign_in import exchange, new_client, unique
from tests.e2e.test_sign_in_rejections import code_for, person  # noqa: F401 - a fixture

pytestmark = pytest.mark.e2e

#: Imported, so that the resource server can be created again in a later test.
RS_SECRET = "resource-server-in-aud-" + "s" * 24


def backend(system: RunningSystem, *extra: str) -> dict[str, Any]:
    return system.create_client(
        "--name", unique("backend"), "--grant-type", "client_credentials", "--scope", "api", *extra
    )


def introspect_as(system: RunningSystem, client: dict[str, Any], token: str) -> httpx.Response:
    with system.http() as http:
        return http.post(
            "/oauth/introspect",
            data={"token": token},
            headers={"Authorization": basic(client["client_id"], client["client_secret"])},
        )


def active(system: RunningSystem, client: dict[str, Any], token: str) -> dict[str, Any]:
    resp = introspect_as(system, client, token)
    assert resp.status_code == 200, resp.text
    assert resp.headers["cache-control"] == "no-store"
    return resp.json()  # type: ignore[no-any-return]


def test_a_client_introspects_only_its_own_tokens(system: RunningSystem) -> None:
    owner, other = backend(system), backend(system)
    token = client_token(system, owner["client_id"], owner["client_secret"])

    mine = active(system, owner, token)
    assert mine["active"] is True and mine["client_id"] == owner["client_id"]
    # Another client learns nothing, not even that the token exists.
    assert active(system, other, token) == {"active": False}
    assert active(system, other, token) == active(system, other, "no-such-token")


def test_refresh_tokens_of_other_clients_are_inactive(system: RunningSystem, person: str) -> None:  # noqa: F811
    web = new_client(system, "client_secret_basic")
    verifier, challenge = pkce_pair()
    tokens = exchange(system, web, code_for(system, web, person, challenge), verifier).json()
    other = backend(system)
    assert active(system, web, tokens["refresh_token"])["active"] is True
    assert active(system, other, tokens["refresh_token"]) == {"active": False}
    assert active(system, other, tokens["access_token"]) == {"active": False}


def test_the_introspection_permission_from_oauth2ctl(system: RunningSystem) -> None:
    owner = backend(system)
    rs = backend(system, "--introspection")
    assert rs["introspection"] is True
    token = client_token(system, owner["client_id"], owner["client_secret"])
    seen = active(system, rs, token)
    assert seen["active"] is True and seen["client_id"] == owner["client_id"]
    assert seen["scope"] == "api"


def test_a_resource_server_named_in_aud(system: RunningSystem) -> None:
    """Access tokens carry aud = the issuer by default (RFC 9068 section 3,
    access_token_audience): a client registered under that id is their resource
    server and may introspect them without any permission."""
    rs_id = system.base_url
    with AdminApi(system) as api:
        resp = api.http.post(
            "/clients",
            json={
                "client_id": rs_id,
                "client_secret": RS_SECRET,
                "grant_types": ["client_credentials"],
            },
        )
        # 409 when an earlier run of this test on the same system created it.
        assert resp.status_code in (201, 409), resp.text
    rs = {"client_id": rs_id, "client_secret": RS_SECRET}
    owner = backend(system)
    token = client_token(system, owner["client_id"], owner["client_secret"])
    seen = active(system, rs, token)
    assert seen["active"] is True and rs_id in (
        seen["aud"] if isinstance(seen["aud"], list) else [seen["aud"]]
    )
    assert seen["client_id"] == owner["client_id"]


def test_revocation_by_another_client_revokes_nothing(system: RunningSystem) -> None:
    owner, other = backend(system), backend(system)
    token = client_token(system, owner["client_id"], owner["client_secret"])
    with system.http() as http:
        resp = http.post(
            "/oauth/revoke",
            data={"token": token},
            headers={"Authorization": basic(other["client_id"], other["client_secret"])},
        )
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"] == "unauthorized_client"
    assert active(system, owner, token)["active"] is True
    # The owner's own revocation works (RFC 7009 section 2.2: 200).
    with system.http() as http:
        resp = http.post(
            "/oauth/revoke",
            data={"token": token},
            headers={"Authorization": basic(owner["client_id"], owner["client_secret"])},
        )
    assert resp.status_code == 200
    assert active(system, owner, token) == {"active": False}
