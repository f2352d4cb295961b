"""Bad input through the gateway: the exact RFC error and status, never a 5xx,
and afterwards the stores hold exactly what they held before."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.e2e.conftest import RunningSystem, basic
from tests.e2e.snapshot import snapshot

pytestmark = pytest.mark.e2e

FORM = "application/x-www-form-urlencoded"


@dataclass
class Case:
    name: str
    path: str
    status: int
    body: dict[str, Any]
    content: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    www_authenticate: bool = False


def cases(cid: str, secret: str, pub: str) -> list[Case]:
    good = basic(cid, secret)
    cc = b"grant_type=client_credentials"
    return [
        Case(
            "wrong secret",
            "/oauth/token",
            401,
            {"error": "invalid_client", "error_description": "Client authentication failed"},
            cc,
            {"Authorization": basic(cid, "not-the-secret")},
            www_authenticate=True,
        ),
        Case(
            "unknown client",
            "/oauth/token",
            401,
            {"error": "invalid_client", "error_description": "Client authentication failed"},
            cc,
            {"Authorization": basic("no-such-client", "x")},
            www_authenticate=True,
        ),
        Case(
            "unknown client by post",
            "/oauth/token",
            401,
            {"error": "invalid_client", "error_description": "Client authentication failed"},
            cc + b"&client_id=nobody&client_secret=x",
            www_authenticate=True,
        ),
        Case(
            "no client authentication",
            "/oauth/token",
            401,
            {"error": "invalid_client", "error_description": "Client authentication required"},
            cc,
            www_authenticate=True,
        ),
        Case(
            "missing grant_type",
            "/oauth/token",
            400,
            {"error": "invalid_request", "error_description": "Missing 'grant_type'"},
            b"scope=api",
            {"Authorization": good},
        ),
        Case(
            "duplicated grant_type",
            "/oauth/token",
            400,
            {
                "error": "invalid_request",
                "error_description": "Parameter 'grant_type' is included more than once",
            },
            cc + b"&" + cc,
            {"Authorization": good},
        ),
        Case(
            "duplicated scope",
            "/oauth/token",
            400,
            {
                "error": "invalid_request",
                "error_description": "Parameter 'scope' is included more than once",
            },
            cc + b"&scope=api&scope=api",
            {"Authorization": good},
        ),
        Case(
            "unsupported grant type",
            "/oauth/token",
            400,
            {
                "error": "unsupported_grant_type",
                "error_description": "Unsupported grant_type 'password'",
            },
            b"grant_type=password&username=a&password=b",
            {"Authorization": good},
        ),
        Case(
            "scope not allowed",
            "/oauth/token",
            400,
            {
                "error": "invalid_scope",
                "error_description": "Scope 'admin' is not allowed for this client",
            },
            cc + b"&scope=api+admin",
            {"Authorization": good},
        ),
        Case(
            "public client may not use client_credentials",
            "/oauth/token",
            400,
            {
                "error": "unauthorized_client",
                "error_description": "Public clients may not use grant_type 'client_credentials'",
            },
            cc + b"&client_id=" + pub.encode(),
        ),
        Case(
            "wrong content type",
            "/oauth/token",
            400,
            {
                "error": "invalid_request",
                "error_description": "Content-Type must be application/x-www-form-urlencoded",
            },
            b'{"grant_type":"client_credentials"}',
            {"Authorization": good, "Content-Type": "application/json"},
        ),
        Case(
            "malformed basic header: not base64",
            "/oauth/token",
            401,
            {
                "error": "invalid_client",
                "error_description": "Malformed HTTP Basic authorization header",
            },
            cc,
            {"Authorization": "Basic !!!not-base64!!!"},
            www_authenticate=True,
        ),
        Case(
            "malformed basic header: no colon",
            "/oauth/token",
            401,
            {
                "error": "invalid_client",
                "error_description": "Malformed HTTP Basic authorization header",
            },
            cc,
            {"Authorization": "Basic Zm9vYmFy"},
            www_authenticate=True,
        ),
        Case(
            "two authentication methods",
            "/oauth/token",
            400,
            {
                "error": "invalid_request",
                "error_description": "Use only one client authentication method",
            },
            cc + f"&client_id={cid}&client_secret={secret}".encode(),
            {"Authorization": good},
        ),
        Case(
            "non-UTF-8 body (raw byte)",
            "/oauth/token",
            400,
            {"error": "invalid_request", "error_description": "Request body is not valid UTF-8"},
            cc + b"&scope=\xff\xfe",
            {"Authorization": good},
        ),
        Case(
            "non-UTF-8 body (percent-encoded)",
            "/oauth/token",
            400,
            {"error": "invalid_request", "error_description": "Request body is not valid UTF-8"},
            cc + b"&scope=%ff%fe",
            {"Authorization": good},
        ),
        Case(
            "oversized body",
            "/oauth/token",
            413,
            {"error": "invalid_request", "error_description": "Request body too large"},
            cc + b"&scope=" + b"a" * 200_000,
            {"Authorization": good},
        ),
        Case(
            "garbage token at introspection",
            "/oauth/introspect",
            200,
            {"active": False},
            b"token=garbage.not.a.jwt",
            {"Authorization": good},
        ),
        Case(
            "empty-ish JWT at introspection",
            "/oauth/introspect",
            200,
            {"active": False},
            b"token=eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
            {"Authorization": good},
        ),
        Case(
            "introspection without client authentication",
            "/oauth/introspect",
            401,
            {"error": "invalid_client", "error_description": "Client authentication required"},
            b"token=abc",
            www_authenticate=True,
        ),
        Case(
            "introspection without token",
            "/oauth/introspect",
            400,
            {"error": "invalid_request", "error_description": "Missing 'token'"},
            b"token_type_hint=access_token",
            {"Authorization": good},
        ),
        Case(
            "introspection with wrong secret",
            "/oauth/introspect",
            401,
            {"error": "invalid_client", "error_description": "Client authentication failed"},
            b"token=abc",
            {"Authorization": basic(cid, "wrong")},
            www_authenticate=True,
        ),
        Case(
            "garbage token at revocation",
            "/oauth/revoke",
            200,
            {},
            b"token=%00%01garbage",
            {"Authorization": good},
        ),
        Case(
            "revocation without token",
            "/oauth/revoke",
            400,
            {"error": "invalid_request", "error_description": "Missing 'token'"},
            b"",
            {"Authorization": good},
        ),
    ]


def test_bad_input_gets_rfc_errors_and_changes_nothing(system: RunningSystem) -> None:
    confidential = system.create_client(
        "--name", "bad-input", "--grant-type", "client_credentials", "--scope", "api"
    )
    public = system.create_client(
        "--name", "public", "--auth-method", "none", "--redirect-uri", "https://app.example/cb"
    )
    before = snapshot(system.database_url, system.data_dir)
    assert before, "the snapshot found no tables"
    failures = []
    with system.http() as http:
        for case in cases(
            confidential["client_id"], confidential["client_secret"], public["client_id"]
        ):
            headers = {"Content-Type": FORM, **case.headers}
            resp = http.post(case.path, content=case.content, headers=headers)
            body = resp.json() if resp.content else {}
            problems = []
            if resp.status_code != case.status:
                problems.append(f"status {resp.status_code} != {case.status}")
            if body != case.body:
                problems.append(f"body {body} != {case.body}")
            if case.status >= 400 and resp.headers.get("cache-control") != "no-store":
                problems.append("no Cache-Control: no-store")
            if case.www_authenticate and not resp.headers.get("www-authenticate", "").startswith(
                "Basic"
            ):
                problems.append("no WWW-Authenticate: Basic")
            if problems:
                failures.append(f"{case.name}: {'; '.join(problems)}")
    assert not failures, "\n".join(failures)
    assert snapshot(system.database_url, system.data_dir) == before


def test_wrong_method_and_unknown_path_are_not_5xx(system: RunningSystem) -> None:
    with system.http() as http:
        resp = http.get("/oauth/token")
        assert resp.status_code == 405
        resp = http.get("/no/such/path")
        assert resp.status_code == 404


def test_an_over_long_input_is_a_400_with_a_short_description(system: RunningSystem) -> None:
    """A description that quotes a 9,000-character value stays under gRPC's metadata
    limit (it was a 503 once) and the error body under 1 KiB."""
    client = system.create_client(
        "--name", "long-input", "--grant-type", "client_credentials", "--scope", "api"
    )
    auth = {"Authorization": basic(client["client_id"], client["client_secret"])}
    with system.http() as http:
        resp = http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "scope": "s" * 9000},
            headers=auth,
        )
        assert resp.status_code == 400, resp.text
        assert resp.json()["error"] == "invalid_scope"
        assert len(resp.content) <= 1024
        assert resp.json()["error_description"].endswith("...")
        page = http.get("/oauth/authorize", params={"client_id": "c" * 9000})
        assert page.status_code == 400
