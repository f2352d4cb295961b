"""The admin service's rules, free of gRPC and SQL: composing the clients,
authorize and token services for an operator (docs/operators.md), the audit
trail, and the one-time bootstrap of the first admin client."""

from __future__ import annotations

from dataclasses import dataclass

from services.admin.domain.audit import AuditLog
from services.admin.domain.bootstrap import Bootstrapper
from services.admin.domain.clients import ClientAdministration
from services.admin.domain.grants import GrantAdministration
from services.admin.domain.keys import KeyAdministration, StatsReader
from services.admin.domain.ports import (
    AdminStateStore,
    AuditStore,
    ClientRegistry,
    TokenAuthority,
    UserDirectory,
)
from services.admin.domain.resources import ResourceAdministration
from services.admin.domain.users import UserAdministration


@dataclass(frozen=True, slots=True)
class AdminDomain:
    """Everything the servicer calls, one object per area."""

    audit: AuditLog
    clients: ClientAdministration
    resources: ResourceAdministration
    users: UserAdministration
    grants: GrantAdministration
    keys: KeyAdministration
    stats: StatsReader
    bootstrap: Bootstrapper


def build_admin_domain(
    *,
    clients: ClientRegistry,
    users: UserDirectory,
    tokens: TokenAuthority,
    audit_store: AuditStore,
    state: AdminStateStore,
    source: str,
    max_details_chars: int,
    bootstrap_claim_timeout_seconds: float,
) -> AdminDomain:
    audit = AuditLog(audit_store, source=source, max_details_chars=max_details_chars)
    grants = GrantAdministration(users, tokens, audit)
    administration = ClientAdministration(clients, grants, audit)
    return AdminDomain(
        audit=audit,
        clients=administration,
        resources=ResourceAdministration(clients, audit),
        users=UserAdministration(users, grants, audit),
        grants=grants,
        keys=KeyAdministration(tokens, audit),
        stats=StatsReader(clients, users, tokens),
        bootstrap=Bootstrapper(
            clients,
            state,
            audit,
            administration,
            claim_timeout_seconds=bootstrap_claim_timeout_seconds,
        ),
    )


__all__ = [
    "AdminDomain",
    "AuditLog",
    "Bootstrapper",
    "ClientAdministration",
    "GrantAdministration",
    "KeyAdministration",
    "ResourceAdministration",
    "StatsReader",
    "UserAdministration",
    "build_admin_domain",
]
