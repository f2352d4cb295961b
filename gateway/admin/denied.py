"""Audit of refused admin API calls (``admin.denied``, docs/operators.md).

A 401 or 403 of the admin API is a security event: someone without an admin
token, or with a bad one, knocked. Each is reported to the audit log with the
caller's address, the path and the reason, but at most once per address and
:data:`THROTTLE_SECONDS` (a ``set_if_absent`` in the gateway's KeyValue, shared
by every replica), so that a flood of bad tokens cannot flood the audit log.
"""

from __future__ import annotations

import logging
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
    try:
        first = await kv.set_if_absent(
            f"admin_denied:{sha256_hex(address)}", "1", ttl=THROTTLE_SECONDS
        )
    except (RedisError, OSError) as exc:
        log.warning("admin.denied not throttled, so not reported: %s", exc)
        return
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
