"""A worker process: the delivery runtime without the HTTP API, stopped by SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal

from prometheus_client import start_http_server

from clarion.config import Settings
from clarion.delivery.runtime import DeliveryRuntime
from clarion.queue.sql import SqlJobQueue
from clarion.store.engine import create_engine
from clarion.store.migrate import upgrade
from clarion.store.secret_check import SecretHealth
from clarion.store.secrets import SecretBox, load_or_create_secret


async def run_worker(settings: Settings) -> None:
    """Run until a stop signal: jobs in flight finish or go back to the queue."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    engine = create_engine(settings.effective_database_url)
    await upgrade(engine)
    queue = SqlJobQueue(engine, max_attempts=settings.job_max_attempts)
    secrets = SecretBox(load_or_create_secret(settings.secret_key, settings.var_dir))
    # Logged at ERROR at start; the deliveries of such an app then fail with the reason.
    secret_health = SecretHealth(engine, secrets)
    await secret_health.start()
    runtime = DeliveryRuntime.from_settings(settings, engine, queue, secrets, secret_health)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    runtime.start()
    if settings.metrics_port:
        # A plain exposition server: the delivery metrics live in this process.
        start_http_server(settings.metrics_port, addr=settings.host)
    # Said once the stop signals are handled, so whoever started us knows it may stop us.
    logging.getLogger(__name__).info(
        "delivery workers started (%d jobs at once)", settings.worker_concurrency
    )
    try:
        await stop.wait()
    finally:
        await runtime.stop()
        await queue.close()
        await engine.dispose()
