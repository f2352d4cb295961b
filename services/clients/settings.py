"""Settings of the clients process (TOML table ``[clients]``, env ``OAUTH2_<KEY>``)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from common.settings import ServiceSettings


class ClientsSettings(ServiceSettings):
    """The client registry service. Each key is documented beside its default."""

    PROCESS: ClassVar[str] = "clients"

    # Port of the ClientsService gRPC server (clients_target of the other processes).
    grpc_port: int = Field(default=50053, ge=0, le=65535)
    # Seconds a client record stays in the KeyValue cache. Writes through this
    # service invalidate it at once; the TTL only bounds a rare read/write race.
    client_cache_ttl_seconds: float = Field(default=300, gt=0, le=86_400)
