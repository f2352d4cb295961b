"""Opaque cursors for list calls (``PageRequest`` / ``PageResponse`` in common.proto).

A cursor is the base64url of the sort key of a page's last row, so the next
page is ``WHERE key > cursor``: stable under inserts and cheap on an index.
"""

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


def encode_page_token(last_key: str) -> str:
    return base64.urlsafe_b64encode(last_key.encode("utf-8")).rstrip(b"=").decode("ascii")


def decode_page_token(token: str) -> str | None:
    """The sort key a cursor holds; None for an empty cursor (the first page)."""
    if not token:
        return None
    try:
        raw = base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_", validate=True)
        return raw.decode("utf-8")
    except (binascii.Error, ValueError):
        raise InvalidRequest("Invalid 'page_token'") from None
