"""The benchmark's own instruments, against a server that answers wrong on purpose.

A benchmark whose body check never fires would report a fast broken server as a
fast one; these run wrk with the real Lua script against a loopback server that
answers some requests with a 500 and some with a 200 lacking the expected field,
and check that every one of them is counted. Not in testpaths (it needs wrk):
``.venv/bin/python -m pytest -q -p no:cacheprovider bench``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bench.token_endpoint import (
    CLK_TCK,
    Side,
    _children_by_parent,
    process_ticks,
    run_wrk,
    write_lua,
)

pytestmark = pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")


class Answers(BaseHTTPRequestHandler):
    """Every third request a 500, every third a 200 without access_token, the rest right."""

    protocol_version = "HTTP/1.1"
    counter = 0
    lock = threading.Lock()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with Answers.lock:
            Answers.counter += 1
            n = Answers.counter
        status, body = {
            0: (500, b'{"error":"server_error"}'),
            1: (200, b'{"error":"nothing here"}'),
            2: (200, b'{"access_token":"x","token_type":"Bearer"}'),
        }[n % 3]
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        """wrk closes its connections mid-request when its time is up: not an error here."""


@pytest.fixture
def server() -> Iterator[str]:
    httpd = QuietServer(("127.0.0.1", 0), Answers)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/token"
    httpd.shutdown()
    httpd.server_close()


def test_wrong_bodies_and_non_2xx_are_counted(server: str, tmp_path: Path) -> None:
    Answers.counter = 0
    script = tmp_path / "cc.lua"
    write_lua(
        script,
        Side("t", server, "grant_type=client_credentials", "Basic eDp5", {}),
        "client_credentials",
    )
    result = run_wrk(script, server, "1s")
    # wrk may stop with requests in flight, which neither it nor the server counts the same.
    assert result["requests"] >= 30
    assert abs(result["non_2xx"] - Answers.counter / 3) <= 40
    assert abs(result["wrong_bodies"] - Answers.counter / 3) <= 40
    assert result["non_2xx"] > 0 and result["wrong_bodies"] > 0


def test_process_ticks_include_children() -> None:
    """A parent that only waits while its child burns CPU is charged for the child."""
    burn = "import time\nt=time.process_time()\nwhile time.process_time()-t<0.5: pass\n"
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import subprocess,sys; subprocess.run([sys.executable,'-c',{burn!r}])",
        ]
    )
    try:
        seen = 0
        while parent.poll() is None:
            seen = max(seen, process_ticks(parent.pid, _children_by_parent()))
            time.sleep(0.02)
    finally:
        parent.wait(timeout=30)
    # The child's ~0.5 s, seen live or (after it ended) as the parent's cutime.
    assert seen / CLK_TCK >= 0.3
