"""The native HTTP/2 sink (`sink/h2sink.c`): built with cc, run pinned, read by its files."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.procs import free_port, pinned, spawn, stop
from clarion.emulators.tls import TlsFiles

SOURCE = Path(__file__).resolve().parent / "sink" / "h2sink.c"


def build(workdir: Path) -> Path:
    """Compile the sink into `workdir`; the libraries come from `bench/setup.sh`."""
    binary = workdir / "h2sink"
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise RuntimeError("no C compiler: run bench/setup.sh")
    command = [compiler, "-O2", "-o", str(binary), str(SOURCE), "-lnghttp2", "-lssl", "-lcrypto"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"building the sink failed (run bench/setup.sh):\n{done.stderr}")
    return binary


@dataclass(frozen=True)
class Sink:
    """A running sink: where it listens and where it writes what it saw."""

    url: str
    pid: int
    count_file: Path
    log_file: Path | None

    def count(self) -> int:
        """Requests answered so far (the file is at most 100 ms behind)."""
        text = self.count_file.read_text().strip()
        return int(text) if text else 0

    def arrivals(self) -> dict[str, float]:
        """Wall-clock arrival of the first request for each device token."""
        seen: dict[str, float] = {}
        if self.log_file is None:
            return seen
        for line in self.log_file.read_text().splitlines():
            stamp, _, path = line.partition(" ")
            seen.setdefault(path.rsplit("/", 1)[-1], float(stamp))
        return seen


@contextmanager
def running_sink(
    binary: Path, tls: TlsFiles, workdir: Path, cpu: int, log: bool = False
) -> Iterator[Sink]:
    """Start the sink on 127.0.0.1 pinned to `cpu`; always stopped on the way out."""
    port = free_port()
    count_file = workdir / f"sink-{port}.count"
    log_file = workdir / f"sink-{port}.log" if log else None
    command = [str(binary), str(port), str(tls.cert_file), str(tls.key_file), str(count_file)]
    if log_file is not None:
        command.append(str(log_file))
    process = spawn(pinned(cpu, command), stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not count_file.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the sink did not start (exit {process.poll()})")
            time.sleep(0.02)
        yield Sink(f"https://127.0.0.1:{port}", process.pid, count_file, log_file)
    finally:
        stop(process)
