"""Opaque list cursors: the base64url of the last client_id of a page."""

from __future__ import annotations

import base64
import binascii

from common.errors import InvalidRequest

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


def page_size(requested: int) -> int:
    """0 means the default; more than the maximum is clamped rather than refused."""
    if requested < 0:
        raise InvalidRequest("'page_size' must not be negative")
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def encode_page_token(last_client_id: str) -> str:
    return base64.urlsafe_b64encode(last_client_id.encode()).rstrip(b"=").decode()


def decode_page_token(token: str) -> str | None:
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        return raw.decode("ascii")
    except (binascii.Error, ValueError):
        raise InvalidRequest("Invalid 'page_token'") from None
