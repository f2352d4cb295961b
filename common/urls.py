"""Redirect URIs with response parameters added (RFC 6749 section 3.1.2), used
by the authorize service's authorization responses and the gateway's logout."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit, urlunsplit


def with_query(redirect_uri: str, params: dict[str, str]) -> str:
    """``redirect_uri`` with ``params`` added to its query (RFC 6749 section 3.1.2:
    the registered query is kept, byte for byte). Empty values are left out."""
    parts = urlsplit(redirect_uri)
    added = urlencode([(name, value) for name, value in params.items() if value])
    query = f"{parts.query}&{added}" if parts.query and added else parts.query or added
    # A redirect URI has no fragment (RFC 6749 section 3.1.2); never forward one.
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))
