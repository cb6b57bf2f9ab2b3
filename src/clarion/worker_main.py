"""A worker process: the delivery runtime without the HTTP API, stopped by SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal

from clarion.config import Settings
from clarion.pipeline.runtime import DeliveryRuntime
from clarion.queue.sql import SqlJobQueue
from clarion.store.engine import create_engine
from clarion.store.migrate import upgrade
from clarion.store.secrets import SecretBox, load_or_create_secret


async def run_worker(settings: Settings) -> None:
    """Run until a stop signal: jobs in flight finish or go back to the queue."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    engine = create_engine(settings.effective_database_url)
    await upgrade(engine)
    queue = SqlJobQueue(engine, max_attempts=settings.job_max_attempts)
    secrets = SecretBox(load_or_create_secret(settings.secret_key, settings.var_dir))
    runtime = DeliveryRuntime.from_settings(settings, engine, queue, secrets)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    runtime.start()
    try:
        await stop.wait()
    finally:
        await runtime.stop()
        await queue.close()
        await engine.dispose()
