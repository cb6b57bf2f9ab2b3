"""Clarion as users run it: `clarion serve` in its own pinned process, configured by its API."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bench.procs import cpu_seconds, free_port, pinned, spawn, stop

ADMIN_KEY = "bench-admin-key-0123456789abcdef0123456789"
PROJECT, APP_ID = "bench", "bench-app"
PG_ADMIN = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
START_SECONDS = 60.0
#: What `clarion worker` logs once its workers take jobs.
WORKER_STARTED = b"delivery workers started"


@dataclass(frozen=True)
class Clarion:
    """A running `clarion serve` with one project and one APNs app pointed at the sink."""

    base_url: str
    headers: dict[str, str]
    pid: int
    database_url: str
    #: Every Clarion process: serve, then the worker processes if any.
    pids: tuple[int, ...] = ()

    def cpu_seconds(self) -> float:
        """CPU seconds used so far by every Clarion process of the run."""
        return sum(cpu_seconds(pid) for pid in (self.pids or (self.pid,)))


@asynccontextmanager
async def fresh_database(kind: str, workdir: Path) -> AsyncIterator[str]:
    """An empty SQLite file or PostgreSQL database, removed afterwards."""
    if kind == "sqlite":
        path = workdir / f"clarion-{uuid.uuid4().hex[:8]}.db"
        yield f"sqlite+aiosqlite:///{path}"
        await asyncio.to_thread(_remove_sqlite, path)
        return
    name = f"clarion_bench_{uuid.uuid4().hex[:10]}"
    await _pg_admin(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    finally:
        await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _pg_admin(statement: str) -> None:
    engine = create_async_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


def _remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return spawn(command, env=env, stdout=out, stderr=subprocess.STDOUT)


def _provider_key_pem() -> str:
    # The sink never checks the provider token, but Clarion signs one with a real ES256 key.
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


async def _wait_healthy(http: httpx.AsyncClient, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"clarion serve exited with {process.returncode}")
        try:
            if (await http.get("/healthz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError("clarion serve did not become healthy in time")


async def _wait_worker_started(process: subprocess.Popen[bytes], log: Path) -> None:
    # A worker still importing when the sends arrive would have its start-up counted as
    # delivery time (and its CPU as delivery CPU).
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"clarion worker exited with {process.returncode}")
        if WORKER_STARTED in await asyncio.to_thread(log.read_bytes):
            return
        await asyncio.sleep(0.1)
    raise RuntimeError("clarion worker did not start in time")


async def _configure(http: httpx.AsyncClient, sink_url: str) -> dict[str, str]:
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    reply = await http.post("/v1/projects", json={"id": PROJECT, "name": "Bench"}, headers=admin)
    reply.raise_for_status()
    headers = admin | {"Clarion-Project": PROJECT}
    reply = await http.post("/v1/apps", json={"id": APP_ID, "name": "Bench"}, headers=headers)
    reply.raise_for_status()
    credentials = {
        "team_id": "BENCHTEAM1",
        "key_id": "BENCHKEY01",
        "private_key": _provider_key_pem(),
        "topic": "com.example.bench",
        "endpoint": sink_url,
    }
    reply = await http.put(f"/v1/apps/{APP_ID}/providers/apns", json=credentials, headers=headers)
    reply.raise_for_status()
    return headers


@asynccontextmanager
async def running_clarion(
    workdir: Path,
    database_url: str,
    sink_url: str,
    ca_file: Path,
    cpu: int,
    workers: bool = True,
    worker_processes: int = 0,
) -> AsyncIterator[Clarion]:
    """`clarion serve` pinned to `cpu`, its app sending to the sink; always stopped after.

    With `worker_processes`, serve only answers the API and that many `clarion worker`
    processes deliver, the n-th pinned to CPU n modulo the machine's CPUs.
    """
    port = free_port()
    env = os.environ | {
        "CLARION_DATABASE_URL": database_url,
        "CLARION_VAR_DIR": str(workdir / "var"),
        "CLARION_ADMIN_KEY": ADMIN_KEY,
        "CLARION_SECRET_KEY": "bench-secret-key-0123456789abcdef",
        "CLARION_EXTRA_CA_FILE": str(ca_file),
        "CLARION_OUTBOUND_ALLOWLIST": "127.0.0.1",
        "CLARION_INPROCESS_WORKERS": "true" if workers and not worker_processes else "false",
        # The per-key request limit would cap the accept rate being measured.
        "CLARION_RATE_LIMIT": "",
    }
    clarion = str(Path(sys.executable).with_name("clarion"))
    command = pinned(cpu, [clarion, "serve", "--host", "127.0.0.1", "--port", str(port)])
    process = _spawn(command, env, workdir / f"clarion-{port}.log")
    base_url = f"http://127.0.0.1:{port}"
    helpers: list[subprocess.Popen[bytes]] = []
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            await _wait_healthy(http, process)
            headers = await _configure(http, sink_url)
        cpus = os.cpu_count() or 1
        logs = [
            workdir / f"clarion-{port}-worker{number}.log" for number in range(worker_processes)
        ]
        for number, log in enumerate(logs):
            worker = pinned(number % cpus, [clarion, "worker"])
            helpers.append(_spawn(worker, env, log))
        for helper, log in zip(helpers, logs, strict=True):
            await _wait_worker_started(helper, log)
        pids = (process.pid, *(helper.pid for helper in helpers))
        yield Clarion(base_url, headers, process.pid, database_url, pids)
    finally:
        for helper in helpers:
            stop(helper)
        stop(process)
