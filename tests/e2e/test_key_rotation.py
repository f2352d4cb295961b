"""Signing-key rotation under live traffic: tokens signed by the old key stay valid
until they expire (or the key is retired), new tokens use the new key, the JWKS
holds both meanwhile and drops the retired key afterwards."""

from __future__ import annotations

import base64
import json
import threading
import time

import pytest

from tests.e2e.admin_support import AdminApi, client_token
from tests.e2e.conftest import RunningSystem
from tests.e2e.test_sign_in import introspect

pytestmark = pytest.mark.e2e


def kid_of(token: str) -> str:
    header = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]


def jwks_kids(system: RunningSystem) -> set[str]:
    with system.http() as http:
        return {key["kid"] for key in http.get("/oauth/jwks").json()["keys"]}


def test_rotation_with_live_traffic(system: RunningSystem) -> None:
    client = system.create_client(
        "--name", "busy-service", "--grant-type", "client_credentials", "--scope", "api"
    )
    failures: list[str] = []
    issued: list[str] = []
    stop = threading.Event()

    def traffic() -> None:
        with system.http() as http:
            while not stop.is_set():
                resp = http.post(
                    "/oauth/token",
                    data={"grant_type": "client_credentials"},
                    auth=(client["client_id"], client["client_secret"]),
                )
                if resp.status_code != 200:
                    failures.append(f"token {resp.status_code} {resp.text}")
                    continue
                token = resp.json()["access_token"]
                issued.append(token)
                if not introspect(system, token)["active"]:
                    failures.append(f"fresh token inactive (kid {kid_of(token)})")

    worker = threading.Thread(target=traffic, daemon=True)
    worker.start()
    try:
        old_token = client_token(system, client["client_id"], client["client_secret"])
        old_kid = kid_of(old_token)
        with AdminApi(system) as api:
            new_key = api.ok("POST", "/keys/rotate", 201, json={"alg": "ES256"})
            new_kid = new_key["kid"]
            assert new_kid != old_kid and new_key["status"] == "active"
            assert {old_kid, new_kid} <= jwks_kids(system)

            # Every replica signs with the new key from now on; the old token still works.
            deadline = time.monotonic() + 10
            while (
                kid_of(client_token(system, client["client_id"], client["client_secret"]))
                != new_kid
            ):
                assert time.monotonic() < deadline, "new tokens never used the new key"
                time.sleep(0.1)
            assert introspect(system, old_token)["active"] is True
            statuses = {k["kid"]: k["status"] for k in api.ok("GET", "/keys")["items"]}
            assert statuses[old_kid] == "previous" and statuses[new_kid] == "active"

            time.sleep(0.5)  # live traffic across the switch
            stop.set()
            worker.join(10)

            # Retiring the old key drops it from the JWKS and its tokens die.
            retired = api.ok("POST", f"/keys/{old_kid}/retire")
            assert retired["status"] == "retired"
            assert old_kid not in jwks_kids(system) and new_kid in jwks_kids(system)
            assert introspect(system, old_token) == {"active": False}
        # The admin token above was signed by the key just retired: it died too.
        with AdminApi(system) as api:
            actions = {e["action"] for e in api.ok("GET", "/audit")["items"]}
            assert {"key.rotated", "key.retired"} <= actions
    finally:
        stop.set()
        worker.join(10)
    assert not failures, failures[:5]
    assert len(issued) > 3, "the live traffic made too few requests to mean anything"
    assert {kid_of(t) for t in issued} >= {new_kid}
