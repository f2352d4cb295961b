"""Settings of ``oauth2ctl``: the same TOML file and environment as the services,
so that it reaches a default ``make run`` with no flags."""

from __future__ import annotations

from typing import ClassVar

from common.settings import CommonSettings


class CtlSettings(CommonSettings):
    """The command-line tool; its own overrides go in the ``[ctl]`` table."""

    PROCESS: ClassVar[str] = "ctl"
