"""Delivers logout tokens to clients' ``backchannel_logout_uri`` (OpenID Connect
Back-Channel Logout 1.0 section 2.5) in the background of the token service.

Each delivery is a POST of ``logout_token=<JWT>`` as a form, with a timeout, no
redirects followed and the answer's body never read. 200 and 204 mean done
(section 2.8); another 4xx means the client refused it, and is not repeated; a
timeout, a connection failure, 429 or a 5xx is tried again after 1, 2, 4, ...
times ``retry_base_seconds``, up to ``attempts`` tries. At most
``max_concurrent`` deliveries run at once and at most ``max_pending`` wait;
beyond that a delivery is dropped and counted. Pending deliveries live in this
process only: a restart loses them (the session's grants are revoked either way).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import httpx
from opentelemetry import trace

from common.audit import AuditSink, NoAudit
from common.vocabulary import AuditOutcome
from services.token.domain.backchannel_logout import LogoutDelivery
from services.token.metrics import BACKCHANNEL_LOGOUT_DELIVERIES

log = logging.getLogger(__name__)
_tracer = trace.get_tracer(__name__)

# docs/operators.md, Audit events.
DELIVERED = "backchannel_logout.delivered"
FAILED = "backchannel_logout.failed"
_DONE = frozenset({200, 204})


class HttpLogoutSender:
    """:class:`services.token.domain.backchannel_logout.LogoutSender` over httpx."""

    def __init__(
        self,
        *,
        timeout_seconds: float = 5.0,
        attempts: int = 4,
        retry_base_seconds: float = 1.0,
        max_concurrent: int = 16,
        max_pending: int = 1000,
        audit: AuditSink | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._timeout = timeout_seconds
        self._attempts = max(1, attempts)
        self._retry_base = retry_base_seconds
        self._slots = asyncio.Semaphore(max_concurrent)
        self._max_pending = max_pending
        self._audit = audit or NoAudit()
        self._transport = transport
        self._http: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def send(self, deliveries: Sequence[LogoutDelivery]) -> None:
        for delivery in deliveries:
            if len(self._tasks) >= self._max_pending:
                BACKCHANNEL_LOGOUT_DELIVERIES.labels("dropped").inc()
                log.warning(
                    "back-channel logout to client %s dropped: %d deliveries pending",
                    delivery.client_id,
                    len(self._tasks),
                )
                continue
            task = asyncio.get_running_loop().create_task(self._deliver(delivery))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Waits for every pending delivery (tests, and a graceful stop)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self, grace_seconds: float = 2.0) -> None:
        """Gives pending deliveries ``grace_seconds``, then cancels the rest."""
        if self._tasks:
            _done, pending = await asyncio.wait(list(self._tasks), timeout=grace_seconds)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(
                timeout=self._timeout, follow_redirects=False, transport=self._transport
            )
        return self._http

    async def _deliver(self, delivery: LogoutDelivery) -> None:
        async with self._slots:
            outcome = ""
            for attempt in range(self._attempts):
                if attempt:
                    BACKCHANNEL_LOGOUT_DELIVERIES.labels("retried").inc()
                    await asyncio.sleep(self._retry_base * 2 ** (attempt - 1))
                outcome = await self._post(delivery, attempt + 1)
                if outcome != "retry":
                    break
            if outcome == "delivered":
                BACKCHANNEL_LOGOUT_DELIVERIES.labels("delivered").inc()
                self._audit.report(DELIVERED, target=f"client:{delivery.client_id}")
                return
            BACKCHANNEL_LOGOUT_DELIVERIES.labels("failed").inc()
            log.warning("back-channel logout to client %s failed: %s", delivery.client_id, outcome)
            self._audit.report(
                FAILED,
                target=f"client:{delivery.client_id}",
                outcome=AuditOutcome.FAILURE,
                details={"reason": outcome if outcome != "retry" else "no answer"},
            )

    async def _post(self, delivery: LogoutDelivery, attempt: int) -> str:
        """'delivered', 'retry', or why the client refused it."""
        with _tracer.start_as_current_span(
            "backchannel_logout.deliver",
            kind=trace.SpanKind.CLIENT,
            attributes={"oauth2.client_id": delivery.client_id, "oauth2.attempt": attempt},
        ) as span:
            try:
                async with self._client().stream(
                    "POST",
                    delivery.uri,
                    data={"logout_token": delivery.logout_token},
                    headers={"Cache-Control": "no-store"},
                ) as response:
                    status = response.status_code
            except httpx.HTTPError as exc:
                span.set_attribute("error.type", type(exc).__name__)
                return "retry"
            span.set_attribute("http.response.status_code", status)
            if status in _DONE:
                return "delivered"
            if status == 429 or status >= 500:
                return "retry"
            return f"HTTP {status}"
