"""Web origins (RFC 6454): the ``scheme://host[:port]`` a browser names in ``Origin``."""

from __future__ import annotations

from typing import Final
from urllib.parse import urlsplit

_DEFAULT_PORTS: Final = {"http": 80, "https": 443}


def origin_of(url: str) -> str | None:
    """The ASCII serialisation (RFC 6454 section 6.2) of an http(s) URL's origin:
    lower-case scheme and host, the port only when it is not the scheme's default.
    None for anything else (a custom-scheme redirect URI has no web origin)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    if ":" in host:
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def is_origin(value: str) -> bool:
    """``value`` is exactly a serialised origin: no path, query, userinfo or default port."""
    return origin_of(value) == value
