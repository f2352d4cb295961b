"""oauth2ctl against an in-process fake ClientsService: parsing, the requests it
sends, its output, and one-line errors with exit code 1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2
from oauth2.v1 import clients_pb2, clients_pb2_grpc, common_pb2

from common.errors import NotFound, OAuthError
from common.grpc_errors import to_status
from conftest import free_port
from oauth2ctl import commands
from oauth2ctl.cli import main


def make_client(client_id: str, **fields: Any) -> clients_pb2.Client:
    values: dict[str, Any] = {
        "client_name": "demo",
        "grant_types": ["client_credentials"],
        "scope": "api:read",
        "token_endpoint_auth_method": "client_secret_basic",
        **fields,
    }
    return clients_pb2.Client(client_id=client_id, **values)


class FakeClients(clients_pb2_grpc.ClientsServiceServicer):
    def __init__(self) -> None:
        self.requests: list[tuple[str, Any]] = []
        self.error: OAuthError | None = None

    def _record(self, method: str, request: Any, context: grpc.ServicerContext) -> None:
        self.requests.append((method, request))
        if self.error is not None:
            context.abort_with_status(to_status(self.error))

    def CreateClient(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._record("CreateClient", request, context)
        m = request.metadata
        client = make_client(
            "c-new",
            client_name=m.client_name,
            grant_types=list(m.grant_types),
            redirect_uris=list(m.redirect_uris),
            scope=m.scope,
            token_endpoint_auth_method=m.token_endpoint_auth_method or "client_secret_basic",
        )
        secret = "" if client.token_endpoint_auth_method == "none" else "s3cret"
        return clients_pb2.CreateClientResponse(client=client, client_secret=secret)

    def ListClients(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._record("ListClients", request, context)
        if not request.page.page_token:
            return clients_pb2.ListClientsResponse(
                clients=[make_client("c1")], page=common_pb2.PageResponse(next_page_token="p2")
            )
        return clients_pb2.ListClientsResponse(clients=[make_client("c2", client_name="other")])

    def GetClient(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._record("GetClient", request, context)
        return make_client(request.client_id)

    def DeleteClient(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._record("DeleteClient", request, context)
        return empty_pb2.Empty()

    def RotateClientSecret(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._record("RotateClientSecret", request, context)
        return clients_pb2.RotateClientSecretResponse(
            client=make_client(request.client_id), client_secret="n3w"
        )


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[int, FakeClients]]:
    fake = FakeClients()
    grpc_server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    clients_pb2_grpc.add_ClientsServiceServicer_to_server(fake, grpc_server)
    port = grpc_server.add_insecure_port("127.0.0.1:0")
    grpc_server.start()
    yield port, fake
    grpc_server.stop(0)


@pytest.fixture
def fake(server: tuple[int, FakeClients], monkeypatch: pytest.MonkeyPatch) -> FakeClients:
    port, fake = server
    fake.requests.clear()
    fake.error = None
    monkeypatch.delenv("OAUTH2_CONFIG", raising=False)
    monkeypatch.setenv("OAUTH2_CLIENTS_TARGET", f"127.0.0.1:{port}")
    monkeypatch.setenv("OAUTH2_ISSUER", "http://gateway.test")
    return fake


def test_create_json(fake: FakeClients, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "client", "create", "--name", "svc",
            "--grant-type", "client_credentials", "--grant-type", "authorization_code",
            "--redirect-uri", "https://app.example/cb",
            "--scope", "a b", "--auth-method", "client_secret_post", "--json",
        ]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert json.loads(out) == {
        "client_id": "c-new",
        "client_secret": "s3cret",
        "client_name": "svc",
        "grant_types": ["client_credentials", "authorization_code"],
        "redirect_uris": ["https://app.example/cb"],
        "response_types": [],
        "scope": "a b",
        "token_endpoint_auth_method": "client_secret_post",
        "require_pkce": False,
        "post_logout_redirect_uris": [],
        "always_issue_refresh_token": False,
    }
    method, request = fake.requests[-1]
    assert method == "CreateClient"
    assert request.metadata.token_endpoint_auth_method == "client_secret_post"
    assert request.actor.id == "cli"


def test_create_defaults_are_left_to_the_service(
    fake: FakeClients, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["client", "create", "--name", "svc"]) == 0
    request = fake.requests[-1][1]
    assert list(request.metadata.grant_types) == []
    assert request.metadata.token_endpoint_auth_method == ""
    out = capsys.readouterr().out
    assert "client_id      c-new" in out
    assert "client_secret  s3cret" in out
    assert "shown only once" in out


def test_public_client_has_no_secret(fake: FakeClients, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["client", "create", "--name", "spa", "--auth-method", "none", "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert "client_secret" not in body
    assert body["token_endpoint_auth_method"] == "none"


def test_list_follows_pages(fake: FakeClients, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["client", "list", "--search", "de", "--json"]) == 0
    assert [c["client_id"] for c in json.loads(capsys.readouterr().out)] == ["c1", "c2"]
    requests = [r for m, r in fake.requests if m == "ListClients"]
    assert [r.page.page_token for r in requests] == ["", "p2"]
    assert {r.search for r in requests} == {"de"}

    assert main(["client", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["CLIENT_ID", "NAME", "AUTH", "METHOD", "GRANT", "TYPES"]
    assert lines[1].split() == ["c1", "demo", "client_secret_basic", "client_credentials"]


def test_show_delete_rotate(fake: FakeClients, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["client", "show", "c7", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["client_id"] == "c7"
    assert main(["client", "delete", "c7"]) == 0
    assert capsys.readouterr().out == "deleted client c7\n"
    assert main(["client", "rotate-secret", "c7", "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert (body["client_id"], body["client_secret"]) == ("c7", "n3w")
    assert [m for m, _ in fake.requests] == ["GetClient", "DeleteClient", "RotateClientSecret"]


def test_service_error_is_one_line(fake: FakeClients, capsys: pytest.CaptureFixture[str]) -> None:
    fake.error = NotFound("Client 'nope' not found")
    assert main(["client", "show", "nope"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "oauth2ctl: not_found: Client 'nope' not found\n"


def test_nothing_running(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    target = f"127.0.0.1:{free_port()}"
    monkeypatch.setenv("OAUTH2_CLIENTS_TARGET", target)
    assert main(["client", "list"]) == 1
    assert capsys.readouterr().err == (
        f"oauth2ctl: temporarily_unavailable: the clients service at {target} "
        "did not answer; is the system running (make run)?\n"
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["client", "create"],
        ["client", "create", "--name", "x", "--auth-method", "private_key_jwt"],
        ["client", "show"],
        ["client", "frobnicate"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "usage: oauth2ctl" in capsys.readouterr().err


def test_get_token_uses_the_gateway(
    fake: FakeClients, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sent: dict[str, Any] = {}

    class Answer:
        status_code = 200

        def json(self) -> dict[str, Any]:
            return {"access_token": "at", "token_type": "Bearer", "expires_in": 3600}

    def post(url: str, **kwargs: Any) -> Answer:
        sent.update(url=url, **kwargs)
        return Answer()

    monkeypatch.setattr(commands.httpx, "post", post)
    assert main(["client", "create", "--name", "svc", "--get-token", "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["token_response"]["access_token"] == "at"
    assert sent["url"] == "http://gateway.test/oauth/token"
    assert sent["data"] == {"grant_type": "client_credentials"}
    assert sent["headers"]["Authorization"] == "Basic Yy1uZXc6czNjcmV0"  # c-new:s3cret
