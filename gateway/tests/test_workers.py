"""Several uvicorn workers: GET /metrics adds up the samples of every worker
(prometheus_client's multiprocess mode), and one worker needs no Redis."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.tests.processes import gateway_env, gateway_process
from oauth2ctl.devrun import free_port


def test_metrics_add_up_across_workers(tmp_path: Path, redis_url: str, redis_prefix: str) -> None:
    port, admin_port = free_port(), free_port()
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    env = gateway_env(
        tmp_path,
        OAUTH2_PORT=str(port),
        OAUTH2_ADMIN_PORT=str(admin_port),
        OAUTH2_WORKERS="2",
        REDIS_URL=redis_url,
        OAUTH2_REDIS_KEY_PREFIX=redis_prefix + "workers:",
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
    )
    with gateway_process(env, port):
        base = f"http://127.0.0.1:{port}"
        requests = 40
        for _ in range(requests):  # a new connection each: either worker may take it
            assert httpx.get(base + "/health", timeout=5).status_code == 200
        # /metrics is on the admin listener, a process beside the workers.
        assert httpx.get(base + "/metrics", timeout=5).status_code == 404
        admin = f"http://127.0.0.1:{admin_port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                scraped = httpx.get(admin + "/metrics", timeout=5)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "the admin listener did not start"
                time.sleep(0.2)
        assert scraped.status_code == 200
        text = scraped.text
    # Stopping the gateway stops its admin listener too.
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{admin_port}/health", timeout=2)
    health = sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "oauth2_http_requests_total" and sample.labels.get("route") == "/health"
    )
    # The readiness polls above count too; what matters is that none is lost.
    assert health >= requests + 1
    assert list(metrics_dir.glob("counter_*.db")), "no worker wrote multiprocess samples"


def test_several_workers_without_redis_is_a_config_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gateway"],
        env=gateway_env(tmp_path, OAUTH2_WORKERS="2"),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "gateway: invalid setting 'workers' [OAUTH2_WORKERS]: Value error, more than 1 needs "
        "redis_url: workers must share sessions (got '2')"
    ]


def test_the_metrics_directory_it_made_is_removed_on_stop(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    """Without PROMETHEUS_MULTIPROC_DIR the gateway makes one (under TMPDIR) and
    removes it when it stops, so restarts leave no stale samples behind."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    port = free_port()
    env = gateway_env(
        tmp_path,
        TMPDIR=str(temp),
        OAUTH2_PORT=str(port),
        OAUTH2_ADMIN_PORT="0",
        OAUTH2_WORKERS="2",
        REDIS_URL=redis_url,
        OAUTH2_REDIS_KEY_PREFIX=redis_prefix + "workers2:",
    )
    with gateway_process(env, port):
        deadline = time.monotonic() + 30
        made = list(temp.glob("oauth2-metrics-*"))
        assert len(made) == 1
        # A request's samples are written once its response has gone: wait for them.
        while not list(made[0].glob("*.db")):
            assert time.monotonic() < deadline, "the workers wrote no samples"
            time.sleep(0.1)
    assert not list(temp.glob("oauth2-metrics-*"))
