"""A worker process for the crash tests: logs each job id to a file, then marks it done.

A job whose payload has `hang_in` equal to the owner never finishes in that worker.

Usage: python worker_process.py DATABASE_URL LOG_FILE OWNER LEASE_SECONDS CONCURRENCY WORK_SECONDS
The log file exists as soon as the worker is about to start. It runs until SIGTERM
(graceful stop) or until it is killed.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from clarion import eventloop
from clarion.queue.models import HandlerResult, Job
from clarion.queue.sql import SqlJobQueue
from clarion.queue.worker import Worker
from clarion.store.engine import create_engine


async def main(
    url: str, log_path: str, owner: str, lease_seconds: float, concurrency: int, work: float
) -> None:
    """Run one worker until SIGTERM."""
    engine = create_engine(url)
    queue = SqlJobQueue(engine, sqlite_poll_seconds=0.05)
    log_fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    async def deliver(job: Job) -> HandlerResult:
        # One write() per line with O_APPEND: lines from two processes never interleave.
        os.write(log_fd, f"{job.id}\n".encode())
        # A job marked for this owner hangs, so a test knows one job is in flight at a kill.
        await asyncio.sleep(3600 if job.payload.get("hang_in") == owner else work)
        return HandlerResult.done()

    worker = Worker(
        queue,
        {"crash.test": deliver},
        owner=owner,
        concurrency=concurrency,
        lease_seconds=lease_seconds,
        idle_seconds=0.2,
    )
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, lambda: asyncio.ensure_future(worker.stop(grace=5)))
    await worker.run()
    await queue.close()
    await engine.dispose()
    os.close(log_fd)


if __name__ == "__main__":
    url, log_path, owner, lease, concurrency, work = sys.argv[1:7]
    eventloop.run(main(url, log_path, owner, float(lease), int(concurrency), float(work)))
