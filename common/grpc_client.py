"""Outgoing gRPC calls: one channel per target, a deadline on every call,
round_robin over every address, retries only for idempotent reads, and errors
decoded back into OAuthError subclasses; mutual TLS with the process's
certificate when the grpc_tls_* settings are set (:class:`ChannelSecurity`).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

import grpc

from common.grpc_errors import from_rpc_error
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

#: The default of the grpc_keepalive_seconds setting.
DEFAULT_KEEPALIVE_SECONDS = 30.0


def keepalive_options(keepalive_seconds: float) -> list[tuple[str, Any]]:
    """Ping every ``keepalive_seconds`` even with no call in flight (the health watch
    of client-side health checking is a call that never sends data), and keep pinging
    however long the channel stays idle: a dead peer is found within a ping timeout.
    The servers accept exactly this (common.grpc_server.server_keepalive_options)."""
    return [
        ("grpc.keepalive_time_ms", int(keepalive_seconds * 1000)),
        ("grpc.keepalive_timeout_ms", 5_000),
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


def service_config(service: str, idempotent_methods: Iterable[str]) -> str:
    methods = [{"service": service, "method": name} for name in idempotent_methods]
    config: dict[str, Any] = {"loadBalancingConfig": [{"round_robin": {}}]}
    if not service.startswith("grpc."):
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

    @classmethod
    def from_settings(cls, settings: CommonSettings) -> ChannelSecurity:
        return cls(TlsFiles.from_settings(settings), settings.grpc_keepalive_seconds)


PLAINTEXT = ChannelSecurity()


def make_channel(
    target: str,
    service: str,
    idempotent_methods: Iterable[str] = (),
    interceptors: Sequence[grpc.aio.ClientInterceptor] = (),
    security: ChannelSecurity = PLAINTEXT,
) -> grpc.aio.Channel:
    target = normalize_target(target)
    options = [
        *_CHANNEL_OPTIONS,
        *keepalive_options(security.keepalive_seconds),
        ("grpc.service_config", service_config(service, idempotent_methods)),
    ]
    # The span interceptors inject traceparent; the metrics see each call as made.
    chain = [*grpc_client_interceptors(), ClientMetricsInterceptor(), *interceptors]
    if security.tls is None:
        return grpc.aio.insecure_channel(target, options=options, interceptors=chain)
    options += target_name_override(target)
    return grpc.aio.secure_channel(
        target, security.tls.channel_credentials(), options=options, interceptors=chain
    )


class _Method:
    __slots__ = ("_deadline", "_multicallable")

    def __init__(self, multicallable: Any, deadline: float) -> None:
        self._multicallable = multicallable
        self._deadline = deadline

    async def __call__(self, request: Any, *, timeout: float | None = None) -> Any:
        try:
            return await self._multicallable(request, timeout=timeout or self._deadline)
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc) from None


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
        self.target = target
        self.service = service
        self.channel = make_channel(target, service, idempotent_methods, interceptors, security)
        self.stub: StubT = stub_cls(self.channel)
        self.deadline = deadline
        # Each method of the stub, with the deadline and the error decoding: the
        # same signature, awaited the same way.
        self.call: StubT = cast(StubT, _Calls(self.stub, deadline))

    async def close(self) -> None:
        await self.channel.close()


class _Calls:
    def __init__(self, stub: Any, deadline: float) -> None:
        self._stub = stub
        self._deadline = deadline

    def __getattr__(self, name: str) -> _Method:
        method = _Method(getattr(self._stub, name), self._deadline)
        setattr(self, name, method)
        return method
