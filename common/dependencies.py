"""A service's health follows its dependencies: while its database (or,
where it cannot work without it, its Redis) does not answer, its gRPC health is
NOT_SERVING, so the gateway's /ready and Kubernetes' readiness probe take it out of
rotation and callers get a fast, retryable 503 instead of a stuck call; it is
SERVING again on the first good check, with no restart.

Only the named services change: the overall health ("") stays SERVING while the
process runs, because it is what the liveness probe asks, and an outage of a
dependency is no reason to restart a healthy process. One failed check is not an
outage (a slow moment must not flap readiness): it takes ``failures_to_fail`` in a
row.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from grpc_health.v1 import health, health_pb2
from prometheus_client import Gauge
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from common.kv import KeyValue

log = logging.getLogger(__name__)

DEPENDENCY_UP = Gauge(
    "oauth2_dependency_up",
    "1 while the dependency answers its check, 0 while it does not.",
    ["dependency"],
)


@dataclass(frozen=True, slots=True)
class Dependency:
    """Something a service cannot answer without; ``check`` answers True when it
    is reachable (raising counts as False)."""

    name: str
    check: Callable[[], Awaitable[bool]]


def database(engine: AsyncEngine) -> Dependency:
    async def check() -> bool:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return True

    return Dependency("database", check)


def key_value(kv: KeyValue) -> Dependency:
    return Dependency("redis", kv.ping)


class DependencyWatch:
    """Checks every ``interval`` seconds (each within ``timeout``) and sets the
    health of ``service_names`` from the results."""

    def __init__(
        self,
        health_servicer: health.aio.HealthServicer,
        service_names: Sequence[str],
        dependencies: Sequence[Dependency],
        *,
        interval: float,
        timeout: float,
        failures_to_fail: int = 2,
    ) -> None:
        self._health = health_servicer
        self._names = list(service_names)
        self._dependencies = list(dependencies)
        self._interval = interval
        self._timeout = timeout
        self._threshold = failures_to_fail
        self._failures = {d.name: 0 for d in self._dependencies}
        self.serving = True

    async def _up(self, dependency: Dependency) -> bool:
        try:
            return bool(await asyncio.wait_for(dependency.check(), self._timeout))
        except Exception as exc:
            log.debug("%s check failed: %s: %s", dependency.name, type(exc).__name__, exc)
            return False

    async def check_once(self) -> bool:
        """One round of checks; True while the services are SERVING."""
        results = await asyncio.gather(*(self._up(d) for d in self._dependencies))
        down: list[str] = []
        for dependency, up in zip(self._dependencies, results, strict=True):
            DEPENDENCY_UP.labels(dependency.name).set(1 if up else 0)
            self._failures[dependency.name] = 0 if up else self._failures[dependency.name] + 1
            if self._failures[dependency.name] >= self._threshold:
                down.append(dependency.name)
        serving = not down
        if serving != self.serving:
            self.serving = serving
            status: Any = (
                health_pb2.HealthCheckResponse.SERVING
                if serving
                else health_pb2.HealthCheckResponse.NOT_SERVING
            )
            for name in self._names:
                await self._health.set(name, status)
            if serving:
                log.warning("dependencies answer again: SERVING")
            else:
                log.warning("%s not answering: NOT_SERVING", ", ".join(down))
        return self.serving

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.check_once()
