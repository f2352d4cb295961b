"""The forms of ``redis_url`` (docs/operators.md, "Redis: Sentinel, Cluster, TLS,
sharing one Redis"), parsed once so that settings validation and the client agree.

* ``redis://[user:pass@]host[:port][/db]``, ``rediss://...`` (TLS), ``unix:///path``:
  one server, as redis-py's ``from_url`` reads it;
* ``redis+sentinel://[user:pass@]host[:port][,host[:port]...]/service_name[/db]``
  (``rediss+sentinel://`` for TLS to the sentinels and the servers): the primary of
  ``service_name`` as the sentinels name it, found again after a failover. The user
  and password are the servers'; the sentinels' own, if they have one, are the query
  options ``sentinel_username`` and ``sentinel_password``. Default port 26379;
* ``redis+cluster://[user:pass@]host[:port][,host[:port]...]`` (``rediss+cluster://``):
  Redis Cluster from these startup nodes (any few of them; the rest are discovered).
  Database 0 only. Default port 6379.

Other query options (``?ssl_ca_certs=...``, ``?ssl_cert_reqs=none``...) are redis-py's
connection options, for every form.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlencode

Topology = Literal["single", "sentinel", "cluster"]

_SINGLE_SCHEMES = ("redis", "rediss", "unix")
_SCHEMES: dict[str, tuple[Topology, bool]] = {
    "redis+sentinel": ("sentinel", False),
    "rediss+sentinel": ("sentinel", True),
    "redis+cluster": ("cluster", False),
    "rediss+cluster": ("cluster", True),
}
_DEFAULT_PORTS: dict[Topology, int] = {"sentinel": 26379, "cluster": 6379}
#: Query options that are the sentinels' own credentials, not the servers'.
_SENTINEL_OPTIONS = ("sentinel_username", "sentinel_password")


@dataclass(frozen=True, slots=True)
class RedisTarget:
    """What ``redis_url`` names: one server (``url`` as given), or the sentinels or
    cluster startup ``nodes``, with the connection options of the servers
    (``options``: username, password, db, ssl...) and of the sentinels."""

    topology: Topology
    url: str
    tls: bool
    nodes: tuple[tuple[str, int], ...] = ()
    service_name: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    sentinel_options: dict[str, Any] = field(default_factory=dict)


def parse_redis_url(url: str) -> RedisTarget:
    """The target of ``url``; ValueError saying what is wrong (no secret quoted)."""
    # Imported here: every process validates its settings, few need redis-py for it.
    from redis.asyncio.connection import SSLConnection, parse_url

    scheme, separator, rest = url.partition("://")
    scheme = scheme.lower()
    if not separator or (scheme not in _SINGLE_SCHEMES and scheme not in _SCHEMES):
        raise ValueError(
            "must be a redis://, rediss://, unix://, redis+sentinel://, rediss+sentinel://, "
            "redis+cluster:// or rediss+cluster:// URL"
        )
    if scheme in _SINGLE_SCHEMES:
        try:
            parse_url(url)
        except ValueError as exc:
            raise ValueError(str(exc)) from None
        return RedisTarget("single", url, scheme == "rediss")
    topology, tls = _SCHEMES[scheme]
    rest, _, query = rest.partition("?")
    authority, _, path = rest.partition("/")
    userinfo, at, hosts = authority.rpartition("@")
    nodes = tuple(_node(part, _DEFAULT_PORTS[topology]) for part in hosts.split(","))
    parts = [unquote(part) for part in path.split("/") if part]
    service_name = ""
    db = "0"
    if topology == "sentinel":
        if not parts or len(parts) > 2:
            raise ValueError(
                "a redis+sentinel:// URL names its service: host:26379/service_name[/db]"
            )
        service_name = parts[0]
        db = parts[1] if len(parts) == 2 else "0"
    elif len(parts) > 1 or (parts and parts[0] != "0"):
        raise ValueError("Redis Cluster has database 0 only: no /db in a redis+cluster:// URL")
    if not db.isdigit():
        raise ValueError(f"the database must be a number, not '{db}'")
    pairs = parse_qsl(query, keep_blank_values=False)
    sentinel_options = {k.removeprefix("sentinel_"): v for k, v in pairs if k in _SENTINEL_OPTIONS}
    server_query = urlencode([(k, v) for k, v in pairs if k not in _SENTINEL_OPTIONS])
    # redis-py reads the rest (credentials, options) as it would for one server.
    single = f"{'rediss' if tls else 'redis'}://{userinfo}{at}localhost/{db}"
    try:
        options: dict[str, Any] = dict(
            parse_url(single + ("?" + server_query if server_query else ""))
        )
    except ValueError as exc:
        raise ValueError(str(exc)) from None
    for key in ("host", "port", "path"):
        options.pop(key, None)
    if options.pop("connection_class", None) is SSLConnection:
        options["ssl"] = True
    if topology == "cluster":
        options.pop("db", None)
    return RedisTarget(
        topology,
        url,
        tls,
        nodes=nodes,
        service_name=service_name,
        options=options,
        sentinel_options=sentinel_options,
    )


def _node(part: str, default_port: int) -> tuple[str, int]:
    """``host``, ``host:port`` or ``[v6]:port`` as (host, port)."""
    part = part.strip()
    if part.startswith("["):
        host, bracket, tail = part[1:].partition("]")
        if not bracket or (tail and not tail.startswith(":")):
            raise ValueError(f"'{part}' is not host:port")
        port_text = tail[1:]
    else:
        host, _, port_text = part.partition(":")
    if not host:
        raise ValueError("a host is missing in the list of hosts")
    if not port_text:
        return host, default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"'{part}' does not end in a port number")
    return host, int(port_text)
