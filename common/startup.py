"""Expected start-up failures as one line and exit code 2, never a traceback.

A port that is taken, a database or Redis that does not answer within
``startup_timeout_seconds``: each becomes a :class:`StartupError` whose message is
the line to print (it names the process, what failed and the setting to change).
The entry points (common/service_main.py, gateway/__main__.py) print it and exit 2
(:func:`exit_on_startup_error`).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from urllib.parse import urlsplit

from common.kv import create_kv
from common.redis_url import parse_redis_url
from common.settings import ENV_PREFIX, CommonSettings

#: Exit code of a process that could not start for a reason its line explains.
EXIT_STARTUP = 2

#: Longest pause between two attempts to reach a dependency, in seconds.
_MAX_BACKOFF = 2.0


class StartupError(Exception):
    """A start-up failure the operator can mend; the message is the whole story."""


@contextlib.contextmanager
def exit_on_startup_error() -> Iterator[None]:
    """Print a :class:`StartupError` as its one line on stderr and exit 2."""
    try:
        yield
    except StartupError as exc:
        print(exc, file=sys.stderr, flush=True)
        raise SystemExit(EXIT_STARTUP) from None


def setting_hint(process: str, *fields: str, per_process: bool = False) -> str:
    """Where ``fields`` of ``process`` are set: its environment names and its TOML keys.
    ``per_process``: the environment name carries the process (OAUTH2_TOKEN_GRPC_PORT),
    for settings each service has a value of its own."""
    prefix = f"{ENV_PREFIX}{process.upper()}_" if per_process else ENV_PREFIX
    env = "/".join(prefix + field.upper() for field in fields)
    return f"set {env} or [{process}] {'/'.join(fields)}"


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def listen_error(process: str, host: str, port: int, exc: OSError, hint: str) -> StartupError:
    if exc.errno == errno.EADDRINUSE:
        return StartupError(f"{process}: port {port} is in use ({hint})")
    reason = exc.strerror or str(exc) or type(exc).__name__
    return StartupError(f"{process}: cannot listen on {host}:{port}: {reason} ({hint})")


def bind_socket(process: str, host: str, port: int, hint: str) -> socket.socket:
    """A TCP socket bound to ``host:port`` (not listening yet), as uvicorn binds
    one; a port that cannot be bound is a :class:`StartupError`."""
    sock = socket.socket(_family(host), socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise listen_error(process, host, port, exc, hint) from None
    sock.set_inheritable(True)
    return sock


def check_port(process: str, host: str, port: int, hint: str) -> None:
    """Raise :class:`StartupError` when ``host:port`` cannot be bound now; for
    servers that bind their own socket (gRPC, uvicorn's workers), before they do."""
    if port:
        bind_socket(process, host, port, hint).close()


def _reason(exc: BaseException) -> str:
    """The innermost cause, without the URL it may quote."""
    while True:
        inner = getattr(exc, "orig", None) or exc.__cause__
        if not isinstance(inner, BaseException) or inner is exc:
            break
        exc = inner
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


async def wait_until_reachable(
    attempt: Callable[[], Awaitable[None]],
    *,
    retryable: Callable[[BaseException], bool],
    timeout: float,
    failure: Callable[[str, bool], str],
    secret: str | None = None,
) -> None:
    """Call ``attempt`` until it returns, pausing longer after each failure (0.1 s
    doubling to 2 s), for ``timeout`` seconds at most; then, or at once for a failure
    that is not ``retryable``, raise :class:`StartupError` with ``failure(reason,
    timed_out)``.
    ``secret`` (a password) is never part of the message."""
    deadline = time.monotonic() + timeout
    delay = 0.1
    while True:
        left = deadline - time.monotonic()
        try:
            async with asyncio.timeout(max(0.5, min(5.0, left))):
                await attempt()
            return
        except Exception as exc:  # every failure is reported, in one line
            reason = _reason(exc)
            worth_retrying = retryable(exc)
            if not worth_retrying or time.monotonic() + delay > deadline:
                message = failure(reason, worth_retrying)
                if secret:
                    message = message.replace(secret, "***")
                raise StartupError(message) from None
        await asyncio.sleep(delay)
        delay = min(delay * 2, _MAX_BACKOFF)


def redis_address(url: str) -> str:
    """host:port of a redis:// URL (the socket path of unix://; the sentinels or the
    cluster's startup nodes, comma-separated, and the Sentinel service's name), never
    its password."""
    target = parse_redis_url(url)
    if target.topology != "single":
        nodes = ",".join(_host_port(host, port) for host, port in target.nodes)
        return f"{nodes}/{target.service_name}" if target.service_name else nodes
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    return _host_port(parts.hostname or "localhost", parts.port or 6379)


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _redis_password(url: str) -> str | None:
    """The servers' password in ``url`` (and the sentinels'), for scrubbing messages."""
    target = parse_redis_url(url)
    if target.topology == "single":
        return urlsplit(url).password
    return target.options.get("password") or target.sentinel_options.get("password")


async def wait_for_redis(settings: CommonSettings) -> None:
    """Wait (``startup_timeout_seconds``) until Redis answers a PING, through the same
    KeyValue the process will use."""
    if not settings.redis_url:
        return
    kv = create_kv(settings)

    async def ping() -> None:
        if not await kv.ping():
            raise ConnectionError("no answer to PING")

    address = redis_address(settings.redis_url)
    timeout = settings.startup_timeout_seconds
    try:
        await wait_until_reachable(
            ping,
            retryable=lambda _exc: True,
            timeout=timeout,
            failure=lambda reason, _timed_out: (
                f"{settings.PROCESS}: Redis at {address} did not answer within {timeout:g}s"
                f" ({reason}; set REDIS_URL or redis_url)"
            ),
            secret=_redis_password(settings.redis_url),
        )
    finally:
        await kv.close()
