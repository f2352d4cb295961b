"""Settings of the authorize service."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from common.settings import ServiceSettings


class AuthorizeSettings(ServiceSettings):
    """The authorize service: users, login, consent and authorization codes
    (RFC 6749 section 4.1, OpenID Connect Core section 3.1)."""

    PROCESS: ClassVar[str] = "authorize"

    grpc_port: int = Field(default=50051, ge=0, le=65535)
