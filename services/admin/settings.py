"""Settings of the admin process (TOML table ``[admin]``, env ``OAUTH2_<KEY>``).

The services it composes are reached at ``clients_target``, ``authorize_target``
and ``token_target`` (common settings), each call with ``grpc_deadline_seconds``.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from common.settings import ServiceSettings


class AdminSettings(ServiceSettings):
    """The admin service: the operator's admin API and audit trail.
    Each key is documented beside its default."""

    PROCESS: ClassVar[str] = "admin"

    # Port of the AdminService gRPC server (admin_target of the other processes).
    grpc_port: int = Field(default=50054, ge=0, le=65535)
    # Largest `details` map a reported audit event may carry (keys plus values,
    # in characters); RecordEvent refuses bigger ones with invalid_request.
    audit_details_max_chars: int = Field(default=8192, ge=256, le=65_536)
    # Seconds after which a bootstrap that never finished (its replica died
    # between claiming and creating the admin client) no longer blocks another.
    bootstrap_claim_timeout_seconds: float = Field(default=60, gt=0, le=3600)
