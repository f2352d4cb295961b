"""Assertions shared by the gateway tests."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote_plus

import httpx

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def basic(client_id: str, client_secret: str) -> dict[str, str]:
    """RFC 6749 section 2.3.1: form-urlencode each part, then Base64."""
    raw = f"{quote_plus(client_id)}:{quote_plus(client_secret)}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def assert_error(
    response: httpx.Response, status: int, error: str, description: str | None = None
) -> None:
    """Exact RFC 6749 section 5.2 body and the headers every error carries."""
    expected: dict[str, Any] = {"error": error}
    if description is not None:
        expected["error_description"] = description
    assert (response.status_code, response.json()) == (status, expected)
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    assert response.headers["x-content-type-options"] == "nosniff"
    if error == "invalid_client" and status == 401:
        assert response.headers["www-authenticate"].startswith("Basic ")
