"""Liveness (the process answers) and readiness (every downstream service
answers the standard gRPC health check with SERVING)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.errors import NO_STORE
from gateway.state import downstream_of, settings_of


async def liveness(request: Request) -> Response:
    return JSONResponse({"status": "ok"}, headers=NO_STORE)


async def readiness(request: Request) -> Response:
    services = await downstream_of(request).health(settings_of(request).ready_timeout_seconds)
    ready = all(status == "SERVING" for status in services.values())
    return JSONResponse(
        {"status": "ok" if ready else "unavailable", "services": services},
        status_code=200 if ready else 503,
        headers=NO_STORE,
    )
