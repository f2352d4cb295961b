"""Reporting security events to the admin service's audit log (docs/operators.md).

Services call :meth:`AuditReporter.report` where something security-relevant happens
(refresh-token reuse, a replayed code, a login lockout, a self-registered client).
The report is sent in the background with a deadline: the audit trail must never make
the caller's request slower or fail it. Failures are logged.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping
from typing import Protocol

from oauth2.v1 import admin_pb2, common_pb2
from opentelemetry import trace

from common.errors import OAuthError
from common.grpc_client import ChannelSecurity
from common.services import AdminClient, admin_client
from common.settings import CommonSettings
from common.timeutil import utcnow
from common.vocabulary import AuditOutcome

log = logging.getLogger(__name__)


def current_trace_id() -> str:
    """The W3C trace id of the current span, or "" outside a trace."""
    ctx = trace.get_current_span().get_span_context()
    return f"{ctx.trace_id:032x}" if ctx.is_valid else ""


def audit_event(
    action: str,
    *,
    source: str,
    target: str = "",
    outcome: str = AuditOutcome.SUCCESS,
    actor: str = "system",
    remote_addr: str = "",
    details: Mapping[str, str] | None = None,
) -> admin_pb2.AuditEvent:
    event = admin_pb2.AuditEvent(
        event_id=str(uuid.uuid4()),
        action=action,
        actor=common_pb2.Actor(id=actor, remote_addr=remote_addr),
        target=target,
        outcome=outcome,
        trace_id=current_trace_id(),
        source=source,
        details=dict(details or {}),
    )
    event.time.FromDatetime(utcnow())
    return event


class AuditSink(Protocol):
    """Where a domain reports security events: :class:`AuditReporter` in a process,
    :class:`NoAudit` where there is no admin service, a recording fake in tests.
    ``report`` never raises and never waits."""

    def report(
        self,
        action: str,
        *,
        target: str = "",
        outcome: str = AuditOutcome.SUCCESS,
        actor: str = "system",
        remote_addr: str = "",
        details: Mapping[str, str] | None = None,
    ) -> None: ...


class NoAudit:
    """Reports go nowhere: tools and tests without an admin service."""

    def report(
        self,
        action: str,
        *,
        target: str = "",
        outcome: str = AuditOutcome.SUCCESS,
        actor: str = "system",
        remote_addr: str = "",
        details: Mapping[str, str] | None = None,
    ) -> None:
        return None


class AuditReporter:
    """Fire-and-forget RecordEvent calls to the admin service. The channel opens on
    the first report: a grpc.aio channel belongs to the event loop it was made in, and
    the gateway builds its app (and this reporter) before uvicorn starts its loop."""

    def __init__(self, settings: CommonSettings) -> None:
        self._source = settings.service_name
        self._settings = settings
        self._client: AdminClient | None = None
        self._pending: set[asyncio.Task[None]] = set()

    def report(
        self,
        action: str,
        *,
        target: str = "",
        outcome: str = AuditOutcome.SUCCESS,
        actor: str = "system",
        remote_addr: str = "",
        details: Mapping[str, str] | None = None,
    ) -> None:
        # Built now, inside the caller's span, so the event carries its trace id.
        event = audit_event(
            action,
            source=self._source,
            target=target,
            outcome=outcome,
            actor=actor,
            remote_addr=remote_addr,
            details=details,
        )
        task = asyncio.get_running_loop().create_task(self._send(event))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _send(self, event: admin_pb2.AuditEvent) -> None:
        if self._client is None:
            self._client = admin_client(
                self._settings.admin_target,
                self._settings.grpc_deadline_seconds,
                ChannelSecurity.from_settings(self._settings),
            )
        try:
            await self._client.call.RecordEvent(event)
        except OAuthError as exc:
            log.warning("audit event %s not recorded: %s %s", event.action, exc.error, exc.detail)

    async def close(self) -> None:
        """Wait briefly for reports in flight, then close the channel."""
        if self._pending:
            await asyncio.wait(self._pending, timeout=2)
        if self._client is not None:
            await self._client.close()
