"""``GET /openapi.json``, generated from the routes and the metadata beside their
handlers (:mod:`gateway.openapi.spec`); see :mod:`gateway.openapi.document`."""

from __future__ import annotations

from gateway.openapi.document import admin_document, document, openapi_endpoint

__all__ = ["admin_document", "document", "openapi_endpoint"]
