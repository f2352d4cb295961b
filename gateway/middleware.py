"""Pure ASGI middleware (no BaseHTTPMiddleware: it buffers and breaks streaming).

:class:`GatewayMiddleware` sets the headers every response carries, writes the
access log line that uvicorn's own access log (disabled) would (with the client
address of gateway/client_address.py), and is the last
line of defence: an exception nothing else handled becomes a logged 500
``server_error`` with nothing leaked. It opens the request's deadline budget
(common.deadline): every call and Redis command the request makes takes its
timeout from what is left.
"""

from __future__ import annotations

import logging
import time

from opentelemetry import trace
from starlette.datastructures import MutableHeaders
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common.deadline import budget
from common.errors import ServerError
from gateway.client_address import client_address
from gateway.errors import error_response

log = logging.getLogger(__name__)
access_log = logging.getLogger("gateway.access")

SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff"}


class GatewayMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        budget_seconds: float | None = None,
        strict_transport_security: str | None = None,
    ) -> None:
        self.app = app
        self.budget_seconds = budget_seconds
        # GatewaySettings.strict_transport_security of the public listener.
        self.headers = dict(SECURITY_HEADERS)
        if strict_transport_security:
            self.headers["Strict-Transport-Security"] = strict_transport_security

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0
        # The request's span (HttpTelemetryMiddleware, outside) took the TCP peer:
        # name the client the trusted proxy chain gives instead. Only a recording
        # span keeps it, and working out the address parses every proxy hop.
        span = trace.get_current_span()
        if span.is_recording():
            span.set_attribute("client.address", client_address(scope))

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers.setdefault(name, value)
            await send(message)

        try:
            with budget(self.budget_seconds):
                await self.app(scope, receive, send_with_headers)
        except ClientDisconnect:
            # The client hung up, or gateway/http_timeouts.py dropped it, before its
            # request was read: nobody is left to answer and nothing failed here, so
            # no 500. The access log and the request metrics say 499, as nginx does
            # (uvicorn drops the start of a response to a closed connection).
            if not status:
                await send_with_headers(
                    {"type": "http.response.start", "status": 499, "headers": []}
                )
        except Exception:
            log.exception("%s %s failed with an unexpected error", scope["method"], scope["path"])
            if status:
                raise  # the response has begun; nothing sensible can be sent any more
            await error_response(ServerError())(scope, receive, send_with_headers)
        finally:
            # The arguments cost more than the call when the level filters the line
            # (make bench runs at WARNING).
            if access_log.isEnabledFor(logging.INFO):
                access_log.info(
                    "%s %s %s %d %.1fms",
                    client_address(scope),
                    scope["method"],
                    scope["path"],
                    status,
                    (time.perf_counter() - started) * 1000,
                )
