"""``python -m services.authorize [serve|migrate] [--config FILE]``."""

from __future__ import annotations

from common.service_main import run_service
from services.authorize.app import MIGRATIONS_DIR, serve
from services.authorize.settings import AuthorizeSettings

if __name__ == "__main__":
    run_service(AuthorizeSettings, MIGRATIONS_DIR, serve)
