"""A bounded load generator for fault tests, and what it saw.

N worker threads, each with its own ``httpx.Client`` on loopback, repeat one
*step* (a function that makes requests through a :class:`Recorder`) until the
load stops: after a fixed duration at most, or when the test says so. Every
request is recorded (start, end, path, status or exception), so that after the
fault a test can say what failed, when, and how long the system took to come
back once the dependency returned.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import httpx

#: What a worker repeats: requests made through the recorder it is given.
Step = Callable[["Recorder"], None]

#: Statuses that are a request's expected answer, not a failure.
OK = frozenset({200, 302, 303})


@dataclass(frozen=True)
class Record:
    """One request: monotonic start and end, the path (without query), and its
    status or, when no answer came, the exception's name."""

    started: float
    ended: float
    path: str
    status: int | None
    error: str = ""
    retry_after: str | None = None
    body: str = ""

    @property
    def latency(self) -> float:
        return self.ended - self.started

    @property
    def outcome(self) -> str:
        return str(self.status) if self.status is not None else self.error

    @property
    def ok(self) -> bool:
        return self.status in OK


class Recorder:
    """What one worker's requests go through: an ``httpx.Client`` whose every call
    is recorded, and the shared list of records."""

    def __init__(self, http: httpx.Client, records: list[Record], lock: threading.Lock) -> None:
        self.http = http
        self._records = records
        self._lock = lock

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response | None:
        """The response, or None when the request got none (the error is recorded)."""
        path = urlsplit(url).path
        started = time.monotonic()
        try:
            resp = self.http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            self._add(Record(started, time.monotonic(), path, None, type(exc).__name__))
            return None
        body = "" if resp.status_code in OK else resp.text[:300]
        self._add(
            Record(
                started,
                time.monotonic(),
                path,
                resp.status_code,
                retry_after=resp.headers.get("retry-after"),
                body=body,
            )
        )
        return resp

    def get(self, url: str, **kwargs: Any) -> httpx.Response | None:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response | None:
        return self.request("POST", url, **kwargs)

    def _add(self, record: Record) -> None:
        with self._lock:
            self._records.append(record)


@dataclass
class Summary:
    """Requests sent, failures by status, failures per one-second window (from the
    load's start), the slowest answer; and every record for closer questions."""

    records: list[Record]
    started: float
    ended: float
    step_errors: list[str] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return len(self.records)

    @property
    def failures(self) -> list[Record]:
        return [r for r in self.records if not r.ok]

    def failures_by_status(self, records: Iterable[Record] | None = None) -> Counter[str]:
        chosen = self.failures if records is None else [r for r in records if not r.ok]
        return Counter(r.outcome for r in chosen)

    def failures_per_second(self) -> dict[int, int]:
        windows: Counter[int] = Counter(int(r.started - self.started) for r in self.failures)
        return dict(sorted(windows.items()))

    @property
    def max_latency(self) -> float:
        return max((r.latency for r in self.records), default=0.0)

    def between(self, start: float, end: float) -> list[Record]:
        """Requests that started in [start, end) (monotonic times)."""
        return [r for r in self.records if start <= r.started < end]

    def recovery_time(self, returned: float, path: str | None = None) -> float | None:
        """Seconds from the dependency's return (a monotonic time) to the end of the
        first successful request sent after it (on ``path`` if given); None if none."""
        ends = [
            r.ended
            for r in self.records
            if r.ok and r.started >= returned and (path is None or r.path == path)
        ]
        return min(ends) - returned if ends else None

    def last_failure_after(self, returned: float) -> float | None:
        """Seconds from ``returned`` to the end of the last failed request after it."""
        ends = [r.ended for r in self.failures if r.ended >= returned]
        return max(ends) - returned if ends else None

    def report(self, title: str = "load") -> str:
        paths = Counter(r.path for r in self.records)
        lines = [
            f"{title}: {self.sent} requests in {self.ended - self.started:.1f}s, "
            f"{len(self.failures)} failed {dict(self.failures_by_status())}, "
            f"max latency {self.max_latency:.2f}s",
            f"  by path: {dict(paths)}",
            f"  failures per second window: {self.failures_per_second()}",
        ]
        if self.step_errors:
            lines.append(f"  step errors ({len(self.step_errors)}): {self.step_errors[:3]}")
        return "\n".join(lines)


class Load:
    """``workers`` threads repeating ``step`` against ``base_url`` for at most
    ``duration`` seconds, or until :meth:`stop`. Use as a context manager; a step
    that raises (an assertion about its own flow) is counted, and the worker goes
    on with its next step."""

    def __init__(
        self,
        base_url: str,
        step: Step,
        *,
        workers: int,
        duration: float,
        timeout: float = 15.0,
    ) -> None:
        if not base_url.startswith(("http://127.0.0.1:", "http://localhost:")):
            raise ValueError(f"load only on loopback, not {base_url}")
        self._base_url = base_url
        self._step = step
        self._duration = duration
        self._timeout = timeout
        self._records: list[Record] = []
        self._step_errors: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._work, name=f"load-{i}", daemon=True)
            for i in range(workers)
        ]
        self.started = 0.0

    def __enter__(self) -> Load:
        self.started = time.monotonic()
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _work(self) -> None:
        deadline = self.started + self._duration
        with httpx.Client(
            base_url=self._base_url, timeout=self._timeout, follow_redirects=False
        ) as http:
            recorder = Recorder(http, self._records, self._lock)
            while not self._stop.is_set() and time.monotonic() < deadline:
                try:
                    self._step(recorder)
                except Exception as exc:
                    with self._lock:
                        self._step_errors.append(f"{type(exc).__name__}: {exc}"[:300])

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def count(self) -> int:
        with self._lock:
            return len(self._records)

    def stop(self) -> Summary:
        """Stop the workers (each finishes its step) and summarise."""
        self._stop.set()
        for thread in self._threads:
            thread.join(self._timeout * 4)
        with self._lock:
            return Summary(
                list(self._records), self.started, time.monotonic(), list(self._step_errors)
            )


def wait_until(
    condition: Callable[[], bool], timeout: float, interval: float = 0.1, what: str = ""
) -> float:
    """Poll ``condition`` until it holds; the seconds it took. AssertionError after
    ``timeout``."""
    started = time.monotonic()
    while True:
        if condition():
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout:.0f}s: {what or condition}")
        time.sleep(interval)
