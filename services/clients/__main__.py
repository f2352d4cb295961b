"""``python -m services.clients [serve|migrate] [--config FILE]``."""

from __future__ import annotations

from common.service_main import run_service
from services.clients.app import MIGRATIONS_DIR, serve
from services.clients.settings import ClientsSettings

if __name__ == "__main__":
    run_service(ClientsSettings, MIGRATIONS_DIR, serve)
