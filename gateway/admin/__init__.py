"""The admin REST API (``/admin/api/...``) over the AdminService; see docs/operators.md."""

from __future__ import annotations

from gateway.admin.routes import ROUTES

__all__ = ["ROUTES"]
