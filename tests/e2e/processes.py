"""Clarion commands run as separate OS processes, the way the README starts them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

# The `clarion` executable the package installs next to this interpreter.
CLARION = str(Path(sys.executable).parent / "clarion")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_environment(**variables: str) -> dict[str, str]:
    """This process's environment without any CLARION_ setting, plus `variables`."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith("CLARION_")}
    return kept | variables


class ClarionProcess:
    """One running `clarion ...` command whose output goes to a log file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path, cwd: Path) -> None:
        self.log = log
        # A file, not a pipe: access logs must never fill a buffer nobody reads.
        with log.open("wb") as output:
            self.process = subprocess.Popen(
                [CLARION, *args], env=env, cwd=cwd, stdout=output, stderr=subprocess.STDOUT
            )

    def output(self) -> str:
        """Everything the process has printed so far."""
        return self.log.read_text(errors="replace")

    def wait_for(self, ready: Callable[[], bool], what: str, seconds: float = 15) -> None:
        """Poll `ready` until it holds; fail with the process output if it exits or times out."""
        deadline = time.monotonic() + seconds
        while not ready():
            if self.process.poll() is not None:
                raise AssertionError(f"{what}: process exited\n{self.output()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not ready after {seconds} s\n{self.output()}")
            time.sleep(0.05)

    def wait_http_ok(self, url: str, seconds: float = 15) -> None:
        """Wait until GET `url` answers 200."""

        def answers() -> bool:
            try:
                return httpx.get(url, timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        self.wait_for(answers, url, seconds)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if the process is still there after a few seconds."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
