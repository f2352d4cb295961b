"""A service's health follows its dependencies: a real PostgreSQL, a database that
is not there, and a private Redis stopped with SIGSTOP (never the machine's)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import AsyncIterator

import pytest
from grpc_health.v1 import health, health_pb2
from sqlalchemy.ext.asyncio import create_async_engine

from common.dependencies import Dependency, DependencyWatch, database, key_value
from common.kv import RedisKeyValue

SERVICE = "oauth2.v1.TokenService"
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def status(servicer: health.aio.HealthServicer, name: str) -> int:
    request = health_pb2.HealthCheckRequest(service=name)
    answer = await servicer.Check(request, None)
    return int(answer.status)


@pytest.fixture
async def servicer() -> AsyncIterator[health.aio.HealthServicer]:
    servicer = health.aio.HealthServicer()
    await servicer.set("", SERVING)
    await servicer.set(SERVICE, SERVING)
    yield servicer


async def test_two_failures_in_a_row_are_an_outage_and_one_success_ends_it(
    servicer: health.aio.HealthServicer,
) -> None:
    answers = iter([True, False, True, False, False, False, True])

    async def flaky() -> bool:
        return next(answers)

    watch = DependencyWatch(
        servicer, [SERVICE], [Dependency("database", flaky)], interval=0.01, timeout=0.5
    )
    seen = [await watch.check_once() for _ in range(7)]
    # One slow moment does not flap; two in a row do; the first good one ends it.
    assert seen == [True, True, True, True, False, False, True]
    assert await status(servicer, SERVICE) == SERVING
    assert await status(servicer, "") == SERVING  # liveness never follows a dependency


async def test_a_database_that_is_away_makes_the_service_not_serving(
    servicer: health.aio.HealthServicer, pg_url: str
) -> None:
    up = create_async_engine(pg_url.replace("postgresql://", "postgresql+asyncpg://", 1))
    away = create_async_engine("postgresql+asyncpg://postgres@127.0.0.1:1/none")
    try:
        good = DependencyWatch(servicer, [SERVICE], [database(up)], interval=1, timeout=1)
        assert await good.check_once() and await good.check_once()
        bad = DependencyWatch(servicer, [SERVICE], [database(away)], interval=1, timeout=1)
        await bad.check_once()
        assert await status(servicer, SERVICE) == SERVING
        assert not await bad.check_once()
        assert await status(servicer, SERVICE) == NOT_SERVING
        assert await status(servicer, "") == SERVING
    finally:
        await up.dispose()
        await away.dispose()


async def test_a_hung_redis_is_seen_within_the_timeout_and_recovers(
    servicer: health.aio.HealthServicer, private_redis: tuple[str, subprocess.Popen[bytes]]
) -> None:
    url, server = private_redis
    kv = RedisKeyValue(url, "dep:")
    try:
        watch = DependencyWatch(servicer, [SERVICE], [key_value(kv)], interval=1, timeout=0.3)
        assert await watch.check_once()
        os.kill(server.pid, signal.SIGSTOP)
        await watch.check_once()
        assert not await watch.check_once()
        assert await status(servicer, SERVICE) == NOT_SERVING
        os.kill(server.pid, signal.SIGCONT)
        recovered = False
        for _ in range(20):
            if await watch.check_once():
                recovered = True
                break
            await asyncio.sleep(0.1)
        assert recovered and await status(servicer, SERVICE) == SERVING
    finally:
        await kv.close()
