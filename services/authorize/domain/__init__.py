"""The authorize service's rules, free of gRPC and SQL: users, password sign-in,
the authorization endpoint's pipeline, consent and authorization codes (RFC 6749 section 4.1,
RFC 7636, OpenID Connect Core section 3.1).

The names below are imported on first use (PEP 562): a settings module that
needs one constant of the package does not import all of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from common.lazy import lazy_exports

if TYPE_CHECKING:
    from services.authorize.domain.authorization_code import AuthorizationCodes
    from services.authorize.domain.authorization_request import AuthorizationRequestValidator
    from services.authorize.domain.consent import ConsentRegistry
    from services.authorize.domain.login import LoginPolicy, LoginThrottle, PasswordLogin
    from services.authorize.domain.passwords import Argon2PasswordHasher
    from services.authorize.domain.sign_in import SignIn
    from services.authorize.domain.users import UserDirectory

_MODULE_OF = {
    "Argon2PasswordHasher": "services.authorize.domain.passwords",
    "AuthorizationCodes": "services.authorize.domain.authorization_code",
    "AuthorizationRequestValidator": "services.authorize.domain.authorization_request",
    "ConsentRegistry": "services.authorize.domain.consent",
    "LoginPolicy": "services.authorize.domain.login",
    "LoginThrottle": "services.authorize.domain.login",
    "PasswordLogin": "services.authorize.domain.login",
    "SignIn": "services.authorize.domain.sign_in",
    "UserDirectory": "services.authorize.domain.users",
}

__all__ = [
    "Argon2PasswordHasher",
    "AuthorizationCodes",
    "AuthorizationRequestValidator",
    "ConsentRegistry",
    "LoginPolicy",
    "LoginThrottle",
    "PasswordLogin",
    "SignIn",
    "UserDirectory",
]


__getattr__ = lazy_exports(__name__, _MODULE_OF)
