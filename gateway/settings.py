"""Settings of the HTTP gateway."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from common.settings import CommonSettings


class GatewaySettings(CommonSettings):
    """The gateway: the public HTTP surface (RFC 6749, RFC 7662, RFC 7009, RFC 8414)."""

    PROCESS: ClassVar[str] = "gateway"

    # Address the HTTP server listens on.
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    # Largest request body accepted; larger ones get 413 before they are read in full.
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=16 * 1024 * 1024)
    # Deadline of each downstream health check behind GET /ready, in seconds; it
    # also bounds how long /ready takes to say 503. Longer than the 1 s maximum
    # reconnect backoff of common.grpc_client, so a service that is back is seen.
    ready_timeout_seconds: float = Field(default=1.5, gt=0, le=30)
    # Seconds uvicorn gives open requests to finish on SIGTERM.
    drain_seconds: float = Field(default=5.0, ge=0, le=300)
