"""The authorize service's rules, free of gRPC and SQL: users, password sign-in,
the authorization endpoint's pipeline, consent and authorization codes (RFC 6749 section 4.1,
RFC 7636, OpenID Connect Core section 3.1)."""

from __future__ import annotations

from services.authorize.domain.authorization_code import AuthorizationCodes
from services.authorize.domain.authorization_request import AuthorizationRequestValidator
from services.authorize.domain.consent import ConsentRegistry
from services.authorize.domain.login import LoginPolicy, LoginThrottle, PasswordLogin
from services.authorize.domain.passwords import Argon2PasswordHasher
from services.authorize.domain.sign_in import SignIn
from services.authorize.domain.users import UserDirectory

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
