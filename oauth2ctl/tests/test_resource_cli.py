"""oauth2ctl's resource commands (RFC 8707 resource servers) through the admin API:
named by their identifier, a URI, which travels percent-encoded in the path."""

from __future__ import annotations

import json
from typing import Any

import pytest

from oauth2ctl.cli import build_parser
from oauth2ctl.tests.conftest import Ctl

API = "https://api.example.com/orders"
ACTOR = "client:admin-cli"


def create(ctl: Ctl, identifier: str = API, *extra: str) -> dict[str, Any]:
    code, out, err = ctl(
        "resource", "create", "--identifier", identifier,
        "--scope", "orders:read", "--scope", "orders:write", *extra, "--json",
    )  # fmt: skip
    assert code == 0, err
    return json.loads(out)  # type: ignore[no-any-return]


def new_client(ctl: Ctl) -> str:
    code, out, err = ctl("client", "create", "--name", "rs", "--json")
    assert code == 0, err
    return str(json.loads(out)["client_id"])


def test_create_json(ctl: Ctl) -> None:
    introspector = new_client(ctl)
    created = create(
        ctl, API, "--name", "Orders API", "--access-token-ttl", "600",
        "--introspection-client", introspector,
    )  # fmt: skip
    assert created == {
        "identifier": API,
        "name": "Orders API",
        "scopes": ["orders:read", "orders:write"],
        "access_token_ttl_seconds": 600,
        "introspection_client_id": introspector,
        "created_at": "2023-11-14T22:13:20Z",
        "updated_at": "2023-11-14T22:13:20Z",
    }
    method, request = ctl.admin.requests[-1]
    assert method == "CreateResource"
    assert request.resource.identifier == API and request.actor.id == ACTOR
    assert list(request.resource.scopes) == ["orders:read", "orders:write"]


def test_create_defaults_and_the_summary(ctl: Ctl) -> None:
    code, out, err = ctl("resource", "create", "--identifier", API, "--scope", "a b")
    assert code == 0, err
    request = ctl.admin.requests[-1][1]
    # One --scope may name several; what is not given is left to the service.
    assert list(request.resource.scopes) == ["a", "b"]
    assert (request.resource.name, request.resource.access_token_ttl_seconds) == ("", 0)
    assert request.resource.introspection_client_id == ""
    assert out.splitlines()[:3] == [
        f"identifier        {API}",
        "scopes            a b",
        "access token TTL  server default",
    ]


def test_list_and_get(ctl: Ctl) -> None:
    create(ctl, "https://b.example.com/api")
    create(ctl, API, "--name", "Orders")
    code, out, _ = ctl("resource", "list", "--json")
    assert code == 0
    assert [r["identifier"] for r in json.loads(out)] == [API, "https://b.example.com/api"]
    code, out, _ = ctl("resource", "list")
    lines = out.splitlines()
    assert lines[0].split() == "IDENTIFIER NAME SCOPES TOKEN TTL INTROSPECTION CLIENT".split()
    assert lines[1].split()[:2] == [API, "Orders"]
    assert ctl.admin.requests[-1][0] == "ListResources"

    code, out, _ = ctl("resource", "get", API, "--json")
    assert json.loads(out)["name"] == "Orders"
    assert ctl.admin.requests[-1][1].identifier == API
    # The identifier was one percent-encoded path segment.
    assert ctl.last is not None
    assert ctl.last.requests[-1].url.raw_path.decode() == (
        "/admin/api/resources/https%3A%2F%2Fapi.example.com%2Forders"
    )
    code, out, _ = ctl("resource", "get", API)
    assert "name              Orders" in out


def test_an_identifier_with_a_query_survives_the_path(ctl: Ctl) -> None:
    identifier = "https://api.example.com/v1?tenant=a%20b&x=1"
    create(ctl, identifier)
    code, out, _ = ctl("resource", "get", identifier, "--json")
    assert (code, json.loads(out)["identifier"]) == (0, identifier)
    code, out, _ = ctl("resource", "delete", identifier, "--json")
    assert json.loads(out) == {"identifier": identifier, "deleted": True}


def test_update_replaces_what_is_given(ctl: Ctl) -> None:
    create(ctl, API, "--name", "Orders", "--access-token-ttl", "120")
    code, out, err = ctl(
        "resource", "update", API, "--scope", "orders:admin", "--access-token-ttl", "0", "--json"
    )
    assert code == 0, err
    updated = json.loads(out)
    assert updated["scopes"] == ["orders:admin"] and updated["access_token_ttl_seconds"] == 0
    assert updated["name"] == "Orders"
    request = ctl.admin.requests[-1][1]
    assert list(request.update_mask) == ["scopes", "access_token_ttl_seconds"]
    assert request.actor.id == ACTOR

    introspector = new_client(ctl)
    code, out, _ = ctl(
        "resource", "update", API, "--introspection-client", introspector, "-o", "json"
    )
    assert json.loads(out)["introspection_client_id"] == introspector
    code, out, _ = ctl("resource", "update", API, "--introspection-client", "", "--name", "N")
    assert code == 0
    assert list(ctl.admin.requests[-1][1].update_mask) == ["name", "introspection_client_id"]
    assert "introspection client" not in out and "name              N" in out

    sent = len(ctl.admin.requests)
    code, _, err = ctl("resource", "update", API)
    assert (code, err) == (
        1,
        "oauth2ctl: invalid_request: Nothing to update: give at least one option\n",
    )
    assert len(ctl.admin.requests) == sent


def test_delete(ctl: Ctl) -> None:
    create(ctl)
    code, out, _ = ctl("resource", "delete", API)
    assert (code, out) == (0, f"deleted resource {API}\n")
    request = ctl.admin.requests[-1][1]
    assert (request.identifier, request.actor.id) == (API, ACTOR)
    assert ctl.system().downstream.resource_store.resources == {}
    code, _, err = ctl("resource", "delete", API)
    assert (code, err) == (1, f"oauth2ctl: not_found: Resource '{API}' not found\n")


def test_errors_are_one_line(ctl: Ctl) -> None:
    create(ctl)
    code, out, err = ctl("resource", "create", "--identifier", API, "--scope", "x")
    assert (code, out, err) == (1, "", f"oauth2ctl: conflict: Resource '{API}' already exists\n")
    code, _, err = ctl("resource", "create", "--identifier", API + "#x", "--scope", "x")
    assert err.startswith("oauth2ctl: invalid_request: Invalid 'identifier': it must not")
    code, _, err = ctl(
        "resource", "create", "--identifier", "https://x.example", "--scope", "x",
        "--access-token-ttl", "30",
    )  # fmt: skip
    assert err == (
        "oauth2ctl: invalid_request: 'access_token_ttl_seconds' must be 0 (the server "
        "default) or from 60 to 86400\n"
    )
    code, _, err = ctl(
        "resource", "create", "--identifier", "https://x.example", "--scope", "x",
        "--introspection-client", "ghost",
    )  # fmt: skip
    assert err == (
        "oauth2ctl: invalid_request: Unknown client 'ghost' in 'introspection_client_id'\n"
    )
    code, _, err = ctl("resource", "get", "https://nowhere.example")
    assert (code, err) == (
        1,
        "oauth2ctl: not_found: Resource 'https://nowhere.example' not found\n",
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["resource", "create", "--scope", "a"],  # no --identifier
        ["resource", "create", "--identifier", API],  # no --scope
        ["resource", "create", "--identifier", API, "--scope", "a", "--access-token-ttl", "x"],
        ["resource", "get"],
        ["resource"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        build_parser().parse_args(argv)
    assert caught.value.code == 2


def test_resource_is_a_listed_group(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    out = capsys.readouterr().out
    assert "{client,user,resource,grant," in out
    assert "resource servers (RFC 8707)" in out
