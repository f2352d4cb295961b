"""A client's back-channel logout endpoint for tests (OpenID Connect Back-Channel
Logout 1.0 section 2.5): a real HTTP server on 127.0.0.1 on its own thread that
records every ``logout_token`` POSTed to it. ``statuses`` are the answers to the
first requests, in order (then 200), to make a client that fails for a while::

    with LogoutReceiver(statuses=[503]) as receiver:
        uri = receiver.uri("/backchannel")
        ...
        [received] = receiver.wait_for(1)
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs


@dataclass(frozen=True)
class ReceivedLogout:
    path: str
    content_type: str
    logout_token: str
    status: int


class LogoutReceiver:
    def __init__(self, statuses: list[int] | None = None) -> None:
        self._statuses = list(statuses or [])
        self._lock = threading.Condition()
        self.received: list[ReceivedLogout] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8")
                tokens = parse_qs(body).get("logout_token", [""])
                with receiver._lock:
                    status = receiver._statuses.pop(0) if receiver._statuses else 200
                    receiver.received.append(
                        ReceivedLogout(
                            path=self.path,
                            content_type=self.headers.get("Content-Type", ""),
                            logout_token=tokens[0],
                            status=status,
                        )
                    )
                    receiver._lock.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.send_header("Cache-Control", "no-store")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def uri(self, path: str = "/backchannel-logout") -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}{path}"

    def delivered(self) -> list[ReceivedLogout]:
        """The requests answered 200."""
        with self._lock:
            return [item for item in self.received if item.status == 200]

    def wait_for(self, count: int, timeout: float = 15.0) -> list[ReceivedLogout]:
        """The first ``count`` requests answered 200, waiting for them."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len([r for r in self.received if r.status == 200]) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"expected {count} logout tokens, received {len(self.received)} requests"
                    )
                self._lock.wait(left)
            return [item for item in self.received if item.status == 200][:count]

    def __enter__(self) -> LogoutReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
