"""AuditLog: what RecordEvent accepts from other services, and listing newest
first with an opaque cursor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from common.errors import InvalidRequest
from common.paging import encode_page_token
from services.admin.domain.audit import AuditLog
from services.admin.domain.model import AuditFilter, AuditRecord
from services.admin.tests.fakes import MemoryAuditStore

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def reported(**changes: object) -> AuditRecord:
    values: dict[str, object] = {
        "event_id": "e-1",
        "action": "refresh_token.reuse_detected",
        "actor_id": "system",
        "target": "grant:fam-1",
        "outcome": "denied",
        "time": T0,
        "source": "oauth2-token",
        "trace_id": "0af7651916cd43dd8448eb211c80319c",
        "details": {"client_id": "web"},
    }
    values.update(changes)
    return AuditRecord(**values)  # type: ignore[arg-type]


@pytest.fixture
def audit(audit_store: MemoryAuditStore) -> AuditLog:
    return AuditLog(audit_store, max_details_chars=100)


async def test_records_a_reported_event_once(
    audit: AuditLog, audit_store: MemoryAuditStore
) -> None:
    await audit.record(reported())
    await audit.record(reported(action="other"))  # a retried report: same event_id
    assert audit_store.records == [reported()]


async def test_fills_in_what_a_report_left_empty(
    audit: AuditLog, audit_store: MemoryAuditStore
) -> None:
    await audit.record(reported(event_id="", outcome="", actor_id="", source=""))
    [record] = audit_store.records
    assert len(record.event_id) == 36 and record.outcome == "success"
    assert (record.actor_id, record.source) == ("unknown", "unknown")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"action": ""}, "'action' must be 1 to 100 characters"),
        ({"action": "a" * 101}, "'action' must be 1 to 100 characters"),
        ({"outcome": "maybe"}, "'outcome' must be one of: success, failure, denied"),
        ({"target": "t" * 301}, "'target' must be at most 300 characters"),
        ({"event_id": "e" * 65}, "'event_id' must be at most 64 characters"),
        ({"actor_id": "a" * 301}, "'actor.id' must be at most 300 characters"),
        ({"details": {"k": "v" * 100}}, "'details' must be at most 100 characters"),
        ({"details": {str(i): "" for i in range(33)}}, "'details' must have at most 32 entries"),
    ],
)
async def test_refuses_bad_reports(
    audit: AuditLog, audit_store: MemoryAuditStore, changes: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        await audit.record(reported(**changes))
    assert caught.value.description == message
    assert audit_store.records == []


async def test_lists_newest_first_in_pages(audit: AuditLog) -> None:
    for index in range(5):
        await audit.record(reported(event_id=f"e-{index}", time=T0 + timedelta(seconds=index)))
    # Two events in the same microsecond still page in a stable order.
    await audit.record(reported(event_id="e-4b", time=T0 + timedelta(seconds=4)))
    first = await audit.list(AuditFilter(), page_size_requested=4)
    assert [e.event_id for e in first.events] == ["e-4b", "e-4", "e-3", "e-2"]
    rest = await audit.list(AuditFilter(), page_size_requested=4, page_token=first.next_page_token)
    assert [e.event_id for e in rest.events] == ["e-1", "e-0"] and rest.next_page_token == ""


@pytest.mark.parametrize(
    "token", ["%%%", encode_page_token("no separator"), encode_page_token("not a time|e-1")]
)
async def test_refuses_a_bad_cursor(audit: AuditLog, token: str) -> None:
    with pytest.raises(InvalidRequest, match="Invalid 'page_token'"):
        await audit.list(AuditFilter(), page_token=token)


async def test_refuses_bad_filters(audit: AuditLog) -> None:
    with pytest.raises(InvalidRequest, match="'outcome' must be one of"):
        await audit.list(AuditFilter(outcome="maybe"))
    with pytest.raises(InvalidRequest, match="'until' must be later than 'since'"):
        await audit.list(AuditFilter(since=T0, until=T0))


async def test_the_authenticated_reporter_is_the_source_whatever_the_event_claims(
    audit: AuditLog, audit_store: MemoryAuditStore
) -> None:
    await audit.record(
        reported(event_id="forged", source="oauth2-admin", actor_id="admin:root"), reporter="token"
    )
    await audit.record(reported(event_id="honest"), reporter="token")
    await audit.record(reported(event_id="blank", source=""), reporter="clients")
    forged, honest, blank = audit_store.records
    assert forged.source == "oauth2-token"
    assert forged.details == {"client_id": "web", "claimed_source": "oauth2-admin"}
    assert forged.actor_id == "admin:root"  # as reported; the source vouches for it
    assert honest == reported(event_id="honest")
    assert (blank.source, blank.details) == ("oauth2-clients", {"client_id": "web"})


async def test_without_mtls_the_reported_source_stands(
    audit: AuditLog, audit_store: MemoryAuditStore
) -> None:
    await audit.record(reported(source="oauth2-gateway"))
    assert audit_store.records[0].source == "oauth2-gateway"
