"""Reading request bodies: ``application/x-www-form-urlencoded`` (RFC 6749 section 3.2),
and the media-type and JSON-object checks the JSON endpoints share.

Steps, each failing with one specific error: the media type must be
``application/x-www-form-urlencoded`` (a ``charset`` parameter, if any, must be
utf-8); the body may not exceed the configured size (checked on Content-Length
up front and counted while streaming, so an oversized body is never buffered);
it must be UTF-8; parameters must not repeat (RFC 6749 section 3.1, 3.2);
parameters without a value count as omitted (RFC 6749 section 3.1).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request

from common.errors import InvalidRequest, OAuthError, RequestTooLarge

FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"
JSON_MEDIA_TYPE = "application/json"

#: Parameters that may legitimately appear more than once (RFC 8707 section 2,
#: RFC 8693 section 2.1).
MULTI_VALUED = frozenset({"resource", "audience"})


@dataclass(frozen=True)
class Form:
    """Non-empty parameters of a form body, each with its values in order."""

    params: dict[str, list[str]]

    def get(self, name: str) -> str:
        """The value, or "" when the parameter is absent (or was sent empty)."""
        values = self.params.get(name)
        return values[0] if values else ""

    def getlist(self, name: str) -> list[str]:
        return list(self.params.get(name, ()))

    def require(self, name: str) -> str:
        value = self.get(name)
        if not value:
            raise InvalidRequest(f"Missing '{name}'")
        return value

    def __contains__(self, name: str) -> bool:
        return name in self.params


class UnsupportedMediaType(InvalidRequest):
    """A body of a media type the endpoint does not take (HTTP 415)."""

    status_code = 415


def check_media_type(
    header: str | None,
    accepted: Callable[[str], bool],
    expected: str,
    error: type[OAuthError] = InvalidRequest,
) -> None:
    """The Content-Type's media type must be ``accepted``; a charset, if any, utf-8."""
    media_type, _, params = (header or "").partition(";")
    if not accepted(media_type.strip().lower()):
        raise error(f"Content-Type must be {expected}")
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() != "utf-8":
            raise error("Content-Type charset must be utf-8")


def check_content_type(header: str | None) -> None:
    check_media_type(header, FORM_MEDIA_TYPE.__eq__, FORM_MEDIA_TYPE)


def parse_json_object(raw: bytes, error: type[OAuthError]) -> dict[str, Any]:
    """A JSON object (RFC 8259) or ``error``: bad UTF-8, bad JSON, too deep, not an object."""
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise error("The request body is not valid JSON") from None
    if not isinstance(value, dict):
        raise error("The request body must be a JSON object")
    return value


async def read_body(request: Request, max_bytes: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise InvalidRequest("Invalid Content-Length")
        if int(declared) > max_bytes:
            raise RequestTooLarge("Request body too large")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        # Content-Length can be absent (chunked) or wrong: count what arrives.
        if len(body) > max_bytes:
            raise RequestTooLarge("Request body too large")
    return bytes(body)


def parse_form(body: bytes) -> Form:
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(
            text, keep_blank_values=True, strict_parsing=False, encoding="utf-8", errors="strict"
        )
    except UnicodeDecodeError:
        # Raw bytes or percent-escapes that are not UTF-8.
        raise InvalidRequest("Request body is not valid UTF-8") from None
    params: dict[str, list[str]] = {}
    for name, value in pairs:
        if value == "":
            continue
        values = params.setdefault(name, [])
        if values and name not in MULTI_VALUED:
            raise InvalidRequest(f"Parameter '{name}' is included more than once")
        values.append(value)
    return Form(params)


async def read_form(request: Request, max_bytes: int) -> Form:
    check_content_type(request.headers.get("content-type"))
    return parse_form(await read_body(request, max_bytes))
