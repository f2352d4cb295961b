"""``oauth2ctl user ...`` against an in-process fake AuthorizeService: the requests
it sends, its output (never a password or its hash), and one-line errors."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2
from oauth2.v1 import authorize_pb2, authorize_pb2_grpc, common_pb2

from common.errors import Conflict, InvalidRequest, NotFound, OAuthError
from common.grpc_errors import to_status
from conftest import free_port
from oauth2ctl.cli import main

ALICE_ID = "3f2b8c1e-5d4a-4f6b-9c2d-1a2b3c4d5e6f"


def make_user(user_id: str = ALICE_ID, username: str = "alice", **fields: Any) -> Any:
    values: dict[str, Any] = {"enabled": True, "email": f"{username}@example.com", **fields}
    user = authorize_pb2.User(user_id=user_id, username=username, **values)
    user.created_at.FromSeconds(1_700_000_000)
    user.updated_at.FromSeconds(1_700_000_000)
    return user


class FakeAuthorize(authorize_pb2_grpc.AuthorizeServiceServicer):
    def __init__(self) -> None:
        self.requests: list[tuple[str, Any]] = []
        self.errors: dict[str, OAuthError] = {}

    def _record(self, method: str, request: Any, context: grpc.ServicerContext) -> None:
        self.requests.append((method, request))
        error = self.errors.get(method)
        if error is not None:
            context.abort_with_status(to_status(error))

    def CreateUser(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._record("CreateUser", request, context)
        return make_user(username=request.username, email=request.email)

    def GetUser(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._record("GetUser", request, context)
        if request.user_id and request.user_id != ALICE_ID:
            context.abort_with_status(to_status(NotFound(f"User {request.user_id!r} not found")))
        if request.username and request.username.lower() != "alice":
            context.abort_with_status(to_status(NotFound(f"User {request.username!r} not found")))
        return make_user()

    def ListUsers(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._record("ListUsers", request, context)
        if not request.page.page_token:
            return authorize_pb2.ListUsersResponse(
                users=[make_user()], page=common_pb2.PageResponse(next_page_token="p2")
            )
        return authorize_pb2.ListUsersResponse(
            users=[make_user("b0b00000-0000-4000-8000-000000000000", "bob", enabled=False)]
        )

    def UpdateUser(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._record("UpdateUser", request, context)
        return make_user(enabled=request.user.enabled)

    def SetPassword(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._record("SetPassword", request, context)
        return empty_pb2.Empty()

    def DeleteUser(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._record("DeleteUser", request, context)
        return empty_pb2.Empty()


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[int, FakeAuthorize]]:
    fake = FakeAuthorize()
    grpc_server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    authorize_pb2_grpc.add_AuthorizeServiceServicer_to_server(fake, grpc_server)
    port = grpc_server.add_insecure_port("127.0.0.1:0")
    grpc_server.start()
    yield port, fake
    grpc_server.stop(0)


@pytest.fixture
def fake(server: tuple[int, FakeAuthorize], monkeypatch: pytest.MonkeyPatch) -> FakeAuthorize:
    port, fake = server
    fake.requests.clear()
    fake.errors.clear()
    monkeypatch.delenv("OAUTH2_CONFIG", raising=False)
    monkeypatch.setenv("OAUTH2_AUTHORIZE_TARGET", f"127.0.0.1:{port}")
    return fake


def test_create_json(fake: FakeAuthorize, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["user", "create", "--username", "alice", "--password", "correct horse battery"]
    assert main([*argv, "--email", "alice@example.com", "--json"]) == 0
    out = capsys.readouterr().out
    body = json.loads(out)
    assert body == {
        "user_id": ALICE_ID,
        "username": "alice",
        "email": "alice@example.com",
        "email_verified": False,
        "enabled": True,
        "given_name": "",
        "family_name": "",
        "name": "",
        "created_at": "2023-11-14T22:13:20+00:00",
        "updated_at": "2023-11-14T22:13:20+00:00",
    }
    assert "correct horse" not in out and "argon2" not in out and "password" not in out
    method, request = fake.requests[-1]
    assert method == "CreateUser" and request.password == "correct horse battery"
    assert request.actor.id == "cli"


def test_create_reads_the_password_from_stdin(
    fake: FakeAuthorize, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("  spaced  secret \r\nignored\n"))
    assert main(["user", "create", "--username", "alice", "--password-stdin"]) == 0
    assert fake.requests[-1][1].password == "  spaced  secret "
    out = capsys.readouterr().out
    assert "user_id   " + ALICE_ID in out and "enabled   yes" in out

    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["user", "create", "--username", "alice", "--password-stdin"]) == 1
    assert capsys.readouterr().err == "oauth2ctl: invalid_request: No password on standard input\n"


def test_list_follows_pages(fake: FakeAuthorize, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["user", "list", "--search", "ali", "--json"]) == 0
    assert [u["username"] for u in json.loads(capsys.readouterr().out)] == ["alice", "bob"]
    requests = [r for m, r in fake.requests if m == "ListUsers"]
    assert [r.page.page_token for r in requests] == ["", "p2"]
    assert {r.search for r in requests} == {"ali"}
    assert main(["user", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["USER_ID", "USERNAME", "EMAIL", "ENABLED"]
    assert lines[2].split()[1:] == ["bob", "bob@example.com", "no"]


def test_show_by_id_or_username(fake: FakeAuthorize, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["user", "show", ALICE_ID, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["username"] == "alice"
    assert fake.requests[-1][1].user_id == ALICE_ID
    assert main(["user", "show", "ALICE"]) == 0
    assert "username  alice" in capsys.readouterr().out
    assert fake.requests[-1][1].username == "ALICE"
    # A UUID that is nobody's id may still be somebody's username.
    fake.requests.clear()
    assert main(["user", "show", "00000000-0000-4000-8000-000000000000"]) == 1
    assert [r.user_id or r.username for _, r in fake.requests] == [
        "00000000-0000-4000-8000-000000000000"
    ] * 2


def test_disable_enable_set_password_delete(
    fake: FakeAuthorize, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["user", "disable", "alice"]) == 0
    assert capsys.readouterr().out == f"disabled user alice ({ALICE_ID})\n"
    update = fake.requests[-1][1]
    assert update.user_id == ALICE_ID and list(update.update_mask) == ["enabled"]
    assert not update.user.enabled
    assert main(["user", "enable", "alice"]) == 0
    assert capsys.readouterr().out == f"enabled user alice ({ALICE_ID})\n"
    assert fake.requests[-1][1].user.enabled

    assert main(["user", "set-password", "alice", "--password", "a new long password"]) == 0
    assert capsys.readouterr().out == f"password set for user alice ({ALICE_ID})\n"
    method, request = fake.requests[-1]
    assert method == "SetPassword" and request.password == "a new long password"
    monkeypatch.setattr("sys.stdin", io.StringIO("from stdin\n"))
    assert main(["user", "set-password", "alice", "--password-stdin"]) == 0
    assert fake.requests[-1][1].password == "from stdin"
    capsys.readouterr()

    assert main(["user", "delete", "alice"]) == 0
    assert capsys.readouterr().out == f"deleted user alice ({ALICE_ID})\n"
    assert fake.requests[-1][0] == "DeleteUser" and fake.requests[-1][1].user_id == ALICE_ID


@pytest.mark.parametrize(
    ("argv", "method", "error", "line"),
    [
        (
            ["user", "create", "--username", "alice", "--password", "short"],
            "CreateUser",
            InvalidRequest("'password' must be at least 8 characters"),
            "oauth2ctl: invalid_request: 'password' must be at least 8 characters\n",
        ),
        (
            ["user", "create", "--username", "alice", "--password", "long enough"],
            "CreateUser",
            Conflict("Username 'alice' is already taken"),
            "oauth2ctl: conflict: Username 'alice' is already taken\n",
        ),
        (
            ["user", "disable", "nobody"],
            "GetUser",
            None,
            "oauth2ctl: not_found: User 'nobody' not found\n",
        ),
    ],
)
def test_service_errors_are_one_line(
    fake: FakeAuthorize,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    method: str,
    error: OAuthError | None,
    line: str,
) -> None:
    if error is not None:
        fake.errors[method] = error
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == line


def test_nothing_running(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    target = f"127.0.0.1:{free_port()}"
    monkeypatch.delenv("OAUTH2_CONFIG", raising=False)
    monkeypatch.setenv("OAUTH2_AUTHORIZE_TARGET", target)
    assert main(["user", "list"]) == 1
    assert capsys.readouterr().err == (
        f"oauth2ctl: temporarily_unavailable: the authorize service at {target} "
        "did not answer; is the system running (make run)?\n"
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["user", "create", "--username", "alice"],
        ["user", "create", "--password", "long enough"],
        ["user", "create", "--username", "a", "--password", "p", "--password-stdin"],
        ["user", "set-password", "alice"],
        ["user", "show"],
        ["user", "frobnicate"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "usage: oauth2ctl" in capsys.readouterr().err
