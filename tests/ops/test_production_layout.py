"""The layout docs/operations.md and deploy/compose.yaml describe, as real processes.

PostgreSQL and Redis, `clarion migrate` once, two `clarion serve` without workers and a
`clarion worker` serving its metrics: a send accepted by one API is delivered by the
worker, readable from the other API, and counted on the worker's /metrics.
"""

from __future__ import annotations

import contextlib
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import scratch_pg_database
from tests.e2e.processes import CLARION, ClarionProcess, clean_environment, free_port
from tests.e2e.test_processes import Emulators, Server, _configure, _created
from tests.e2e.test_processes import emulators as emulators


@pytest.fixture
def database() -> Iterator[str]:
    """A PostgreSQL database of this test's own."""
    with scratch_pg_database("clarion_ops") as url:
        yield url


def test_two_apis_and_a_worker_share_postgresql_and_redis(
    emulators: Emulators, database: str, tmp_path: Path
) -> None:
    admin_key = secrets.token_hex(32)
    env = clean_environment(
        CLARION_DATABASE_URL=database,
        CLARION_REDIS_URL="redis://127.0.0.1:6379/0",
        CLARION_REDIS_PREFIX=f"ops-{secrets.token_hex(4)}",
        CLARION_ADMIN_KEY=admin_key,
        CLARION_SECRET_KEY=secrets.token_hex(32),
        CLARION_VAR_DIR=str(tmp_path / "var"),
        CLARION_INPROCESS_WORKERS="false",
        CLARION_EXTRA_CA_FILE=str(emulators.ca_file),
        CLARION_OUTBOUND_ALLOWLIST="127.0.0.0/8,::1",
    )
    migrated = subprocess.run(
        [CLARION, "migrate"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert migrated.returncode == 0, migrated.stderr
    processes: list[ClarionProcess] = []
    try:
        apis = []
        for n in (1, 2):
            port = free_port()
            process = ClarionProcess(
                ["serve"], env | {"CLARION_PORT": str(port)}, tmp_path / f"api{n}.log", tmp_path
            )
            processes.append(process)
            apis.append((process, f"http://127.0.0.1:{port}"))
        metrics_port = free_port()
        worker = ClarionProcess(
            ["worker", "--metrics-port", str(metrics_port)], env, tmp_path / "worker.log", tmp_path
        )
        processes.append(worker)
        for process, url in apis:
            process.wait_http_ok(url + "/readyz", seconds=60)
        worker.wait_http_ok(f"http://127.0.0.1:{metrics_port}/metrics", seconds=60)

        first, second = (httpx.Client(base_url=url, timeout=10) for _, url in apis)
        with first, second:
            app_id, key = _configure(first, Server(apis[0][0], apis[0][1], admin_key), emulators)
            headers = {"Authorization": f"Bearer {key}"}
            _created(
                first.put(
                    f"/v1/apps/{app_id}/installations/iphone",
                    json={"platform": "ios", "token": secrets.token_hex(32)},
                    headers=headers,
                )
            )
            body = {"recipients": {"installation_ids": ["iphone"]}, "content": {"body": "hi"}}
            send_id = _created(second.post("/v1/sends", json=body, headers=headers))["id"]
            deadline = time.monotonic() + 30
            while (send := first.get(f"/v1/sends/{send_id}", headers=headers).json())[
                "status"
            ] != "done":
                assert time.monotonic() < deadline, (send, worker.output()[-3000:])
                time.sleep(0.1)
            assert send["counts"]["sent"] == 1
            worker_metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
            expected = f'clarion_deliveries_total{{app="{app_id}",outcome="sent",provider="apns"}}'
            assert expected + " 1.0" in worker_metrics
            api_metrics = first.get("/metrics").text
            assert 'clarion_queue_jobs{kind="deliver",state="due"}' in api_metrics
            assert 'clarion_open_sends{status="delivering"}' in api_metrics
    finally:
        for process in processes:
            with contextlib.suppress(Exception):
                process.stop()
