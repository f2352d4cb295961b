"""``python -m services.admin [serve|migrate] [--config FILE]``."""

from __future__ import annotations

from common.service_main import run_service
from services.admin.app import MIGRATIONS_DIR, serve
from services.admin.settings import AdminSettings

if __name__ == "__main__":
    run_service(AdminSettings, MIGRATIONS_DIR, serve)
