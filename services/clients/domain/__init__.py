"""The client registry's rules, free of gRPC and SQL (RFC 6749 section 2, RFC 7591 section 2)."""

from __future__ import annotations

from services.clients.domain.model import Client, ClientMetadata, InitialAccessToken
from services.clients.domain.ports import ClientPage, ClientStore, InitialAccessTokenStore
from services.clients.domain.registration import (
    ClientRegistration,
    Registration,
    RegistrationMode,
)
from services.clients.domain.registration_policy import RegistrationPolicy
from services.clients.domain.registry import ClientRegistry

__all__ = [
    "Client",
    "ClientMetadata",
    "ClientPage",
    "ClientRegistration",
    "ClientRegistry",
    "ClientStore",
    "InitialAccessToken",
    "InitialAccessTokenStore",
    "Registration",
    "RegistrationMode",
    "RegistrationPolicy",
]
