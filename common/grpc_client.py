"""Outgoing gRPC calls: one channel per target, round_robin over every address,
replicas judged by how they behave, one deadline budget per request, retries only
for idempotent reads, and errors decoded back into OAuthError subclasses; mutual
TLS with the process's certificate when the grpc_tls_* settings are set
(:class:`ChannelSecurity`).

A replica leaves a channel's pick list three ways, fastest first:

* it drains (SIGTERM): its health turns NOT_SERVING and client-side health
  checking (the ``healthCheckConfig``) stops picking it before it goes;
* it stops answering at all (SIGSTOP, a partitioned pod, a dead node): an HTTP/2
  ping every ``grpc_keepalive_seconds`` must be answered within
  ``grpc_ping_timeout_seconds`` or the connection is closed, the calls on it fail
  UNAVAILABLE (and the idempotent ones are retried elsewhere), and a reconnection
  stays CONNECTING until the replica sends its HTTP/2 settings again;
* it still answers pings but not calls (a stuck event loop): outlier detection
  ejects a replica whose calls nearly all fail while the others' do not.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

import grpc

from common.deadline import remaining
from common.errors import TemporarilyUnavailable
from common.grpc_errors import from_rpc_error
from common.grpc_mux import MuxClient, MuxFallback, MuxMethod
from common.grpc_tls import TlsFiles, target_name_override
from common.metrics import ClientMetricsInterceptor
from common.settings import CommonSettings
from common.telemetry import grpc_client_interceptors

StubT = TypeVar("StubT")

# Reconnect quickly after a replica restarts instead of gRPC's default of
# backing off for up to two minutes.
_CHANNEL_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.enable_retries", 1),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    ("grpc.dns_min_time_between_resolutions_ms", 1_000),
]

#: The defaults of the grpc_keepalive_seconds and grpc_ping_timeout_seconds settings.
DEFAULT_KEEPALIVE_SECONDS = 2.0
DEFAULT_PING_TIMEOUT_SECONDS = 2.0

#: Below this much budget a call is not even started: it could not finish.
MIN_CALL_SECONDS = 0.005
#: An idempotent call is split into two attempts only when each gets at least this.
MIN_ATTEMPT_SECONDS = 0.25


def keepalive_options(
    keepalive_seconds: float, ping_timeout_seconds: float = DEFAULT_PING_TIMEOUT_SECONDS
) -> list[tuple[str, Any]]:
    """Ping every ``keepalive_seconds`` even with no call in flight (the health watch
    of client-side health checking is a call that never sends data), keep pinging
    however long the channel stays idle, and close the connection when a ping is
    not answered within ``ping_timeout_seconds``: a frozen or unreachable replica
    leaves the rotation within the sum of the two. (The gRPC core installed here
    takes the ping's timeout from ``grpc.http2.ping_timeout_ms``, default a minute;
    keepalive_timeout_ms alone does not close the connection: measured.)
    The servers accept exactly this (common.grpc_server.server_keepalive_options)."""
    ping_timeout_ms = int(ping_timeout_seconds * 1000)
    return [
        ("grpc.keepalive_time_ms", int(keepalive_seconds * 1000)),
        ("grpc.keepalive_timeout_ms", ping_timeout_ms),
        ("grpc.http2.ping_timeout_ms", ping_timeout_ms),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
    ]


def normalize_target(target: str) -> str:
    """Accept "host:port", "h1:p1,h2:p2" or any gRPC name (dns:///, ipv4:, unix:)."""
    target = target.strip()
    if "://" in target or target.startswith(("ipv4:", "ipv6:", "unix:", "dns:")):
        return target
    parts = [part.strip() for part in target.split(",") if part.strip()]
    if len(parts) == 1:
        return f"dns:///{parts[0]}"
    hosts = [part.rsplit(":", 1)[0] for part in parts]
    try:
        for host in hosts:
            ipaddress.IPv4Address(host)
    except ValueError:
        # Several host names cannot be one gRPC target; use a DNS name that resolves
        # to every replica instead (a Kubernetes headless Service does).
        raise ValueError(
            f"'{target}': several addresses must be IPv4 literals; use dns:/// for names"
        ) from None
    return "ipv4:" + ",".join(parts)


def address_count(target: str) -> int:
    """How many addresses a target lists (1 for a name: its replicas are not known)."""
    target = normalize_target(target)
    if target.startswith(("ipv4:", "ipv6:")):
        return len(target.split(","))
    return 1


#: gRFC A50 outlier detection around round_robin: every second, a replica (of two
#: or more) at which 95% or more of at least 5 calls failed is ejected for 5 s,
#: longer each time it is ejected again (up to 30 s), never more than a third of
#: the replicas at once. Every non-OK status counts as a failure, the refusals of
#: bad requests too: hence the high threshold (a replica that takes no calls at
#: all fails 100%) and the cap, so a flood of bad credentials spread evenly over
#: the replicas can eject one of three at most.
_OUTLIER_DETECTION: dict[str, Any] = {
    "interval": "1s",
    "baseEjectionTime": "5s",
    "maxEjectionTime": "30s",
    "maxEjectionPercent": 33,
    "failurePercentageEjection": {
        "threshold": 95,
        "enforcementPercentage": 100,
        "minimumHosts": 2,
        "requestVolume": 5,
    },
    "childPolicy": [{"round_robin": {}}],
}


def service_config(service: str, idempotent_methods: Iterable[str]) -> str:
    methods = [{"service": service, "method": name} for name in idempotent_methods]
    config: dict[str, Any] = {"loadBalancingConfig": [{"round_robin": {}}]}
    if not service.startswith("grpc."):
        config["loadBalancingConfig"] = [{"outlier_detection_experimental": _OUTLIER_DETECTION}]
        # Client-side health checking (gRFC A17): each subchannel watches the
        # replica's health for our service; a draining replica turns NOT_SERVING
        # and leaves the rotation before it stops, so no call lands on it as it
        # goes away. (A channel to grpc.health itself must not depend on it.)
        config["healthCheckConfig"] = {"serviceName": service}
    if methods:
        config["methodConfig"] = [
            {
                "name": methods,
                "retryPolicy": {
                    "maxAttempts": 3,
                    "initialBackoff": "0.05s",
                    "maxBackoff": "0.5s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ]
    return json.dumps(config)


@dataclass(frozen=True, slots=True)
class ChannelSecurity:
    """How a process's channels connect: mutual TLS with its certificate (``tls``;
    None is plaintext) and its keepalive interval. ``from_settings`` in each process."""

    tls: TlsFiles | None = None
    keepalive_seconds: float = DEFAULT_KEEPALIVE_SECONDS
    ping_timeout_seconds: float = DEFAULT_PING_TIMEOUT_SECONDS
    #: "package.Service/Method" called as items of multiplexed streams (common.grpc_mux),
    #: and how many streams per channel: the grpc_multiplex_* settings.
    multiplex_methods: frozenset[str] = frozenset()
    multiplex_streams: int = 2

    @classmethod
    def from_settings(cls, settings: CommonSettings) -> ChannelSecurity:
        return cls(
            TlsFiles.from_settings(settings),
            settings.grpc_keepalive_seconds,
            settings.grpc_ping_timeout_seconds,
            frozenset(settings.grpc_multiplex_methods),
            settings.grpc_multiplex_streams,
        )


PLAINTEXT = ChannelSecurity()


def make_channel(
    target: str,
    service: str,
    idempotent_methods: Iterable[str] = (),
    interceptors: Sequence[grpc.aio.ClientInterceptor] = (),
    security: ChannelSecurity = PLAINTEXT,
    *,
    instrumented: bool = True,
) -> grpc.aio.Channel:
    """``instrumented=False``: no span or metrics interceptors (the multiplexed streams'
    channel, whose items are traced and counted one by one: common.grpc_mux)."""
    target = normalize_target(target)
    options = [
        *_CHANNEL_OPTIONS,
        *keepalive_options(security.keepalive_seconds, security.ping_timeout_seconds),
        ("grpc.service_config", service_config(service, idempotent_methods)),
    ]
    # The span interceptors inject traceparent; the metrics see each call as made.
    chain = [*interceptors]
    if instrumented:
        chain = [*grpc_client_interceptors(), ClientMetricsInterceptor(), *chain]
    if security.tls is None:
        return grpc.aio.insecure_channel(target, options=options, interceptors=chain)
    options += target_name_override(target)
    return grpc.aio.secure_channel(
        target, security.tls.channel_credentials(), options=options, interceptors=chain
    )


class _Method:
    """One method of a stub: its timeout is what is left of the request's budget
    (common.deadline), at most the client's deadline. An idempotent method gets
    two attempts: the first has half of what is left, and when it times out (a
    replica that stopped answering, not yet ejected) the second, sent to the next
    replica round_robin picks, has the rest."""

    __slots__ = ("_deadline", "_multicallable", "_muxed", "_retry_once")

    def __init__(
        self,
        multicallable: Any,
        deadline: float,
        retry_once: bool,
        muxed: MuxMethod | None = None,
    ) -> None:
        self._multicallable = multicallable
        self._deadline = deadline
        self._retry_once = retry_once
        # A method listed in grpc_multiplex_methods: an item of a multiplexed stream,
        # with the same result and errors (common.grpc_mux).
        self._muxed = muxed

    async def __call__(self, request: Any, *, timeout: float | None = None) -> Any:
        limit = timeout or self._deadline
        left = _left(limit)
        try:
            if self._retry_once and left >= 2 * MIN_ATTEMPT_SECONDS:
                try:
                    return await self._attempt(request, left / 2)
                except grpc.aio.AioRpcError as exc:
                    if exc.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
                        raise
                left = _left(limit)
            return await self._attempt(request, left)
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc) from None

    async def _attempt(self, request: Any, timeout: float) -> Any:
        muxed = self._muxed
        if muxed is not None and muxed.usable:
            try:
                return await muxed(request, timeout)
            except MuxFallback:
                pass
        return await self._multicallable(request, timeout=timeout)


def _left(limit: float) -> float:
    left = remaining(limit)
    if left < MIN_CALL_SECONDS:
        raise TemporarilyUnavailable(detail="the request's deadline has passed")
    return left


class ServiceClient(Generic[StubT]):
    """A stub whose every method has a deadline and raises OAuthError on failure.

    ``await client.call.GetClient(request)``; ``client.stub`` is the raw stub.
    ``StubT`` is the service's async stub type (mypy-protobuf's ``...AsyncStub``),
    so every call is typed with its request and response messages.
    """

    def __init__(
        self,
        stub_cls: Callable[[grpc.aio.Channel], StubT],
        target: str,
        service: str,
        *,
        deadline: float,
        idempotent_methods: Iterable[str] = (),
        interceptors: Sequence[grpc.aio.ClientInterceptor] = (),
        security: ChannelSecurity = PLAINTEXT,
    ) -> None:
        idempotent_methods = tuple(idempotent_methods)
        self.target = target
        self.service = service
        self.channel = make_channel(target, service, idempotent_methods, interceptors, security)
        self.stub: StubT = stub_cls(self.channel)
        self.deadline = deadline
        muxed = {
            method.partition("/")[2]
            for method in security.multiplex_methods
            if method.partition("/")[0] == service
        }
        self.mux = None
        if muxed:
            # A stream stays on the replica it was put on: at least one per address.
            streams = max(security.multiplex_streams, address_count(target))
            # A channel of its own, without interceptors: grpc.aio routes every write
            # of an intercepted stream through a queue and two tasks of its own.
            self.mux = MuxClient(
                lambda: make_channel(
                    target, service, idempotent_methods, (), security, instrumented=False
                ),
                streams,
            )
        # Each method of the stub, with the deadline and the error decoding: the
        # same signature, awaited the same way.
        self.call: StubT = cast(
            StubT,
            _Calls(self.stub, deadline, frozenset(idempotent_methods), service, self.mux, muxed),
        )

    async def close(self) -> None:
        if self.mux is not None:
            await self.mux.close()
        await self.channel.close()


class _Calls:
    def __init__(
        self,
        stub: Any,
        deadline: float,
        idempotent: frozenset[str],
        service: str = "",
        mux: MuxClient | None = None,
        muxed: Iterable[str] = (),
    ) -> None:
        self._stub = stub
        self._deadline = deadline
        self._idempotent = idempotent
        self._service = service
        self._mux = mux
        self._muxed = frozenset(muxed)

    def __getattr__(self, name: str) -> _Method:
        idempotent = name in self._idempotent
        muxed = None
        if self._mux is not None and name in self._muxed:
            muxed = MuxMethod(self._mux, f"/{self._service}/{name}", idempotent)
        method = _Method(getattr(self._stub, name), self._deadline, idempotent, muxed)
        setattr(self, name, method)
        return method
