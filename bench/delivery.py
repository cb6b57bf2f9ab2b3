"""Delivery throughput: notifications sent through Clarion to the APNs emulator.

Runs the APNs emulator in its own process and Clarion (API and in-process workers) in
this one, registers N iOS devices, sends to all of them through `POST /v1/sends` (10,000
recipients per send) and waits until every delivery has its outcome. Prints
notifications/s (accept to last outcome) and Clarion's CPU milliseconds per notification,
beside a bare `h2` client pushing the same number of requests to the same emulator, and
writes the "## Delivery through Clarion" section of BENCHMARKS.md.

    .venv/bin/python -m bench.delivery [--notifications 20000] [--database URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import signal
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.emulator_apns import cpu_seconds, drive, provider_header, start_emulator
from bench.harness import APP_ID, add_ios_devices, clarion_for_emulator, replace_section
from clarion import eventloop

SECTION = "## Delivery through Clarion"
PER_SEND = 10_000
MAX_NOTIFICATIONS = 200_000
TIME_LIMIT_SECONDS = 600.0


@dataclass(frozen=True)
class Measure:
    """One delivery run and its baseline."""

    notifications: int
    database: str
    seconds: float
    clarion_cpu: float
    emulator_cpu: float
    bare_per_second: float

    @property
    def per_second(self) -> float:
        """Notifications per wall-clock second, accept to last outcome."""
        return self.notifications / self.seconds

    @property
    def cpu_ms_each(self) -> float:
        """Clarion CPU milliseconds per notification (API, planner, workers, database driver)."""
        return 1000 * self.clarion_cpu / self.notifications


async def _deliver_through_clarion(
    urls: dict[str, str], state: Path, database_url: str, count: int
) -> tuple[float, float]:
    async with clarion_for_emulator(urls, state, database_url) as clarion:
        http, headers = clarion.http, clarion.headers
        await add_ios_devices(database_url, APP_ID, count)
        started_cpu = time.process_time()
        started = time.perf_counter()
        send_ids = []
        for first in range(0, count, PER_SEND):
            ids = [f"bench-{i}" for i in range(first, min(first + PER_SEND, count))]
            body = {
                "recipients": {"installation_ids": ids},
                "content": {"title": "Bench", "body": "Hello"},
            }
            reply = await http.post("/v1/sends", json=body, headers=headers)
            reply.raise_for_status()
            send_ids.append(reply.json()["id"])
        deadline = started + TIME_LIMIT_SECONDS
        for send_id in send_ids:
            while True:
                status = (await http.get(f"/v1/sends/{send_id}", headers=headers)).json()
                if status["status"] == "done":
                    if status["counts"]["sent"] != status["counts"]["targeted"]:
                        raise RuntimeError(f"not every device was sent to: {status}")
                    break
                if time.perf_counter() > deadline:
                    raise RuntimeError(f"gave up waiting: {status}")
                await asyncio.sleep(0.05)
        return time.perf_counter() - started, time.process_time() - started_cpu


async def measure(count: int, database_url: str | None) -> Measure:
    """Run Clarion's delivery and the bare client against one emulator process."""
    with tempfile.TemporaryDirectory() as scratch:
        state = Path(scratch)
        url = database_url or f"sqlite+aiosqlite:///{state / 'bench.db'}"
        process, urls = await start_emulator(state)
        try:
            emulator_before = cpu_seconds(process.pid)
            seconds, clarion_cpu = await _deliver_through_clarion(urls, state, url, count)
            emulator_cpu = cpu_seconds(process.pid) - emulator_before
            authorization = await provider_header(urls["apns_control"])
            port = int(urls["apns"].rsplit(":", 1)[1])
            bare_seconds, statuses, _ = await drive(port, state, authorization, count, 1, 100)
        finally:
            process.send_signal(signal.SIGINT)
            await asyncio.wait_for(process.wait(), 30)
    backend = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    bare = sum(statuses.values()) / bare_seconds
    return Measure(count, backend, seconds, clarion_cpu, emulator_cpu, bare)


def write_section(results: list[Measure]) -> None:
    """Replace (or add) this benchmark's section of BENCHMARKS.md."""
    lines = [
        "",
        f"`python -m bench.delivery` on {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()} on {eventloop.loop_name()}, "
        f"measured {time.strftime('%Y-%m-%d')}. Clarion (API, "
        "planner and in-process workers, one process) sends to N iOS devices through "
        "`POST /v1/sends`; the APNs emulator runs in a second process on the same 2 cores. "
        "`notifications/s` runs from the first accepted send to the last recorded outcome; "
        "`CPU ms each` is Clarion's own CPU per notification. `bare h2 req/s` is a minimal "
        "HTTP/2 client pushing the same count to the same emulator: the ceiling the "
        "machine allows without any platform work.",
        "",
        "| notifications | database | notifications/s | Clarion CPU ms each "
        "| emulator CPU s | bare h2 req/s |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.notifications} | {r.database} | {r.per_second:,.0f} | {r.cpu_ms_each:.2f} "
            f"| {r.emulator_cpu:.1f} | {r.bare_per_second:,.0f} |"
        )
    replace_section(SECTION, lines)


async def main() -> None:
    """Parse options, measure on each database, print and record."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--notifications", type=int, default=20_000)
    parser.add_argument("--database", action="append", default=None, help="URL; repeatable")
    parser.add_argument("--no-write", action="store_true", help="do not touch BENCHMARKS.md")
    options = parser.parse_args()
    count = min(options.notifications, MAX_NOTIFICATIONS)
    results = []
    for database in options.database or [None]:
        result = await measure(count, database)
        results.append(result)
        print(
            f"{result.notifications} notifications on {result.database}: "
            f"{result.per_second:,.0f}/s through Clarion, {result.cpu_ms_each:.2f} ms CPU each; "
            f"bare h2 client {result.bare_per_second:,.0f} req/s"
        )
    if not options.no_write:
        write_section(results)


if __name__ == "__main__":
    eventloop.run(main())
