"""The client registry's rules, free of gRPC and SQL (RFC 6749 section 2, RFC 7591 section 2),
and the registry of resource servers (RFC 8707).

The names below are imported on first use (PEP 562): a settings module that
needs one constant of the package does not import all of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from common.lazy import lazy_exports

if TYPE_CHECKING:
    from services.clients.domain.model import (
        Client,
        ClientMetadata,
        InitialAccessToken,
        Resource,
        ResourceFields,
    )
    from services.clients.domain.ports import (
        ClientPage,
        ClientStore,
        InitialAccessTokenStore,
        ResourcePage,
        ResourceStore,
    )
    from services.clients.domain.registration import (
        ClientRegistration,
        Registration,
        RegistrationMode,
    )
    from services.clients.domain.registration_policy import RegistrationPolicy
    from services.clients.domain.registry import ClientRegistry
    from services.clients.domain.resources import ResourceRegistry

_MODULE_OF = {
    "Client": "services.clients.domain.model",
    "ClientMetadata": "services.clients.domain.model",
    "ClientPage": "services.clients.domain.ports",
    "ClientRegistration": "services.clients.domain.registration",
    "ClientRegistry": "services.clients.domain.registry",
    "ClientStore": "services.clients.domain.ports",
    "InitialAccessToken": "services.clients.domain.model",
    "InitialAccessTokenStore": "services.clients.domain.ports",
    "Registration": "services.clients.domain.registration",
    "RegistrationMode": "services.clients.domain.registration",
    "RegistrationPolicy": "services.clients.domain.registration_policy",
    "Resource": "services.clients.domain.model",
    "ResourceFields": "services.clients.domain.model",
    "ResourcePage": "services.clients.domain.ports",
    "ResourceRegistry": "services.clients.domain.resources",
    "ResourceStore": "services.clients.domain.ports",
}

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
    "Resource",
    "ResourceFields",
    "ResourcePage",
    "ResourceRegistry",
    "ResourceStore",
]


__getattr__ = lazy_exports(__name__, _MODULE_OF)
