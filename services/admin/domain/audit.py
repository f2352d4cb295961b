"""The audit trail (docs/operators.md, "Audit events").

:class:`AuditLog` records what the admin service does itself (every mutating
admin RPC, success or failure, with the caller's actor and the current trace
id), accepts the events other services report through ``RecordEvent``, and
lists them newest first with an opaque cursor.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Final

from common.audit import current_trace_id
from common.caller import authenticated_caller
from common.errors import AccessDenied, Conflict, InvalidRequest, OAuthError, ServerError
from common.paging import decode_page_token, encode_page_token, page_size
from common.timeutil import utcnow
from common.vocabulary import AuditOutcome
from services.admin.domain.model import (
    OUTCOMES,
    SOURCE,
    UNKNOWN_ACTOR,
    AuditCursor,
    AuditFilter,
    AuditPage,
    AuditRecord,
)
from services.admin.domain.ports import AuditStore

log = logging.getLogger(__name__)

MAX_ACTION_LENGTH: Final = 100
MAX_ACTOR_LENGTH: Final = 300
MAX_TARGET_LENGTH: Final = 300
MAX_SOURCE_LENGTH: Final = 100
MAX_REMOTE_ADDR_LENGTH: Final = 64
MAX_EVENT_ID_LENGTH: Final = 64
MAX_TRACE_ID_LENGTH: Final = 64
MAX_DETAILS_ENTRIES: Final = 32
DEFAULT_MAX_DETAILS_CHARS: Final = 8192
# Separates time and event_id in a cursor; neither can contain it.
_CURSOR_SEPARATOR: Final = "|"


@dataclass(slots=True)
class AuditEntry:
    """What an audited operation learns while it runs (the id it created, counts)."""

    target: str
    details: dict[str, str] = field(default_factory=dict)


def outcome_of(error: OAuthError) -> AuditOutcome:
    return AuditOutcome.DENIED if isinstance(error, AccessDenied) else AuditOutcome.FAILURE


class AuditLog:
    """The audit trail: the service's own events and those other services report."""

    def __init__(
        self,
        store: AuditStore,
        *,
        source: str = SOURCE,
        max_details_chars: int = DEFAULT_MAX_DETAILS_CHARS,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._source = source
        self._max_details_chars = max_details_chars
        self._clock = clock

    @asynccontextmanager
    async def audited(
        self, action: str, actor_id: str, target: str = "", *, remote_addr: str = ""
    ) -> AsyncIterator[AuditEntry]:
        """Record ``action`` once the block ends: success, or failure/denied with the
        error code in ``details["error"]``; the block's exception travels on."""
        entry = AuditEntry(target=target)
        try:
            yield entry
        except OAuthError as exc:
            details = {**entry.details, "error": exc.error}
            if exc.public_description:
                details["error_description"] = exc.public_description
            await self.write(action, actor_id, entry.target, outcome_of(exc), details, remote_addr)
            raise
        except asyncio.CancelledError:
            # The caller went away (deadline, disconnect) mid-operation: whatever
            # happened downstream so far is on record as unfinished.
            details = {**entry.details, "error": "cancelled"}
            await self.write(
                action, actor_id, entry.target, AuditOutcome.FAILURE, details, remote_addr
            )
            raise
        except Exception:
            details = {**entry.details, "error": ServerError.error}
            await self.write(
                action, actor_id, entry.target, AuditOutcome.FAILURE, details, remote_addr
            )
            raise
        await self.write(
            action, actor_id, entry.target, AuditOutcome.SUCCESS, entry.details, remote_addr
        )

    async def write(
        self,
        action: str,
        actor_id: str,
        target: str,
        outcome: AuditOutcome,
        details: Mapping[str, str],
        remote_addr: str = "",
    ) -> None:
        """Store one of the service's own events. The operation it describes has
        happened already, so a failure to store is logged (with the whole event)
        rather than turned into a failure of the operation."""
        caller = authenticated_caller()
        if caller is not None:
            # Who asked (its certificate): the actor is the principal it vouches for.
            details = {**details, "caller": caller}
        record = AuditRecord(
            event_id=str(uuid.uuid4()),
            action=action,
            actor_id=actor_id or UNKNOWN_ACTOR,
            actor_remote_addr=remote_addr[:MAX_REMOTE_ADDR_LENGTH],
            target=target[:MAX_TARGET_LENGTH],
            outcome=outcome,
            time=self._clock(),
            source=self._source,
            trace_id=current_trace_id(),
            details=dict(details),
        )
        try:
            await self._store.append(record)
        except OAuthError as exc:
            log.error("audit event not recorded (%s %s): %s", exc.error, exc.detail, record)

    async def record(self, event: AuditRecord, *, reporter: str | None = None) -> None:
        """Store an event another service reported. A repeated event_id (a retried
        report) is accepted once and then ignored.

        ``reporter`` is the process that sent it, as its client certificate proves
        (None without mTLS): then the recorded ``source`` is that process whatever
        the event says, and a different claimed source is kept beside it in
        ``details["claimed_source"]``. The actor stays as reported: the source says
        who vouches for it (the gateway for the principals it verified)."""
        event = self.validate(event)
        if reporter is not None:
            event = attribute(event, reporter)
        try:
            await self._store.append(event)
        except Conflict:
            log.info("audit event %s was recorded already", event.event_id)

    def validate(self, event: AuditRecord) -> AuditRecord:
        if not 1 <= len(event.action) <= MAX_ACTION_LENGTH:
            raise InvalidRequest(f"'action' must be 1 to {MAX_ACTION_LENGTH} characters")
        outcome = event.outcome or AuditOutcome.SUCCESS
        if outcome not in OUTCOMES:
            raise InvalidRequest("'outcome' must be one of: " + ", ".join(OUTCOMES))
        for name, value, limit in (
            ("event_id", event.event_id, MAX_EVENT_ID_LENGTH),
            ("actor.id", event.actor_id, MAX_ACTOR_LENGTH),
            ("actor.remote_addr", event.actor_remote_addr, MAX_REMOTE_ADDR_LENGTH),
            ("target", event.target, MAX_TARGET_LENGTH),
            ("source", event.source, MAX_SOURCE_LENGTH),
            ("trace_id", event.trace_id, MAX_TRACE_ID_LENGTH),
        ):
            if len(value) > limit:
                raise InvalidRequest(f"'{name}' must be at most {limit} characters")
        if len(event.details) > MAX_DETAILS_ENTRIES:
            raise InvalidRequest(f"'details' must have at most {MAX_DETAILS_ENTRIES} entries")
        size = sum(len(key) + len(value) for key, value in event.details.items())
        if size > self._max_details_chars:
            raise InvalidRequest(f"'details' must be at most {self._max_details_chars} characters")
        return replace(
            event,
            event_id=event.event_id or str(uuid.uuid4()),
            outcome=AuditOutcome(outcome),
            actor_id=event.actor_id or UNKNOWN_ACTOR,
            source=event.source or "unknown",
        )

    async def list(
        self, query: AuditFilter, *, page_size_requested: int = 0, page_token: str = ""
    ) -> AuditPage:
        if query.outcome and query.outcome not in OUTCOMES:
            raise InvalidRequest("'outcome' must be one of: " + ", ".join(OUTCOMES))
        if query.since is not None and query.until is not None and query.until <= query.since:
            raise InvalidRequest("'until' must be later than 'since'")
        limit = page_size(page_size_requested)
        events = await self._store.list(query, after=_decode_cursor(page_token), limit=limit + 1)
        next_token = ""
        if len(events) > limit:
            last = events[limit - 1]
            next_token = encode_page_token(
                last.time.isoformat() + _CURSOR_SEPARATOR + last.event_id
            )
        return AuditPage(events=events[:limit], next_page_token=next_token)


def source_of(process: str) -> str:
    """The ``source`` of a process's events: its service name ("oauth2-token")."""
    return f"oauth2-{process}"


def attribute(event: AuditRecord, reporter: str) -> AuditRecord:
    """``event`` with the authenticated reporter as its source."""
    source = source_of(reporter)[:MAX_SOURCE_LENGTH]
    if event.source == source:
        return event
    details = dict(event.details)
    if event.source and event.source != "unknown":
        details["claimed_source"] = event.source
    return replace(event, source=source, details=details)


def _decode_cursor(page_token: str) -> AuditCursor | None:
    raw = decode_page_token(page_token)
    if raw is None:
        return None
    time_text, separator, event_id = raw.partition(_CURSOR_SEPARATOR)
    try:
        time = datetime.fromisoformat(time_text)
    except ValueError:
        time = None
    if not separator or not event_id or time is None or time.tzinfo is None:
        raise InvalidRequest("Invalid 'page_token'")
    return AuditCursor(time=time, event_id=event_id)
