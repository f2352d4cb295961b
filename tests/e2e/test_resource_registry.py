"""The registry of resource servers (RFC 8707) end to end, on both backends: an
operator registers, lists, shows, changes and deletes them with oauth2ctl and
through /admin/api/resources (the identifier percent-encoded in the path), the
clients service keeps them in its own schema, and the audit log has each change
with the operator's admin client as the actor."""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import quote

import pytest

from tests.e2e.admin_support import AdminApi, admin_credentials
from tests.e2e.conftest import RunningSystem

# Minutes of oauth2ctl processes: make test-slow (and CI) runs it, make test does not;
# the same paths are tested in process (oauth2ctl/tests, gateway/tests).
pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def ctl_json(system: RunningSystem, *args: str) -> Any:
    return json.loads(system.ctl(*args, "--json").stdout)


def segment(identifier: str) -> str:
    """The identifier as one path segment (encodeURIComponent)."""
    return quote(identifier, safe="")


def test_resources_with_oauth2ctl_and_the_admin_api(system: RunningSystem) -> None:
    tag = uuid.uuid4().hex[:8]
    orders = f"https://orders-{tag}.example.com/api"
    billing = f"https://billing-{tag}.example.com/v1?tenant=a%20b"
    introspector = system.resource_server()["client_id"]
    admin = f"client:{admin_credentials(system)['client_id']}"

    # oauth2ctl: create, list, get, update.
    created = ctl_json(
        system, "resource", "create", "--identifier", orders,
        "--scope", "orders:read", "--scope", "orders:write orders:read",
        "--name", "Orders", "--access-token-ttl", "600",
        "--introspection-client", introspector,
    )  # fmt: skip
    assert created["identifier"] == orders and created["name"] == "Orders"
    assert created["scopes"] == ["orders:read", "orders:write"]
    assert created["access_token_ttl_seconds"] == 600
    assert created["introspection_client_id"] == introspector
    assert created["created_at"].endswith("Z") and created["updated_at"] == created["created_at"]

    listed = ctl_json(system, "resource", "list")
    assert created in listed
    assert [r["identifier"] for r in listed] == sorted(r["identifier"] for r in listed)
    assert ctl_json(system, "resource", "get", orders) == created
    table = system.ctl("resource", "get", orders).stdout
    assert table.splitlines()[0].split() == ["identifier", orders]

    updated = ctl_json(system, "resource", "update", orders, "--scope", "orders:admin")
    assert updated["scopes"] == ["orders:admin"] and updated["name"] == "Orders"
    assert updated["access_token_ttl_seconds"] == 600

    refused = system.ctl(
        "resource", "create", "--identifier", orders + "#frag", "--scope", "x", check=False
    )
    assert refused.returncode == 1
    assert refused.stderr.startswith("oauth2ctl: invalid_request: Invalid 'identifier'")
    taken = system.ctl("resource", "create", "--identifier", orders, "--scope", "x", check=False)
    assert (taken.returncode, taken.stderr) == (
        1,
        f"oauth2ctl: conflict: Resource '{orders}' already exists\n",
    )

    # The admin API: the identifier percent-encoded as one path segment.
    with AdminApi(system) as api:
        shown = api.ok("GET", f"/resources/{segment(orders)}")
        assert shown == updated
        patched = api.ok(
            "PATCH",
            f"/resources/{segment(orders)}",
            json={"name": "Orders v2", "access_token_ttl_seconds": 0},
        )
        assert (patched["name"], patched["access_token_ttl_seconds"]) == ("Orders v2", 0)
        assert patched["scopes"] == ["orders:admin"]

        posted = api.ok(
            "POST", "/resources", 201, json={"identifier": billing, "scopes": ["billing"]}
        )
        assert posted["identifier"] == billing and posted["introspection_client_id"] == ""
        assert api.ok("GET", f"/resources/{segment(billing)}") == posted

        # Paged by identifier, as the clients are.
        seen: list[str] = []
        token = ""
        while True:
            params = {"page_size": 1, **({"page_token": token} if token else {})}
            page = api.ok("GET", "/resources", params=params)
            assert len(page["items"]) <= 1
            seen += [r["identifier"] for r in page["items"]]
            token = page.get("next_page_token", "")
            if not token:
                break
        assert {orders, billing} <= set(seen) and seen == sorted(seen)

        resp = api.http.post("/resources", json={"identifier": "urn:x:y", "scopes": ["a"]})
        assert resp.status_code == 400 and resp.json()["error"] == "invalid_request"
        resp = api.http.patch(
            f"/resources/{segment(orders)}", json={"introspection_client_id": "nobody"}
        )
        assert resp.status_code == 400
        assert resp.json()["error_description"] == (
            "Unknown client 'nobody' in 'introspection_client_id'"
        )

        api.ok("DELETE", f"/resources/{segment(billing)}", 204)
        resp = api.http.get(f"/resources/{segment(billing)}")
        assert resp.status_code == 404 and resp.json()["error"] == "not_found"

    # oauth2ctl deletes the other one.
    assert ctl_json(system, "resource", "delete", orders) == {
        "identifier": orders,
        "deleted": True,
    }
    gone = system.ctl("resource", "get", orders, check=False)
    assert (gone.returncode, gone.stderr) == (
        1,
        f"oauth2ctl: not_found: Resource '{orders}' not found\n",
    )
    remaining = {r["identifier"] for r in ctl_json(system, "resource", "list")}
    assert not {orders, billing} & remaining

    # The audit log: each change, with the operator's admin client as the actor.
    events = ctl_json(system, "audit", "list", "--action", "resource.created")
    mine = [e for e in events if e["target"] in (f"resource:{orders}", f"resource:{billing}")]
    assert sorted((e["target"], e["outcome"]) for e in mine) == sorted(
        [
            (f"resource:{orders}", "success"),
            (f"resource:{orders}", "failure"),  # the taken identifier
            (f"resource:{billing}", "success"),
        ]
    )
    for event in mine:
        assert event["actor"] == admin and event["source"] == "oauth2-admin"
    trail = ctl_json(system, "audit", "list", "--target", f"resource:{orders}")
    assert [(e["action"], e["outcome"]) for e in reversed(trail)] == [
        ("resource.created", "success"),
        ("resource.updated", "success"),
        ("resource.created", "failure"),
        ("resource.updated", "success"),
        ("resource.updated", "failure"),
        ("resource.deleted", "success"),
    ]
    # Each update names the fields it replaced: oauth2ctl's, then the API's PATCH.
    assert [e["details"]["fields"] for e in trail if e["action"] == "resource.updated"] == [
        "introspection_client_id",
        "name,access_token_ttl_seconds",
        "scopes",
    ]
