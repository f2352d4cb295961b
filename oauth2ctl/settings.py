"""Settings of ``oauth2ctl``: the same TOML file and environment as the services,
so that it reaches a default ``make run`` with no flags."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field

from common.settings import CommonSettings

CREDENTIALS_FILE = "oauth2ctl-credentials.json"


class CtlSettings(CommonSettings):
    """The command-line tool; its own overrides go in the ``[ctl]`` table.

    Credentials for the admin API, first found wins: ``--token`` /
    ``ctl_token``; a client_credentials token (scope ``admin``) for
    ``ctl_client_id``/``ctl_client_secret``; the same for the client in the
    credentials file that ``oauth2ctl bootstrap`` writes.
    """

    PROCESS: ClassVar[str] = "ctl"

    # Base URL of the gateway's admin listener, whose admin API oauth2ctl uses;
    # unset means http://<admin_host>:<admin_port> (below).
    ctl_url: str | None = None
    # A bearer access token with the admin scope (OAUTH2_CTL_TOKEN).
    ctl_token: str | None = None
    # An admin client's credentials, used for a client_credentials token.
    ctl_client_id: str | None = None
    ctl_client_secret: str | None = None
    # Seconds an HTTP request to the gateway may take.
    ctl_timeout_seconds: float = 15.0
    # Base URL of the gateway's public listener, where oauth2ctl gets its tokens
    # (POST /oauth/token); unset means the issuer.
    ctl_public_url: str | None = None
    # The gateway's admin listener: the same keys (and defaults) as the gateway's,
    # so that one OAUTH2_ADMIN_PORT (or top-level admin_port) sets both.
    admin_host: str = "127.0.0.1"
    admin_port: int = Field(default=8081, ge=0, le=65535)

    @property
    def api_url(self) -> str:
        """The admin listener: ctl_url, else admin_host:admin_port (a wildcard
        address the gateway listens on is reached on loopback)."""
        if self.ctl_url:
            return self.ctl_url.rstrip("/")
        host = "127.0.0.1" if self.admin_host in ("", "0.0.0.0", "::") else self.admin_host  # noqa: S104
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.admin_port}"

    @property
    def token_url(self) -> str:
        """The public token endpoint: ctl_public_url, else the issuer's."""
        return (self.ctl_public_url or self.issuer).rstrip("/") + "/oauth/token"

    @property
    def credentials_file(self) -> Path:
        """Written by ``oauth2ctl bootstrap`` (mode 0600)."""
        return self.data_dir / CREDENTIALS_FILE
