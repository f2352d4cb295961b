"""The token service: grants, JWT access tokens, signing keys, introspection, revocation."""

from __future__ import annotations

from pathlib import Path

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
