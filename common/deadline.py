"""One deadline per request, through every hop.

The gateway opens a budget when a request arrives (:func:`budget`, from
``grpc_deadline_seconds``); each service opens one from the deadline its caller sent
(gRPC propagates it; common.grpc_server opens it around each call). Every outgoing gRPC call
(common.grpc_client) and every Redis command (common.kv) takes its timeout from
what is left (:func:`remaining`), so a slow or hung dependency costs the request at
most its budget, never one full timeout per call. Work with no budget open (a
background task, the CLI) uses each call's own default.

The deadline is an absolute reading of ``time.monotonic()`` in a context variable:
asyncio tasks started inside a request inherit it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextvars import ContextVar

_deadline: ContextVar[float | None] = ContextVar("oauth2_deadline", default=None)


@contextlib.contextmanager
def budget(seconds: float | None) -> Iterator[None]:
    """Everything inside has at most ``seconds`` (None: no budget), or less when an
    outer budget ends sooner."""
    if seconds is None:
        yield
        return
    deadline = time.monotonic() + seconds
    outer = _deadline.get()
    token = _deadline.set(deadline if outer is None else min(outer, deadline))
    try:
        yield
    finally:
        _deadline.reset(token)


def remaining(default: float) -> float:
    """Seconds left of the current budget, at most ``default``; ``default`` when no
    budget is open. Zero or less means the budget is spent."""
    deadline = _deadline.get()
    if deadline is None:
        return default
    return min(default, deadline - time.monotonic())
