"""The event loop Clarion runs on: uvloop in every process, and in this test suite."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from pathlib import Path

import uvloop

from clarion import eventloop
from tests.e2e.processes import CLARION, clean_environment


async def _running_loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


def test_run_uses_uvloop_when_it_is_installed() -> None:
    assert eventloop.loop_name() == "uvloop"
    assert isinstance(eventloop.run(_running_loop()), uvloop.Loop)


async def test_the_suite_runs_on_the_production_loop() -> None:
    assert isinstance(asyncio.get_running_loop(), uvloop.Loop)


def test_worker_process_runs_on_uvloop_and_stops_on_sigterm(tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    database = f"sqlite+aiosqlite:///{tmp_path / 'clarion.db'}"
    with log.open("wb") as output:
        worker = subprocess.Popen(
            [CLARION, "worker", "--database", database],
            env=clean_environment(CLARION_VAR_DIR=str(tmp_path / "var")),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 15
        while "delivery workers started" not in log.read_text():
            assert worker.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        assert "event loop: uvloop" in log.read_text()
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=10) == 0, log.read_text()
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
