"""Bad input at the form endpoints: each case one exact RFC 6749 section 5.2
error, never a 5xx, and nothing reaches the token service."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import httpx
import pytest

from gateway.tests.conftest import Factory, FakeTokenService
from gateway.tests.helpers import FORM, assert_error, basic

CC = b"grant_type=client_credentials"
GOOD = basic("c1", "s1")


def b64(raw: bytes) -> str:
    return "Basic " + base64.b64encode(raw).decode()


CASES: list[tuple[str, bytes, dict[str, str], int, str, str]] = [
    # name, body, headers, status, error, error_description
    (
        "json content type",
        b'{"grant_type":"client_credentials"}',
        {**GOOD, "Content-Type": "application/json"},
        400,
        "invalid_request",
        "Content-Type must be application/x-www-form-urlencoded",
    ),
    (
        "multipart content type",
        CC,
        {**GOOD, "Content-Type": "multipart/form-data; boundary=x"},
        400,
        "invalid_request",
        "Content-Type must be application/x-www-form-urlencoded",
    ),
    (
        "no content type",
        CC,
        GOOD,
        400,
        "invalid_request",
        "Content-Type must be application/x-www-form-urlencoded",
    ),
    (
        "latin-1 charset",
        CC,
        {**GOOD, "Content-Type": "application/x-www-form-urlencoded; charset=ISO-8859-1"},
        400,
        "invalid_request",
        "Content-Type charset must be utf-8",
    ),
    (
        "raw non-UTF-8 byte",
        CC + b"&scope=\xff\xfe",
        {**FORM, **GOOD},
        400,
        "invalid_request",
        "Request body is not valid UTF-8",
    ),
    (
        "percent-encoded non-UTF-8",
        CC + b"&scope=%ff%fe",
        {**FORM, **GOOD},
        400,
        "invalid_request",
        "Request body is not valid UTF-8",
    ),
    (
        "duplicated grant_type",
        CC + b"&" + CC,
        {**FORM, **GOOD},
        400,
        "invalid_request",
        "Parameter 'grant_type' is included more than once",
    ),
    (
        "duplicated scope",
        CC + b"&scope=a&scope=a",
        {**FORM, **GOOD},
        400,
        "invalid_request",
        "Parameter 'scope' is included more than once",
    ),
    (
        "missing grant_type",
        b"scope=a",
        {**FORM, **GOOD},
        400,
        "invalid_request",
        "Missing 'grant_type'",
    ),
    (
        "empty grant_type counts as missing",
        b"grant_type=&scope=a",
        {**FORM, **GOOD},
        400,
        "invalid_request",
        "Missing 'grant_type'",
    ),
    (
        "no client authentication",
        CC,
        FORM,
        401,
        "invalid_client",
        "Client authentication required",
    ),
    (
        "empty client_id counts as missing",
        CC + b"&client_id=",
        FORM,
        401,
        "invalid_client",
        "Client authentication required",
    ),
    (
        "client_secret without client_id",
        CC + b"&client_secret=s1",
        FORM,
        400,
        "invalid_request",
        "Missing 'client_id'",
    ),
    (
        "basic: not base64",
        CC,
        {**FORM, "Authorization": "Basic !!!not-base64!!!"},
        401,
        "invalid_client",
        "Malformed HTTP Basic authorization header",
    ),
    (
        "basic: no colon",
        CC,
        {**FORM, "Authorization": b64(b"foobar")},
        401,
        "invalid_client",
        "Malformed HTTP Basic authorization header",
    ),
    (
        "basic: not UTF-8",
        CC,
        {**FORM, "Authorization": b64(b"\xff\xfe:secret")},
        401,
        "invalid_client",
        "Malformed HTTP Basic authorization header",
    ),
    (
        "basic: percent-encoded non-UTF-8",
        CC,
        {**FORM, "Authorization": b64(b"%ff:secret")},
        401,
        "invalid_client",
        "Malformed HTTP Basic authorization header",
    ),
    (
        "basic: empty client_id",
        CC,
        {**FORM, "Authorization": b64(b":secret")},
        401,
        "invalid_client",
        "Malformed HTTP Basic authorization header",
    ),
    (
        "basic: empty secret",
        CC,
        {**FORM, "Authorization": b64(b"c1:")},
        401,
        "invalid_client",
        "Malformed HTTP Basic authorization header",
    ),
    (
        "basic: no credentials after the scheme",
        CC,
        {**FORM, "Authorization": "Basic"},
        401,
        "invalid_client",
        "Malformed HTTP Basic authorization header",
    ),
    (
        "another scheme",
        CC,
        {**FORM, "Authorization": "Bearer abc"},
        401,
        "invalid_client",
        "Client authentication must use the HTTP Basic scheme",
    ),
    (
        "basic and client_secret_post together",
        CC + b"&client_id=c1&client_secret=s1",
        {**FORM, **GOOD},
        400,
        "invalid_request",
        "Use only one client authentication method",
    ),
    (
        "basic and another client_id in the body",
        CC + b"&client_id=c2",
        {**FORM, **GOOD},
        400,
        "invalid_request",
        "'client_id' does not match the Authorization header",
    ),
    (
        "declared body too large",
        CC + b"&scope=" + b"a" * 5000,
        {**FORM, **GOOD},
        413,
        "invalid_request",
        "Request body too large",
    ),
]


@pytest.fixture
async def strict_client(make_client: Factory) -> AsyncIterator[httpx.AsyncClient]:
    yield await make_client(max_body_bytes=2048)


@pytest.mark.parametrize(
    ("body", "headers", "status", "error", "description"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
async def test_token_endpoint_rejects(
    strict_client: httpx.AsyncClient,
    fake_token: FakeTokenService,
    body: bytes,
    headers: dict[str, str],
    status: int,
    error: str,
    description: str,
) -> None:
    response = await strict_client.post("/oauth/token", content=body, headers=headers)
    assert_error(response, status, error, description)
    assert fake_token.requests == []


async def test_streamed_body_too_large_is_counted(
    strict_client: httpx.AsyncClient, fake_token: FakeTokenService
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield CC
        for _ in range(10):
            yield b"&x=" + b"a" * 500

    # No Content-Length: httpx sends this body chunked.
    response = await strict_client.post("/oauth/token", content=chunks(), headers={**FORM, **GOOD})
    assert "content-length" not in response.request.headers
    assert_error(response, 413, "invalid_request", "Request body too large")
    assert fake_token.requests == []


async def test_charset_utf8_and_repeated_resource_are_accepted(
    strict_client: httpx.AsyncClient, fake_token: FakeTokenService
) -> None:
    response = await strict_client.post(
        "/oauth/token",
        content=CC + b"&resource=https%3A%2F%2Fa&resource=https%3A%2F%2Fb",
        headers={**GOOD, "Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"},
    )
    assert response.status_code == 200
    assert list(fake_token.requests[-1][1].resource) == ["https://a", "https://b"]


@pytest.mark.parametrize("path", ["/oauth/introspect", "/oauth/revoke"])
async def test_token_parameter_is_required(
    strict_client: httpx.AsyncClient, fake_token: FakeTokenService, path: str
) -> None:
    response = await strict_client.post(
        path, content=b"token_type_hint=access_token", headers={**FORM, **GOOD}
    )
    assert_error(response, 400, "invalid_request", "Missing 'token'")
    response = await strict_client.post(path, content=b"token=", headers={**FORM, **GOOD})
    assert_error(response, 400, "invalid_request", "Missing 'token'")
    assert fake_token.requests == []


@pytest.mark.parametrize("path", ["/oauth/introspect", "/oauth/revoke"])
async def test_client_authentication_is_required(
    strict_client: httpx.AsyncClient, fake_token: FakeTokenService, path: str
) -> None:
    response = await strict_client.post(path, content=b"token=abc", headers=FORM)
    assert_error(response, 401, "invalid_client", "Client authentication required")
    response = await strict_client.post(
        path, content=b"token=abc", headers={**FORM, "Authorization": "Basic %%%"}
    )
    assert_error(response, 401, "invalid_client", "Malformed HTTP Basic authorization header")
    assert fake_token.requests == []
