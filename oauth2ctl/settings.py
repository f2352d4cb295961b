"""Settings of ``oauth2ctl``: the same TOML file and environment as the services,
so that it reaches a default ``make run`` with no flags."""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

from pydantic import Field

from common.settings import CommonSettings

CREDENTIALS_FILE = "oauth2ctl-credentials.json"
#: The file's name in the user's configuration directory, ``<config>/oauth2ctl/``.
USER_CREDENTIALS_FILE = "credentials.json"
#: What ``make run`` leaves in the default data directory (``./var``): the
#: credentials file, the gRPC certificates, the development KEK, SQLite files.
#: Any of them says "this is a checkout's data directory" (not, say, /var).
DATA_DIR_MARKERS = (CREDENTIALS_FILE, "certs", "token-kek", "admin.db", "token.db")


def user_config_dir() -> Path:
    """``$XDG_CONFIG_HOME/oauth2ctl`` (an absolute value only, as the XDG Base
    Directory specification says), else ``~/.config/oauth2ctl``."""
    xdg = os.environ.get("XDG_CONFIG_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".config"
    return base / "oauth2ctl"


class CtlSettings(CommonSettings):
    """The command-line tool; its own overrides go in the ``[ctl]`` table.

    Credentials for the admin API, first found wins: ``--token`` /
    ``ctl_token``; a client_credentials token (scope ``admin``) for
    ``ctl_client_id``/``ctl_client_secret``; the same for the client in the
    credentials file that ``oauth2ctl bootstrap`` writes (see
    :attr:`credentials_file` for where it is).
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
    # The credentials file oauth2ctl bootstrap writes and every command reads;
    # unset means the data directory's (data_dir, when set) or the user's
    # configuration directory's (see credentials_file below).
    ctl_credentials_file: Path | None = None

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
    def public_url(self) -> str:
        """The gateway's public listener: ctl_public_url, else the issuer."""
        return (self.ctl_public_url or self.issuer).rstrip("/")

    @property
    def token_url(self) -> str:
        """The public token endpoint: ctl_public_url, else the issuer's."""
        return self.public_url + "/oauth/token"

    @property
    def credentials_file(self) -> Path:
        """Written by ``oauth2ctl bootstrap`` (mode 0600), read by every other command;
        an absolute path, so that oauth2ctl works from any directory. The first that
        applies: ``ctl_credentials_file``; ``<data_dir>/oauth2ctl-credentials.json``
        when the settings name a data directory (``OAUTH2_DATA_DIR`` or TOML
        ``data_dir``, a relative one resolved against the working directory); the
        same in ``./var`` when that default data directory holds what ``make run``
        keeps there (:data:`DATA_DIR_MARKERS`: a checkout); else ``credentials.json``
        in the user's configuration directory (``$XDG_CONFIG_HOME/oauth2ctl``, else
        ``~/.config/oauth2ctl``)."""
        if self.ctl_credentials_file is not None:
            return self.ctl_credentials_file.expanduser().resolve()
        if "data_dir" in self.model_fields_set or any(
            (self.data_dir / marker).exists() for marker in DATA_DIR_MARKERS
        ):
            return (self.data_dir.expanduser() / CREDENTIALS_FILE).resolve()
        return user_config_dir() / USER_CREDENTIALS_FILE
