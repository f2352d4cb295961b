"""``python -m services.token [serve|migrate] [--config FILE]``."""

from __future__ import annotations

from common.service_main import run_service
from services.token import MIGRATIONS_DIR
from services.token.app import serve
from services.token.settings import TokenSettings


def main() -> None:
    run_service(TokenSettings, MIGRATIONS_DIR, serve)


if __name__ == "__main__":
    main()
