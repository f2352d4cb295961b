"""Audit of refused admin API calls (``admin.denied``, docs/operators.md).

A 401 or 403 of the admin API is a security event: someone without an admin
token, or with a bad one, knocked. Each is reported to the audit log with the
caller's address, the path and the reason, but at most once per address and
:data:`THROTTLE_SECONDS` (a ``set_if_absent`` in the gateway's KeyValue, shared
by every replica), so that a flood of bad tokens cannot flood the audit log.
Without Redis the process throttles on its own (:class:`LocalThrottle`): a knock
on the admin API during an outage is still reported, once per address and
window in each gateway process, rather than not at all.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Final

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response

from common.kv import KeyValue
from common.secrets import sha256_hex
from common.vocabulary import AuditOutcome
from gateway.state import audit_of, remote_addr_of

log = logging.getLogger(__name__)

ACTION: Final = "admin.denied"
#: One event per address in this many seconds.
THROTTLE_SECONDS: Final = 60.0
#: Addresses the local throttle remembers at most; the oldest are forgotten first.
LOCAL_ADDRESSES: Final = 10_000


class LocalThrottle:
    """``set_if_absent`` with a TTL in this process's memory, for when the KeyValue
    does not answer: bounded, so a flood of addresses cannot grow it."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._until: OrderedDict[str, float] = OrderedDict()

    def first(self, key: str, ttl: float) -> bool:
        now = self._clock()
        until = self._until.get(key)
        if until is not None and until > now:
            return False
        self._until[key] = now + ttl
        self._until.move_to_end(key)
        while len(self._until) > LOCAL_ADDRESSES:
            self._until.popitem(last=False)
        return True


def _local_throttle(request: Request) -> LocalThrottle:
    throttle: LocalThrottle | None = getattr(request.app.state, "denied_throttle", None)
    if throttle is None:
        throttle = request.app.state.denied_throttle = LocalThrottle()
    return throttle


def denial_reason(response: Response) -> str:
    """``no_token`` (RFC 6750 section 3.1: the challenge names no error),
    ``invalid_token`` or ``insufficient_scope``."""
    challenge = response.headers.get("www-authenticate", "")
    if "error=" not in challenge:
        return "no_token"
    return "insufficient_scope" if response.status_code == 403 else "invalid_token"


async def audit_denied(request: Request, response: Response) -> None:
    """Report the refusal ``response`` of ``request``, throttled per address.
    Never raises: the audit trail must not change the answer."""
    address = remote_addr_of(request)
    kv: KeyValue = request.app.state.kv
    key = f"admin_denied:{sha256_hex(address)}"
    try:
        first = await kv.set_if_absent(key, "1", ttl=THROTTLE_SECONDS)
    except (RedisError, OSError) as exc:
        log.warning("admin.denied throttled by this process alone: %s", exc)
        first = _local_throttle(request).first(key, THROTTLE_SECONDS)
    if not first:
        return
    audit_of(request).report(
        ACTION,
        actor="anonymous",
        target="admin_api",
        outcome=AuditOutcome.DENIED,
        remote_addr=address,
        details={
            "path": request.url.path[:200],
            "method": request.method,
            "status": str(response.status_code),
            "reason": denial_reason(response),
        },
    )
