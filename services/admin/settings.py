"""Settings of the admin service."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from common.settings import ServiceSettings


class AdminSettings(ServiceSettings):
    """The admin service: the operator's admin API and audit trail."""

    PROCESS: ClassVar[str] = "admin"

    grpc_port: int = Field(default=50054, ge=0, le=65535)
