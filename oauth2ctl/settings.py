"""Settings of ``oauth2ctl``: the same TOML file and environment as the services,
so that it reaches a default ``make run`` with no flags."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

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

    # Base URL of the gateway whose admin API oauth2ctl uses; unset means the issuer.
    ctl_url: str | None = None
    # A bearer access token with the admin scope (OAUTH2_CTL_TOKEN).
    ctl_token: str | None = None
    # An admin client's credentials, used for a client_credentials token.
    ctl_client_id: str | None = None
    ctl_client_secret: str | None = None
    # Seconds an HTTP request to the gateway may take.
    ctl_timeout_seconds: float = 15.0

    @property
    def api_url(self) -> str:
        return (self.ctl_url or self.issuer).rstrip("/")

    @property
    def credentials_file(self) -> Path:
        """Written by ``oauth2ctl bootstrap`` (mode 0600)."""
        return self.data_dir / CREDENTIALS_FILE
