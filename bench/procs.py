"""Processes of a benchmark run: CPU and memory read from /proc, free ports, sure stops."""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
from collections.abc import Sequence
from typing import Any

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds a live process has used."""
    with open(f"/proc/{pid}/stat") as f:
        # The command name may hold spaces; the fields after its closing parenthesis do not.
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def peak_rss_mb(pid: int) -> float:
    """A live process's resident memory high-water mark, in MB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def spawn(command: Sequence[str], **options: Any) -> subprocess.Popen[bytes]:
    """Start a child that the kernel kills if the harness dies before stopping it."""
    prefix = ["setpriv", "--pdeathsig", "KILL"] if shutil.which("setpriv") else []
    return subprocess.Popen([*prefix, *command], **options)


def stop(process: subprocess.Popen[bytes], grace: float = 15) -> None:
    """SIGTERM the process, then SIGKILL it if it has not exited within `grace` seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def pinned(cpu: int, command: Sequence[str]) -> list[str]:
    """`command` run on one CPU only (when the machine has more than one)."""
    if (os.cpu_count() or 1) < 2:
        return list(command)
    return ["taskset", "-c", str(cpu), *command]


def percentile(values: Sequence[float], fraction: float) -> float:
    """The value below which `fraction` of `values` fall (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def median(values: Sequence[float]) -> float:
    """The median, for figures taken over several runs."""
    return float(statistics.median(values))
