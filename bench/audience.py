"""Broadcast to a large audience: planning and delivery of `audience: all` to N iOS devices.

Bulk-inserts N installations (executemany in chunks), then sends one broadcast with
`{"audience": {"all": true}}` through Clarion (API and in-process workers, one process)
to the APNs emulator (its own process). Reports the time to plan (accepted until every
delivery row and job exists), the time to deliver (until the last outcome),
notifications/s, and Clarion's peak RSS. Each size runs in a fresh process, so the
peak RSS of a small and a large audience can be compared: the planner pages through
the audience, so memory should not grow with N. A run longer than the time limit is
cancelled politely and reported as partial. Writes the "## Broadcast to a large
audience" section of BENCHMARKS.md.

    .venv/bin/python -m bench.audience [--devices 1000000] [--devices 100000] [--database URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.emulator_apns import start_emulator
from bench.harness import APP_ID, add_ios_devices, clarion_for_emulator, replace_section
from clarion import eventloop

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## Broadcast to a large audience"
ADMIN_KEY = "bench-admin-key-0123456789abcdef0123456789"
TEAM, KEY_ID, TOPIC = "BENCHTEAM2", "BENCHKEY02", "com.example.bench"
INSERT_CHUNK = 10_000
TIME_LIMIT_SECONDS = 15 * 60.0
POLL_SECONDS = 2.0


@dataclass(frozen=True)
class Measure:
    """One broadcast run."""

    devices: int
    database: str
    insert_seconds: float
    plan_seconds: float | None
    deliver_seconds: float
    sent: int
    peak_rss_mb: float
    rss_before_send_mb: float
    complete: bool

    @property
    def per_second(self) -> float:
        """Notifications per wall-clock second, accept to last outcome (or to the stop)."""
        return self.sent / self.deliver_seconds if self.deliver_seconds else 0.0


def _rss_mb() -> float:
    # ru_maxrss is in kilobytes on Linux: the high-water mark of this process.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _broadcast(
    urls: dict[str, str], state: Path, database_url: str, count: int, time_limit: float
) -> Measure:
    async with clarion_for_emulator(urls, state, database_url, http_timeout=300) as clarion:
        http, headers = clarion.http, clarion.headers
        inserted = time.perf_counter()
        await add_ios_devices(database_url, APP_ID, count, INSERT_CHUNK)
        insert_seconds = time.perf_counter() - inserted
        rss_before = _rss_mb()
        started = time.perf_counter()
        body = {"audience": {"all": True}, "content": {"title": "Bench", "body": "Hello"}}
        reply = await http.post("/v1/sends", json=body, headers=headers)
        reply.raise_for_status()
        send_id = reply.json()["id"]
        planned_at: float | None = None
        complete = False
        while True:
            await asyncio.sleep(POLL_SECONDS)
            status = (await http.get(f"/v1/sends/{send_id}", headers=headers)).json()
            now = time.perf_counter()
            if planned_at is None and status["status"] in ("delivering", "done"):
                planned_at = now
            if status["status"] == "done":
                complete = True
                break
            if now - started > time_limit:
                # Stop politely: what was not handed to the emulator yet is cancelled.
                status = (await http.post(f"/v1/sends/{send_id}/cancel", headers=headers)).json()
                break
        deliver_seconds = time.perf_counter() - started
    sent = int(status["counts"]["sent"])
    if complete and sent != count:
        raise RuntimeError(f"{sent} of {count} devices were sent to: {status}")
    return Measure(
        count,
        "PostgreSQL" if database_url.startswith("postgresql") else "SQLite",
        insert_seconds,
        planned_at - started if planned_at is not None else None,
        deliver_seconds,
        sent,
        _rss_mb(),
        rss_before,
        complete,
    )


async def measure_here(count: int, database_url: str | None, time_limit: float) -> Measure:
    """Run one size in this process (its peak RSS is this process's)."""
    with tempfile.TemporaryDirectory() as scratch:
        state = Path(scratch)
        url = database_url or f"sqlite+aiosqlite:///{state / 'bench.db'}"
        if url.startswith("postgresql"):
            url = await _fresh_pg_database(url)
        process, urls = await start_emulator(state)
        try:
            return await _broadcast(urls, state, url, count, time_limit)
        finally:
            process.send_signal(signal.SIGINT)
            await asyncio.wait_for(process.wait(), 60)


async def _fresh_pg_database(url: str) -> str:
    """A new database on the given server, so each run starts from an empty registry."""
    import asyncpg

    base, _, _ = url.replace("postgresql+asyncpg://", "postgresql://").rpartition("/")
    name = f"clarion_bench_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(f"{base}/postgres")
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return f"{base}/{name}".replace("postgresql://", "postgresql+asyncpg://")


def measure_in_child(count: int, database_url: str | None, time_limit: float) -> Measure:
    """Run one size in a fresh interpreter, so peak RSS belongs to that size alone."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        command = [
            sys.executable,
            "-m",
            "bench.audience",
            "--single",
            str(count),
            "--time-limit",
            str(time_limit),
            "--result",
            out.name,
        ]
        if database_url:
            command += ["--database", database_url]
        subprocess.run(command, check=True, cwd=ROOT)
        data: dict[str, Any] = json.loads(Path(out.name).read_text())
    return Measure(**data)


def write_section(results: list[Measure]) -> None:
    """Replace (or add) this benchmark's section of BENCHMARKS.md."""
    lines = [
        "",
        f"`python -m bench.audience` on {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()} on {eventloop.loop_name()}, "
        f"measured {time.strftime('%Y-%m-%d')}. One broadcast "
        '`{"audience": {"all": true}}` to N iOS installations (bulk-inserted beforehand), '
        "through Clarion (API, planner and in-process workers in one process) to the APNs "
        "emulator in a second process on the same 2 cores. `plan s` runs from the accepted "
        "send until every delivery row and job exists (the planner pages through the "
        "audience 1,000 installations per transaction, delivery starts with the first "
        "page); `deliver s` until the last outcome. `peak RSS` is Clarion's process "
        "high-water mark (`ru_maxrss`), each size in a fresh process; `RSS before send` is "
        "the same mark after the bulk insert, before the broadcast. A run reaching the time "
        "limit is cancelled and marked partial.",
        "",
        "| devices | database | insert s | plan s | deliver s | sent | notifications/s "
        "| RSS before send MB | peak RSS MB | complete |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        plan = f"{r.plan_seconds:.1f}" if r.plan_seconds is not None else "not finished"
        lines.append(
            f"| {r.devices:,} | {r.database} | {r.insert_seconds:.1f} | {plan} "
            f"| {r.deliver_seconds:.1f} | {r.sent:,} | {r.per_second:,.0f} "
            f"| {r.rss_before_send_mb:.0f} | {r.peak_rss_mb:.0f} "
            f"| {'yes' if r.complete else 'partial (time limit)'} |"
        )
    replace_section(SECTION, lines)


def main() -> None:
    """Parse options, measure each size in its own process, print and record."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--devices", type=int, action="append", help="audience size; repeatable")
    parser.add_argument("--database", default=None, help="database URL (default: SQLite)")
    parser.add_argument("--time-limit", type=float, default=TIME_LIMIT_SECONDS)
    parser.add_argument("--no-write", action="store_true", help="do not touch BENCHMARKS.md")
    parser.add_argument("--single", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.single is not None:
        result = eventloop.run(measure_here(options.single, options.database, options.time_limit))
        options.result.write_text(json.dumps(asdict(result)))
        return
    results = []
    for count in options.devices or [100_000, 1_000_000]:
        result = measure_in_child(count, options.database, options.time_limit)
        results.append(result)
        print(
            f"{result.devices:,} devices on {result.database}: "
            f"plan {result.plan_seconds or 0:.1f}s, "
            f"deliver {result.deliver_seconds:.1f}s, {result.sent:,} sent "
            f"({result.per_second:,.0f}/s), peak RSS {result.peak_rss_mb:.0f} MB"
            + ("" if result.complete else " [partial: time limit]"),
            flush=True,
        )
    if not options.no_write:
        write_section(results)


if __name__ == "__main__":
    main()
