"""The client registry's rules, free of gRPC and SQL (RFC 6749 section 2, RFC 7591 section 2)."""

from __future__ import annotations

from services.clients.domain.model import Client, ClientMetadata
from services.clients.domain.ports import ClientPage, ClientStore
from services.clients.domain.registry import ClientRegistry

__all__ = ["Client", "ClientMetadata", "ClientPage", "ClientRegistry", "ClientStore"]
