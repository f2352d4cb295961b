"""oauth2ctl's user commands through the admin API: by id or by username."""

from __future__ import annotations

import io
import json

import pytest

from oauth2ctl.tests.conftest import Ctl


def create(ctl: Ctl, username: str = "alice") -> dict[str, str]:
    code, out, err = ctl(
        "user", "create", "--username", username, "--password", "wonderland",
        "--email", f"{username}@example.com", "--given-name", "Alice", "--json",
    )  # fmt: skip
    assert code == 0, err
    return json.loads(out)  # type: ignore[no-any-return]


def test_create_json(ctl: Ctl) -> None:
    user = create(ctl)
    assert user == {
        "user_id": user["user_id"],
        "username": "alice",
        "email": "alice@example.com",
        "email_verified": False,
        "enabled": True,
        "given_name": "Alice",
        "family_name": "",
        "name": "Alice",
        "created_at": "2023-11-14T22:13:20Z",
        "updated_at": "2023-11-14T22:13:20Z",
    }
    request = ctl.admin.requests[-1][1]
    assert (request.password, request.actor.id) == ("wonderland", "client:admin-cli")


def test_create_reads_the_password_from_stdin(ctl: Ctl, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("from stdin\n"))
    code, _, _ = ctl("user", "create", "--username", "bob", "--password-stdin")
    assert code == 0
    assert ctl.admin.requests[-1][1].password == "from stdin"


def test_list_show_by_id_or_username(ctl: Ctl) -> None:
    alice = create(ctl)
    create(ctl, "alicia")
    code, out, _ = ctl("user", "list", "--json")
    assert [u["username"] for u in json.loads(out)] == ["alice", "alicia"]
    code, out, _ = ctl("user", "list")
    assert out.splitlines()[0].split() == ["USER_ID", "USERNAME", "EMAIL", "ENABLED"]
    for name in (alice["user_id"], "ALICE"):
        code, out, _ = ctl("user", "show", name, "--json")
        assert json.loads(out)["user_id"] == alice["user_id"], name
    code, out, _ = ctl("user", "show", "alice")
    assert "email     alice@example.com (not verified)" in out
    code, _, err = ctl("user", "show", "ali")
    assert (code, err) == (1, "oauth2ctl: not_found: No user 'ali'\n")


def test_update_disable_enable_set_password_delete(ctl: Ctl) -> None:
    alice = create(ctl)
    code, out, _ = ctl("user", "update", "alice", "--name", "Alice L", "--email-verified", "--json")
    assert code == 0 and json.loads(out)["name"] == "Alice L"
    assert list(ctl.admin.requests[-1][1].update_mask) == ["name", "email_verified"]

    code, out, _ = ctl("user", "disable", "alice")
    assert out == f"disabled user alice ({alice['user_id']})\n"
    users = ctl.system().downstream.user_store.users
    assert users[alice["user_id"]].enabled is False
    code, out, _ = ctl("user", "enable", alice["user_id"])
    assert out == f"enabled user alice ({alice['user_id']})\n"

    code, out, _ = ctl("user", "set-password", "alice", "--password", "looking glass")
    assert out == f"password set for user alice ({alice['user_id']})\n"
    stored = users[alice["user_id"]].password_hash
    hasher = ctl.system().downstream.hasher
    assert stored and ctl.server.run(hasher.verify(stored, "looking glass"))

    code, out, _ = ctl("user", "delete", "alice")
    assert out == f"deleted user alice ({alice['user_id']})\n"
    assert users == {}


def test_service_errors_are_one_line(ctl: Ctl) -> None:
    create(ctl)
    code, out, err = ctl("user", "create", "--username", "alice", "--password", "wonderland")
    assert (code, out, err) == (1, "", "oauth2ctl: conflict: Username 'alice' is already taken\n")
    code, _, err = ctl("user", "create", "--username", "x", "--password", "short")
    assert err == "oauth2ctl: invalid_request: 'password' must be at least 8 characters\n"
