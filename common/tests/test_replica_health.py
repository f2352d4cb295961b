"""Replicas judged by behaviour, not only by their health service: three replicas
of a service in processes of their own behind one channel (round_robin, as every
process calls another), under a bounded concurrent load, while one of them

* freezes (SIGSTOP): the unanswered keepalive ping closes its connection within
  keepalive + ping timeout, the calls on it fail over, and nothing more is sent to
  it until it answers again;
* stalls (answers pings, never a call, like a stuck event loop): an idempotent call
  that times out there is retried on another replica within its budget, and
  outlier detection takes the replica out of the rotation.

And one deadline budget: a call's timeout is what is left of the request's budget.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field

import pytest
from google.protobuf import empty_pb2
from oauth2.v1 import token_pb2

from common.deadline import budget, remaining
from common.errors import OAuthError, TemporarilyUnavailable
from common.grpc_client import ChannelSecurity
from common.services import TokenClient, token_client
from oauth2ctl.devrun import free_port

KEEPALIVE = 1.0
PING_TIMEOUT = 1.0
DEADLINE = 3.0
WORKERS = 8


@dataclass
class Replicas:
    ports: list[int]
    procs: list[subprocess.Popen[str]]

    @property
    def target(self) -> str:
        return ",".join(f"127.0.0.1:{port}" for port in self.ports)


def _start(port: int, *extra: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "common.tests.replica_server", str(port), str(KEEPALIVE), *extra],
        stdout=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("OAUTH2_")},
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    return proc


@contextlib.contextmanager
def replicas(*modes: str) -> Iterator[Replicas]:
    ports = [free_port() for _ in modes]
    procs: list[subprocess.Popen[str]] = []
    try:
        for port, mode in zip(ports, modes, strict=True):
            procs.append(_start(port, *([mode] if mode else [])))
        yield Replicas(ports, procs)
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGCONT)
            proc.kill()
            proc.wait(10)


@contextlib.asynccontextmanager
async def channel(target: str) -> AsyncIterator[TokenClient]:
    client = token_client(target, DEADLINE, ChannelSecurity(None, KEEPALIVE, PING_TIMEOUT))
    try:
        yield client
    finally:
        await client.close()


@dataclass
class Outcome:
    started: float
    seconds: float
    answer: str  # "<port>:<n>" from the replica, or the error's class name


@dataclass
class Load:
    outcomes: list[Outcome] = field(default_factory=list)

    def since(self, at: float) -> list[Outcome]:
        return [o for o in self.outcomes if o.started >= at]

    def failed(self, outcomes: list[Outcome] | None = None) -> list[Outcome]:
        return [o for o in (self.outcomes if outcomes is None else outcomes) if ":" not in o.answer]

    def by_port(self, outcomes: list[Outcome]) -> Counter[str]:
        return Counter(o.answer.split(":")[0] for o in outcomes if ":" in o.answer)


async def run_load(
    call: Callable[[], Awaitable[str]], seconds: float, during: Callable[[], Awaitable[None]]
) -> Load:
    load = Load()
    end = time.monotonic() + seconds

    async def worker() -> None:
        while time.monotonic() < end:
            started = time.monotonic()
            try:
                answer = await call()
            except OAuthError as exc:
                answer = type(exc).__name__
            load.outcomes.append(Outcome(started, time.monotonic() - started, answer))

    await asyncio.gather(during(), *(worker() for _ in range(WORKERS)))
    return load


def _report(name: str, load: Load, frozen_at: float) -> str:
    per_second = Counter(int(o.started - frozen_at) for o in load.failed())
    return (
        f"{name}: {len(load.outcomes)} calls, {len(load.failed())} failed "
        f"({dict(Counter(o.answer for o in load.failed()))}), failures by second after "
        f"the fault: {dict(sorted(per_second.items()))}, slowest "
        f"{max(o.seconds for o in load.outcomes):.2f}s"
    )


@pytest.mark.slow  # 15 s each: make test-slow (and CI)
@pytest.mark.parametrize("method", ["GetJwks", "Revoke"])
async def test_a_frozen_replica_leaves_the_rotation_within_seconds(method: str) -> None:
    """SIGSTOP one of three: the idempotent read loses nothing (its calls on the
    frozen replica fail over); the write loses at most the calls that were in
    flight there (one per worker); nothing is sent to it after a few seconds."""
    with replicas("", "", "") as group:
        async with channel(group.target) as client:

            async def call() -> str:
                with budget(DEADLINE):
                    if method == "GetJwks":
                        jwks = await client.call.GetJwks(empty_pb2.Empty())
                        return jwks.keys[0].kid
                    await client.call.Revoke(token_pb2.RevokeRequest(token="t"))
                    return "answered:"  # Revoke's reply says nothing of who answered

            for _ in range(30):
                await call()
            frozen_at = 0.0

            async def freeze() -> None:
                nonlocal frozen_at
                await asyncio.sleep(1)
                frozen_at = time.monotonic()
                os.kill(group.procs[0].pid, signal.SIGSTOP)
                await asyncio.sleep(7)

            load = await run_load(call, 8, freeze)
            figures = _report(f"{method}, one replica frozen", load, frozen_at)
            print(figures)
            detect = KEEPALIVE + PING_TIMEOUT + 1.5
            assert len(load.outcomes) > 300, figures
            if method == "GetJwks":
                assert not load.failed(), figures
                late = load.by_port(load.since(frozen_at + detect))
                assert str(group.ports[0]) not in late, figures
                assert set(late) == {str(p) for p in group.ports[1:]}, figures
            else:
                assert len(load.failed()) <= WORKERS, figures
                assert not load.failed(load.since(frozen_at + detect)), figures
            assert all(o.seconds < DEADLINE + 0.5 for o in load.outcomes), figures

            # Thawed, it is picked again once it is connected again.
            os.kill(group.procs[0].pid, signal.SIGCONT)
            if method == "GetJwks":
                seen: set[str] = set()
                until = time.monotonic() + 10
                while len(seen) < 3 and time.monotonic() < until:
                    seen.add((await call()).split(":")[0])
                assert seen == {str(p) for p in group.ports}


@pytest.mark.slow  # 15 s: make test-slow (and CI)
async def test_a_stalled_replica_costs_reads_half_a_budget_then_is_ejected() -> None:
    """A replica that answers pings but no call: keepalive cannot see it. A read
    sent there times out after half its budget and is sent again, to the next
    replica; outlier detection then ejects it, and reads are fast again (but for
    the moment it is let back in to be tried: ejection lasts 5 s, then longer)."""
    with replicas("stall", "", "") as group:
        async with channel(group.target) as client:

            async def call() -> str:
                with budget(DEADLINE):
                    jwks = await client.call.GetJwks(empty_pb2.Empty())
                    return jwks.keys[0].kid

            started = time.monotonic()

            async def wait() -> None:
                await asyncio.sleep(10)

            load = await run_load(call, 10, wait)
            figures = _report("GetJwks, one replica stalled", load, started)
            print(figures)
            # A retry may land on the stalled replica again (round_robin's next pick is
            # shared by every worker) until it is ejected: a few reads at most, early.
            assert len(load.failed()) <= WORKERS, figures
            assert all(o.seconds < DEADLINE + 0.5 for o in load.outcomes), figures
            assert str(group.ports[0]) not in load.by_port(load.outcomes), figures
            # Ejected within a couple of seconds (for 5 s, then again for longer each
            # time it is let back in and fails again): few reads wait for it at all.
            late = load.since(started + 2)
            slow = [o for o in late if o.seconds > DEADLINE / 4]
            assert len(slow) <= 2 * WORKERS and len(slow) < len(late) / 100, figures


async def test_a_call_takes_its_timeout_from_the_request_budget() -> None:
    with replicas("stall") as group:
        async with channel(group.target) as client:
            with budget(0.4):
                started = time.monotonic()
                with pytest.raises(TemporarilyUnavailable):
                    await client.call.Revoke(token_pb2.RevokeRequest(token="t"))
                assert time.monotonic() - started < 0.6
                # Spent: the next call is refused at once, without being sent.
                await asyncio.sleep(max(0.0, remaining(1.0)))
                started = time.monotonic()
                with pytest.raises(TemporarilyUnavailable):
                    await client.call.GetJwks(empty_pb2.Empty())
                assert time.monotonic() - started < 0.05


def test_budgets_nest_and_end() -> None:
    assert remaining(5.0) == 5.0
    with budget(2.0):
        assert 1.9 < remaining(5.0) <= 2.0
        assert remaining(1.0) == 1.0
        with budget(10.0):
            assert remaining(5.0) <= 2.0  # an inner budget never outlasts the outer
        with budget(None):
            assert remaining(5.0) <= 2.0
    assert remaining(5.0) == 5.0
