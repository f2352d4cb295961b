"""The admin service's own records: audit events and their filters.

Everything else the admin service handles (clients, users, grants, keys) is
owned by another service and passes through in that service's contract
messages unchanged (docs/operators.md, "Who orchestrates").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from common.vocabulary import AuditOutcome

OUTCOMES: Final[tuple[AuditOutcome, ...]] = tuple(AuditOutcome)

#: Where the admin service's own events say they come from.
SOURCE: Final = "oauth2-admin"

# Audit actions, exact names from docs/operators.md "Audit events".
CLIENT_CREATED: Final = "client.created"
CLIENT_UPDATED: Final = "client.updated"
CLIENT_DELETED: Final = "client.deleted"
CLIENT_SECRET_ROTATED: Final = "client.secret_rotated"  # noqa: S105 - an action name
RESOURCE_CREATED: Final = "resource.created"
RESOURCE_UPDATED: Final = "resource.updated"
RESOURCE_DELETED: Final = "resource.deleted"
USER_CREATED: Final = "user.created"
USER_UPDATED: Final = "user.updated"
USER_DISABLED: Final = "user.disabled"
USER_ENABLED: Final = "user.enabled"
USER_PASSWORD_SET: Final = "user.password_set"  # noqa: S105 - an action name
USER_DELETED: Final = "user.deleted"
GRANT_REVOKED: Final = "grant.revoked"
KEY_ROTATED: Final = "key.rotated"
KEY_RETIRED: Final = "key.retired"
REGISTRATION_TOKEN_CREATED: Final = "registration_token.created"  # noqa: S105 - an action name
ADMIN_BOOTSTRAPPED: Final = "admin.bootstrapped"
#: oauth2ctl bootstrap --recover: new admin credentials for an operator who lost them.
ADMIN_RECOVERED: Final = "admin.recovered"

#: Actor of a call that did not say who it acts for.
UNKNOWN_ACTOR: Final = "unknown"


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One row of the audit trail. ``details`` never holds a secret."""

    event_id: str
    action: str
    actor_id: str
    target: str
    outcome: AuditOutcome
    time: datetime
    source: str
    trace_id: str = ""
    actor_remote_addr: str = ""
    details: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Exact matches on the non-empty fields; ``since <= time < until``."""

    action: str = ""
    actor_id: str = ""
    target: str = ""
    outcome: str = ""
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class AuditCursor:
    """The sort key (time, event_id) of the last event of a page, newest first."""

    time: datetime
    event_id: str


@dataclass(frozen=True, slots=True)
class AuditPage:
    events: list[AuditRecord]
    #: Opaque cursor of the next (older) page; empty on the last page.
    next_page_token: str


@dataclass(frozen=True, slots=True)
class StateEntry:
    value: str
    updated_at: datetime
