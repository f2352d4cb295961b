"""The real client address behind trusted proxies (RFC 7239 section 5.2, and the
de-facto ``X-Forwarded-For``).

This is the one place that decides which address a request comes from; login
backoff, rate limits, the audit trail and the access log all read
:func:`client_address`. uvicorn's own proxy-header handling is off
(``gateway/__main__.py``: ``proxy_headers=False``) so that nothing rewrites the
ASGI peer behind this module's back.

The address is the TCP peer unless the peer is one of ``trusted_proxies``. Then the
header the proxies write (``trusted_proxy_header``) is walked from the right, the
end the nearest proxy appended to: trusted hops are skipped and the first untrusted
one is the client. Everything to its left was written by the client itself and is
never believed. Only one header is read, the one the operator's proxies append to:
with both accepted, a client could send the other one and choose its own address.

A header that cannot be read where it matters (a hop that is not an IP address,
``unknown``, an obfuscated identifier) gives the peer: never a 500, and never an
address the client picked.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Literal

from starlette.types import Scope

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
ProxyHeader = Literal["x-forwarded-for", "forwarded"]

#: Where the answer is cached for the rest of the request (Starlette's request.state).
STATE_KEY = "client_address"
#: Hops looked at, from the right: no proxy chain is longer, and the walk stays bounded.
MAX_HOPS = 32


def parse_address(text: str) -> IPAddress | None:
    """An IP address from one hop: ``198.51.100.7``, ``198.51.100.7:4711``,
    ``2001:db8::1``, ``[2001:db8::1]:4711``; IPv4-mapped IPv6 as IPv4. None for
    anything else (``unknown``, ``_hidden``, garbage)."""
    value = text.strip().strip('"').strip()
    if value.startswith("["):
        host, sep, _ = value[1:].partition("]")
        if not sep:
            return None
        value = host
    elif value.count(":") == 1:
        value = value.partition(":")[0]  # IPv4 with a port
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def forwarded_hops(scope: Scope, header: ProxyHeader) -> list[str] | None:
    """The hops of ``header``, leftmost first, every occurrence of the header in
    order (RFC 9110 section 5.3); None when the request has none. For RFC 7239
    ``Forwarded``, the ``for=`` parameter of each element ("" when it has none)."""
    name = header.encode()
    values = [
        value.decode("latin-1") for key, value in scope.get("headers", ()) if key.lower() == name
    ]
    if not values:
        return None
    elements = [part for value in values for part in value.split(",")]
    if header == "x-forwarded-for":
        return elements
    hops = []
    for element in elements:
        found = ""
        for pair in element.split(";"):
            key, _, value = pair.partition("=")
            if key.strip().lower() == "for":
                found = value
        hops.append(found)
    return hops


def real_client(peer: str, hops: Sequence[str] | None, trusted: Sequence[IPNetwork]) -> str:
    """The address the trusted chain gives (module docstring)."""
    peer_address = parse_address(peer)
    if peer_address is None or not _is_trusted(peer_address, trusted) or not hops:
        return str(peer_address) if peer_address is not None else peer
    client = peer_address
    for hop in list(reversed(hops))[:MAX_HOPS]:
        address = parse_address(hop)
        if address is None:
            return str(peer_address)
        client = address
        if not _is_trusted(address, trusted):
            return str(address)
    # Every hop is a proxy of ours: the leftmost is as far as the chain goes.
    return str(client)


def _is_trusted(address: IPAddress, trusted: Sequence[IPNetwork]) -> bool:
    return any(address.version == net.version and address in net for net in trusted)


def peer_is_trusted(scope: Scope) -> bool:
    """The request's TCP peer is one of ``trusted_proxies`` (what it forwards may be
    believed: the client's address, its TLS certificate)."""
    client = scope.get("client")
    peer = parse_address(str(client[0])) if client else None
    app = scope.get("app")
    settings = getattr(getattr(app, "state", None), "settings", None)
    trusted: Sequence[IPNetwork] = getattr(settings, "trusted_proxies", ())
    return peer is not None and _is_trusted(peer, trusted)


def client_address(scope: Scope) -> str:
    """The request's client address, decided once and cached in its state."""
    state = scope.setdefault("state", {})
    cached = state.get(STATE_KEY)
    if isinstance(cached, str):
        return cached
    client = scope.get("client")
    peer = str(client[0]) if client else ""
    app = scope.get("app")
    settings = getattr(getattr(app, "state", None), "settings", None)
    trusted: Sequence[IPNetwork] = getattr(settings, "trusted_proxies", ())
    if trusted and settings is not None:
        address = real_client(peer, forwarded_hops(scope, settings.trusted_proxy_header), trusted)
    else:
        parsed = parse_address(peer)
        address = str(parsed) if parsed is not None else peer
    state[STATE_KEY] = address
    return address
