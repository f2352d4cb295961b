"""Settings of the HTTP gateway."""

from __future__ import annotations

from typing import ClassVar
from urllib.parse import urlsplit

from pydantic import Field, ValidationInfo, field_validator

from common.settings import CommonSettings
from gateway.origins import is_origin


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
    # uvicorn worker processes. Kubernetes scales the gateway by pods, so 1 is the
    # norm there; several need Redis (sessions must be shared) and a Prometheus
    # multiprocess directory (below; a temporary one is made when it is unset).
    workers: int = Field(default=1, ge=1, le=64)
    # PROMETHEUS_MULTIPROC_DIR: set it (to an empty directory) when uvicorn runs
    # several workers, so that GET /metrics adds up the samples of every worker.
    # prometheus_client itself reads the environment variable, so set it there.
    prometheus_multiproc_dir: str | None = None
    # Lifetime of a browser session held server-side, in seconds; sliding: every
    # page the session is used on starts the period again (8 hours).
    session_ttl_seconds: int = Field(default=8 * 3600, ge=60, le=30 * 86400)
    # Name of the session cookie (HttpOnly, SameSite=Lax, Path=/, Secure when the
    # issuer is https).
    session_cookie_name: str = Field(
        default="oauth2_session", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$"
    )
    # Origins (scheme://host[:port]) whose browser apps may call the token,
    # revocation, userinfo, JWKS and discovery endpoints (CORS, docs/operators.md),
    # for every client; each client's own origins (those of its redirect URIs and
    # its allowed_cors_origins) are allowed for that client without listing them
    # here. Empty: only the clients' own. "*" is refused: list the origins.
    cors_allowed_origins: list[str] = Field(default_factory=list, max_length=1000)
    # Seconds the gateway keeps what it learnt of the clients' CORS origins; a
    # client's new redirect URI is allowed for CORS at most this much later.
    cors_cache_seconds: float = Field(default=60.0, ge=0.1, le=3600)
    # Access-Control-Max-Age of a preflight answer: seconds a browser may reuse it
    # (Chromium caps it at 7200).
    cors_max_age_seconds: int = Field(default=600, ge=0, le=86400)
    # Address of the admin listener: the admin API (/admin/api), /metrics and the
    # admin API's OpenAPI document, which the public listener (host/port) does not
    # serve (like Hydra's 4445 and Keycloak's management port). Keep it on loopback
    # or a cluster-internal address, never behind the public ingress.
    admin_host: str = "127.0.0.1"
    # Port of the admin listener; 0 turns it off (the admin API is then unreachable).
    admin_port: int = Field(default=8081, ge=0, le=65535)

    @field_validator("cors_allowed_origins")
    @classmethod
    def _origins_are_origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if not is_origin(origin):
                raise ValueError(
                    f"{origin[:100]!r} is not an origin: scheme://host[:port], lower case,"
                    " no path and no default port ('*' is not allowed: list the origins)"
                )
        return value

    @property
    def secure_cookies(self) -> bool:
        """Cookies are Secure exactly when the public base URL is https."""
        return self.issuer.startswith("https://")

    @property
    def root_path(self) -> str:
        """The path of the issuer ("" or e.g. "/tenant"): where the gateway's own
        pages live behind a proxy that strips it."""
        return urlsplit(self.issuer).path.rstrip("/")

    @field_validator("workers")
    @classmethod
    def _workers_share_state(cls, value: int, info: ValidationInfo) -> int:
        if value > 1 and info.data.get("redis_url") is None:
            raise ValueError("more than 1 needs redis_url: workers must share sessions")
        return value
