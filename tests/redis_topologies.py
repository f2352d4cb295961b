"""Redis Sentinel and Redis Cluster of a test's own, from the installed
``redis-server`` and ``redis-cli``, in a temporary directory on free ports; always
stopped afterwards. Never the machine's shared Redis."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from oauth2ctl.devrun import free_port

SERVICE_NAME = "oauth2primary"
HOST = "127.0.0.1"


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} is needed for this test: apt-get install redis-server")
    return path


def _server(directory: Path, port: int, *extra: str) -> subprocess.Popen[bytes]:
    directory.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [_binary("redis-server"), "--port", str(port), "--bind", HOST, "--save", "",
         "--appendonly", "no", "--dir", str(directory), *extra],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip


def _wait(what: str, check: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(redis.RedisError, OSError):
            if callable(check) and check():
                return
        time.sleep(0.1)
    raise RuntimeError(f"timed out waiting for {what}")


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for proc in processes:
        if proc.poll() is None:
            proc.terminate()
    for proc in processes:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class SentinelGroup:
    """A primary, its replica and one sentinel watching them as SERVICE_NAME."""

    primary_port: int
    replica_port: int
    sentinel_port: int
    processes: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"redis+sentinel://{HOST}:{self.sentinel_port}/{SERVICE_NAME}/0"

    def sentinel(self) -> redis.Redis:
        return redis.Redis(host=HOST, port=self.sentinel_port, socket_timeout=5)

    def primary(self) -> tuple[str, int]:
        address: Any = self.sentinel().sentinel_get_master_addr_by_name(SERVICE_NAME)
        host = address[0].decode() if isinstance(address[0], bytes) else str(address[0])
        return host, int(address[1])

    def node(self, port: int) -> redis.Redis:
        return redis.Redis(host=HOST, port=port, socket_timeout=5)

    def wait_watched(self) -> None:
        """Until the sentinel knows the replica (a failover needs one) and the
        replica has its first copy of the data."""
        _wait(
            "the replica to sync",
            lambda: self.node(self.replica_port).info("replication")["master_link_status"] == "up",
        )
        _wait(
            "the sentinel to see the replica",
            lambda: any(
                r.get("is_slave") or "slave" in str(r.get("flags", ""))
                for r in self.sentinel().sentinel_slaves(SERVICE_NAME)
                if "disconnected" not in str(r.get("flags", ""))
            ),
        )

    def failover(self, timeout: float = 30.0) -> tuple[str, int]:
        """``SENTINEL FAILOVER``: the replica becomes the primary; returns its address
        once it is the primary and the old one follows it."""
        old = self.primary()
        self.sentinel().execute_command("SENTINEL", "FAILOVER", SERVICE_NAME)  # type: ignore[no-untyped-call]
        _wait("the failover", lambda: self.primary() != old, timeout)
        new = self.primary()
        _wait(
            "the new primary to take writes",
            lambda: self.node(new[1]).info("replication")["role"] == "master",
            timeout,
        )
        return new


@contextlib.contextmanager
def sentinel_group(directory: Path) -> Iterator[SentinelGroup]:
    group = SentinelGroup(free_port(), free_port(), free_port())
    try:
        group.processes[group.primary_port] = _server(directory / "primary", group.primary_port)
        _wait("the primary", lambda: group.node(group.primary_port).ping())
        group.processes[group.replica_port] = _server(
            directory / "replica", group.replica_port, "--replicaof", HOST, str(group.primary_port)
        )
        conf = directory / "sentinel.conf"
        conf.write_text(
            f"port {group.sentinel_port}\nbind {HOST}\ndir {directory}\n"
            f"sentinel monitor {SERVICE_NAME} {HOST} {group.primary_port} 1\n"
            f"sentinel down-after-milliseconds {SERVICE_NAME} 1000\n"
            f"sentinel failover-timeout {SERVICE_NAME} 5000\n"
            f"sentinel parallel-syncs {SERVICE_NAME} 1\n"
        )
        group.processes[group.sentinel_port] = subprocess.Popen(
            [_binary("redis-server"), str(conf), "--sentinel"], stdout=subprocess.DEVNULL
        )
        _wait("the sentinel", lambda: group.sentinel().ping())
        group.wait_watched()
        yield group
    finally:
        _stop(list(group.processes.values()))


@dataclass
class Cluster:
    """Three primaries (and a replica of each, when asked for) joined into one
    Redis Cluster."""

    ports: list[int]
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def replica_ports(self) -> list[int]:
        return [
            port
            for port in self.ports
            if redis.Redis(host=HOST, port=port).info("replication")["role"] == "slave"
        ]

    def failover(self, timeout: float = 30.0) -> int:
        """CLUSTER FAILOVER on one replica: it becomes a primary (its old primary, a
        replica); returns its port once every node agrees."""
        port = self.replica_ports()[0]
        node = redis.Redis(host=HOST, port=port)
        node.execute_command("CLUSTER", "FAILOVER")  # type: ignore[no-untyped-call]
        _wait(
            "the cluster failover",
            lambda: (
                node.info("replication")["role"] == "master"
                and all(_cluster_state(p) == "ok" for p in self.ports)
            ),
            timeout,
        )
        return port

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"{HOST}:{port}" for port in self.ports[:2])

    def client(self) -> redis.RedisCluster:
        return redis.RedisCluster(host=HOST, port=self.ports[0], socket_timeout=5)


def _cluster_state(port: int) -> str:
    raw = redis.Redis(host=HOST, port=port).execute_command("CLUSTER", "INFO")  # type: ignore[no-untyped-call]
    info = raw if isinstance(raw, dict) else {}
    if isinstance(raw, bytes | str):
        text = raw.decode() if isinstance(raw, bytes) else raw
        info = dict(line.split(":", 1) for line in text.split() if ":" in line)
    return str(info.get("cluster_state", ""))


@contextlib.contextmanager
def redis_cluster(directory: Path, nodes: int = 3, replicas: int = 0) -> Iterator[Cluster]:
    cluster = Cluster([free_port() for _ in range(nodes * (1 + replicas))])
    try:
        for port in cluster.ports:
            cluster.processes.append(
                _server(directory / str(port), port, "--cluster-enabled", "yes",
                        "--cluster-config-file", f"nodes-{port}.conf",
                        "--cluster-node-timeout", "2000")
            )  # fmt: skip
        for port in cluster.ports:
            _wait(f"node {port}", lambda port=port: redis.Redis(host=HOST, port=port).ping())
        subprocess.run(
            [_binary("redis-cli"), "--cluster", "create",
             *(f"{HOST}:{port}" for port in cluster.ports),
             "--cluster-replicas", str(replicas), "--cluster-yes"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        for port in cluster.ports:
            _wait(
                f"node {port} to see the cluster",
                lambda port=port: _cluster_state(port) == "ok",
            )
        for port in cluster.replica_ports():
            _wait(
                f"replica {port} to sync",
                lambda port=port: (
                    redis.Redis(host=HOST, port=port).info("replication")["master_link_status"]
                    == "up"
                ),
            )
        yield cluster
    finally:
        _stop(cluster.processes)
