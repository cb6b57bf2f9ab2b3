"""A worker process killed with SIGKILL in the middle of a 10,000-device send loses nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy import insert

from clarion.api.app import create_app
from clarion.config import Settings
from clarion.delivery.jobs import DELIVERY_BATCH
from clarion.emulators.suite import EmulatorSuite
from clarion.store.engine import create_engine
from clarion.store.tables import apps, installations
from clarion.store.types import utcnow
from tests.conftest import ADMIN_KEY
from tests.delivery_env import configure_app
from tests.local_outbound import LOCAL_ALLOWLIST

DEVICES = 10_000
# The key every test sealing secrets in the shared PostgreSQL database uses, so that
# readiness (which checks every stored secret opens) holds across tests.
SECRET = "test-secret"
LEASE_SECONDS = 3.0
WORKER_CONCURRENCY = 8
#: Most devices a killed worker can have had in flight: its running jobs times the batch size.
IN_FLIGHT_BOUND = WORKER_CONCURRENCY * DELIVERY_BATCH


def _start_worker(
    database_url: str, tmp_path: Path, ca_file: Path, log: Path
) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLARION_")} | {
        "CLARION_DATABASE_URL": database_url,
        "CLARION_SECRET_KEY": SECRET,
        "CLARION_VAR_DIR": str(tmp_path / "var"),
        "CLARION_EXTRA_CA_FILE": str(ca_file),
        "CLARION_OUTBOUND_ALLOWLIST": LOCAL_ALLOWLIST,
        "CLARION_LEASE_SECONDS": str(LEASE_SECONDS),
        "CLARION_WORKER_CONCURRENCY": str(WORKER_CONCURRENCY),
    }
    command = [
        sys.executable,
        "-m",
        "clarion.cli",
        "worker",
        "--concurrency",
        str(WORKER_CONCURRENCY),
    ]
    return subprocess.Popen(command, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)


async def _add_devices(database_url: str, app_id: str) -> list[str]:
    engine = create_engine(database_url)
    tokens = [uuid.uuid4().hex + uuid.uuid4().hex for _ in range(DEVICES)]
    now = utcnow()
    async with engine.begin() as conn:
        app_pk = (await conn.execute(apps.select().where(apps.c.id == app_id))).one().pk
        rows = [
            {
                "app_pk": app_pk,
                "installation_id": f"device-{index}",
                "platform": "ios",
                "token": token,
                "tags": [],
                "attributes": {},
                "sandbox": False,
                "created_at": now,
                "updated_at": now,
            }
            for index, token in enumerate(tokens)
        ]
        await conn.execute(insert(installations), rows)
    await engine.dispose()
    return tokens


@pytest.mark.timeout(600)
async def test_kill_9_during_a_10000_device_send(database_url: str, tmp_path: Path) -> None:
    async with EmulatorSuite(tmp_path / "emulators") as emulators:
        settings = Settings(
            database_url=database_url,
            var_dir=tmp_path / "var",
            admin_key=ADMIN_KEY,
            secret_key=SECRET,
            extra_ca_file=emulators.ca_file,
            inprocess_workers=False,
            outbound_allowlist=LOCAL_ALLOWLIST,
        )
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://clarion.test", timeout=60
            ) as http:
                _, app_id, key = await configure_app(http, emulators)
                headers = {"Authorization": f"Bearer {key}"}
                tokens = await _add_devices(database_url, app_id)
                body = {
                    "recipients": {"installation_ids": [f"device-{i}" for i in range(DEVICES)]},
                    "content": {"title": "Crash test", "body": "Every device gets this"},
                }
                created = await http.post("/v1/sends", json=body, headers=headers)
                assert created.status_code == 201, created.text
                send_id = created.json()["id"]

                log = tmp_path / "workers.log"
                first = _start_worker(database_url, tmp_path, emulators.ca_file, log)
                try:
                    await _until(lambda: len(emulators.apns.deliveries) >= 2_000, first, log)
                    first.send_signal(signal.SIGKILL)
                    first.wait(timeout=30)
                    delivered_at_kill = len(emulators.apns.deliveries)
                    assert delivered_at_kill < DEVICES, (
                        "the worker finished before it could be killed"
                    )
                finally:
                    if first.poll() is None:
                        first.kill()
                second = _start_worker(database_url, tmp_path, emulators.ca_file, log)
                try:
                    status = await _wait_done(http, headers, send_id, log)
                finally:
                    second.send_signal(signal.SIGTERM)
                    second.wait(timeout=60)

    counts = status["counts"]
    assert counts["sent"] == DEVICES and counts["pending"] == 0 and counts["errors"] == 0, counts
    assert counts["targeted"] == DEVICES
    received = Counter(delivery.target for delivery in emulators.apns.deliveries)
    assert set(received) == set(tokens), "some device never received its notification"
    duplicates = sum(count - 1 for count in received.values())
    assert duplicates <= IN_FLIGHT_BOUND, (
        f"{duplicates} devices got it twice (bound {IN_FLIGHT_BOUND})"
    )


def _tail(log: Path) -> str:
    return log.read_text()[-3000:]


async def _until(condition: Callable[[], bool], worker: subprocess.Popen[bytes], log: Path) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 180
    while not condition():
        assert worker.poll() is None, _tail(log)
        assert loop.time() < deadline, _tail(log)
        await asyncio.sleep(0.02)


async def _wait_done(
    http: httpx.AsyncClient, headers: dict[str, str], send_id: str, log: Path
) -> dict[str, object]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 300
    while True:
        status: dict[str, object] = (await http.get(f"/v1/sends/{send_id}", headers=headers)).json()
        if status["status"] == "done":
            return status
        assert loop.time() < deadline, (status, _tail(log))
        await asyncio.sleep(0.2)
