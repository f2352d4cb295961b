"""CPU per call of a unary gRPC call against the same call multiplexed (common/grpc_mux.py).

One server process, built as every service builds it (common.grpc_server.build_server,
so every interceptor runs), answering TokenService.Introspect at once; this process
calls it through common.grpc_client.ServiceClient, first as unary calls, then as items
of multiplexed streams, at several concurrencies. CPU is each process's own accounting
(utime + stime from /proc, every thread of it, gRPC's own included), divided by the
calls made, so the figures do not depend on how busy the other core is.

    .venv/bin/python bench/mux_micro.py [--calls 20000] [--concurrency 1,8,32] [--uvloop]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "protos")]

from oauth2.v1 import token_pb2, token_pb2_grpc  # noqa: E402

from common.grpc_client import ChannelSecurity, ServiceClient  # noqa: E402
from common.grpc_mux import WARMUP_SECONDS  # noqa: E402
from common.grpc_server import build_server, start_server  # noqa: E402
from common.grpc_types import Context  # noqa: E402
from common.services import TOKEN_SERVICE  # noqa: E402
from common.settings import ServiceSettings  # noqa: E402
from common.telemetry import setup_telemetry  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
METHOD = f"{TOKEN_SERVICE}/Introspect"


class Introspection(token_pb2_grpc.TokenServiceServicer):
    async def Introspect(
        self, request: token_pb2.IntrospectRequest, context: Context
    ) -> token_pb2.IntrospectResponse:
        return token_pb2.IntrospectResponse(active=True, client_id="c1", scope="read write")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


async def serve(port: int) -> None:
    settings = ServiceSettings(grpc_port=port)
    setup_telemetry(settings)
    servicer = Introspection()
    built = build_server(
        settings,
        lambda server: token_pb2_grpc.add_TokenServiceServicer_to_server(servicer, server),
        [TOKEN_SERVICE],
    )
    await start_server(built, [TOKEN_SERVICE])
    print(built.port, flush=True)
    await built.server.wait_for_termination()


async def run(
    client: ServiceClient[token_pb2_grpc.TokenServiceStub], calls: int, concurrency: int
) -> float:
    request = token_pb2.IntrospectRequest(token="eyJhbGciOiJFUzI1NiJ9.e30.sig" * 4)
    left = calls

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await client.call.Introspect(request)  # type: ignore[attr-defined]

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started


async def measure(port: int, server_pid: int, calls: int, levels: list[int]) -> None:
    setup_telemetry(ServiceSettings())
    print(f"load average {os.getloadavg()[0]:.2f}; {calls} calls per row; CPU per call in µs")
    print(f"{'mode':6} {'conc':>4} {'calls/s':>8} {'client µs':>9} {'server µs':>9} {'frames':>7}")
    for muxed in (False, True):
        security = ChannelSecurity(multiplex_methods=frozenset({METHOD}) if muxed else frozenset())
        client: ServiceClient[token_pb2_grpc.TokenServiceStub] = ServiceClient(
            token_pb2_grpc.TokenServiceStub,
            f"127.0.0.1:{port}",
            TOKEN_SERVICE,
            deadline=5,
            security=security,
        )
        await asyncio.sleep(WARMUP_SECONDS)  # the streams' channel connects; unary meanwhile
        try:
            for concurrency in levels:
                await run(client, 1000, concurrency)  # warm up: connections, streams
                frames = client.mux.frames_sent if client.mux else 0
                client_before, server_before = time.process_time(), cpu_seconds(server_pid)
                elapsed = await run(client, calls, concurrency)
                client_cpu = time.process_time() - client_before
                server_cpu = cpu_seconds(server_pid) - server_before
                frames = (client.mux.frames_sent - frames) if client.mux else calls
                print(
                    f"{'mux' if muxed else 'unary':6} {concurrency:>4} {calls / elapsed:>8.0f} "
                    f"{client_cpu / calls * 1e6:>9.1f} {server_cpu / calls * 1e6:>9.1f} "
                    f"{frames:>7}"
                )
        finally:
            await client.close()
    print(f"load average {os.getloadavg()[0]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--uvloop", action="store_true", help="both processes on uvloop")
    args = parser.parse_args()
    runner = asyncio.run
    if args.uvloop:
        import uvloop

        runner = uvloop.run  # type: ignore[assignment]
    if args.serve is not None:
        runner(serve(args.serve))
        return
    command = [sys.executable, __file__, "--serve", "0", *(["--uvloop"] if args.uvloop else [])]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        levels = [int(level) for level in args.concurrency.split(",")]
        runner(measure(port, server.pid, args.calls, levels))
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
