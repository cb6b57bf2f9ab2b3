"""Throughput of the APNs emulator under a bare HTTP/2 client over TLS.

Starts `clarion emulate` in its own process, registers a provider key through the control
API, then sends N pushes over C connections with W streams in flight on each (W is capped at
the advertised MAX_CONCURRENT_STREAMS). Prints requests/s seen by the client and the
emulator's own CPU seconds per request (so its single-core capacity), and writes the
"## APNs emulator" section of BENCHMARKS.md at the repository root.

    .venv/bin/python -m bench.emulator_apns [--requests 30000] [--connections 1 2 4] [--window 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import jwt
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import (
    DataReceived,
    RemoteSettingsChanged,
    ResponseReceived,
    StreamEnded,
    StreamReset,
)

from bench.harness import replace_section
from clarion import eventloop
from clarion.emulators.tls import ensure_tls_files
from clarion.eventloop import stream_transport

SECTION = "## APNs emulator"
LAUNCH = (
    "import typer; from clarion.emulators.cli import emulate_command; typer.run(emulate_command)"
)
MAX_REQUESTS = 200_000
TIME_LIMIT_SECONDS = 120.0
TOPIC = "com.example.bench"
BODY = json.dumps({"aps": {"alert": {"title": "Bench", "body": "Hello"}}}).encode()


@dataclass(frozen=True)
class Result:
    """One measured run."""

    requests: int
    connections: int
    window: int
    seconds: float
    server_cpu_seconds: float
    statuses: dict[int, int]

    @property
    def per_second(self) -> float:
        """Requests per wall-clock second seen by the client."""
        return self.requests / self.seconds

    @property
    def server_capacity(self) -> float:
        """Requests per second of emulator CPU: its ceiling on one core."""
        return self.requests / self.server_cpu_seconds if self.server_cpu_seconds else 0.0


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds used so far by a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def start_emulator(state_dir: Path) -> tuple[asyncio.subprocess.Process, dict[str, str]]:
    """Run `clarion emulate` and read the URLs it prints."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", LAUNCH, "--state-dir", str(state_dir), stdout=asyncio.subprocess.PIPE
    )
    assert process.stdout is not None
    urls: dict[str, str] = {}
    for _ in range(6):
        line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
        match = re.match(r"^(\w+)\s+(https?://\S+)$", line.strip())
        if match:
            urls[match.group(1)] = match.group(2)
    return process, urls


async def provider_header(control_url: str) -> str:
    """Register a key through the control API and sign one provider token with it."""
    body = {"team_id": "BENCHTEAM1", "key_id": "BENCHKEY01", "topics": [TOPIC]}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{control_url}/_emulator/keys", json=body) as reply,
    ):
        pem = (await reply.json())["private_key"]
    token = jwt.encode(
        {"iss": "BENCHTEAM1", "iat": int(time.time())},
        pem,
        algorithm="ES256",
        headers={"kid": "BENCHKEY01"},
    )
    return f"bearer {token}"


class _Budget:
    """Requests still to send, shared by every connection."""

    def __init__(self, total: int, deadline: float) -> None:
        self.remaining = total
        self.deadline = deadline

    def take(self) -> bool:
        if self.remaining <= 0 or time.monotonic() > self.deadline:
            return False
        self.remaining -= 1
        return True


class _Driver(asyncio.Protocol):
    """Keeps `window` streams in flight on one connection, opening one as each one ends."""

    def __init__(
        self, headers: list[tuple[str, str]], window: int, budget: _Budget, statuses: Counter[int]
    ) -> None:
        self.conn = H2Connection(H2Configuration(client_side=True, header_encoding=None))
        self.headers = headers
        self.window = window
        self.budget = budget
        self.statuses = statuses
        self.in_flight = 0
        self.transport: asyncio.Transport | None = None
        self.done = asyncio.get_running_loop().create_future()
        self.ready = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        stream = stream_transport(transport)
        self.transport = stream
        self.conn.initiate_connection()
        stream.write(self.conn.data_to_send())

    def start(self) -> None:
        for _ in range(self.window):
            self._open()
        self._flush()

    def _open(self) -> None:
        if self.budget.take():
            stream_id = self.conn.get_next_available_stream_id()
            self.conn.send_headers(stream_id, self.headers)
            self.conn.send_data(stream_id, BODY, end_stream=True)
            self.in_flight += 1
        elif self.in_flight == 0 and not self.done.done():
            self.done.set_result(None)

    def _flush(self) -> None:
        if self.transport is not None:
            self.transport.write(self.conn.data_to_send())

    def data_received(self, data: bytes) -> None:
        for event in self.conn.receive_data(data):
            if isinstance(event, RemoteSettingsChanged) and not self.ready.done():
                self.ready.set_result(None)
            elif isinstance(event, ResponseReceived):
                self.statuses[int(dict(event.headers or [])[b":status"])] += 1
            elif isinstance(event, DataReceived):
                self.conn.acknowledge_received_data(
                    event.flow_controlled_length or 0, event.stream_id or 0
                )
            elif isinstance(event, StreamEnded | StreamReset):
                self.in_flight -= 1
                self._open()
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if not self.done.done():
            self.done.set_exception(ConnectionError(f"connection lost: {exc!r}"))


async def drive(
    port: int, state_dir: Path, authorization: str, total: int, connections: int, window: int
) -> tuple[float, dict[int, int], int]:
    """Send `total` pushes; returns wall seconds, status counts and the window used."""
    tls = ensure_tls_files(state_dir)
    headers = [
        (":method", "POST"),
        (":scheme", "https"),
        (":authority", "api.push.apple.com"),
        (":path", "/3/device/" + "ab" * 32),
        ("authorization", authorization),
        ("apns-topic", TOPIC),
        ("apns-push-type", "alert"),
    ]
    statuses: Counter[int] = Counter()
    budget = _Budget(total, time.monotonic() + TIME_LIMIT_SECONDS)
    loop = asyncio.get_running_loop()
    drivers: list[_Driver] = []
    for _ in range(connections):
        context = tls.client_context(alpn=["h2"])
        _, driver = await loop.create_connection(
            lambda: _Driver(headers, window, budget, statuses),
            "127.0.0.1",
            port,
            ssl=context,
            server_hostname="localhost",
        )
        await driver.ready
        advertised = driver.conn.remote_settings.max_concurrent_streams
        driver.window = min(window, advertised)
        drivers.append(driver)
    started = time.perf_counter()
    for driver in drivers:
        driver.start()
    await asyncio.gather(*(driver.done for driver in drivers))
    seconds = time.perf_counter() - started
    for driver in drivers:
        if driver.transport is not None:
            driver.conn.close_connection()
            driver._flush()
            driver.transport.close()
    return seconds, dict(statuses), drivers[0].window


def write_section(results: list[Result], load_average: float) -> None:
    """Replace (or add) the APNs emulator section of BENCHMARKS.md."""
    lines = [
        "",
        f"`bench/emulator_apns.py` on {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()} on {eventloop.loop_name()}, "
        f"measured {time.strftime('%Y-%m-%d')}. Bare `h2` client "
        "over TLS in one process, emulator in another; `emulator capacity` is requests per "
        "second of the emulator's own CPU time, its ceiling on one core. On 2 cores the "
        "client shares the machine with the emulator, so `client req/s` is bounded by the "
        "client as much as by the emulator; delivery benchmarks should be compared with "
        "the capacity column. Load average (1 min) when the run started: "
        f"{load_average:.2f}; anything else running on the machine lowers both columns.",
        "",
        "| requests | connections | streams in flight each | client req/s "
        "| emulator capacity req/s | statuses |",
        "|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        codes = ", ".join(f"{code}: {count}" for code, count in sorted(r.statuses.items()))
        lines.append(
            f"| {r.requests} | {r.connections} | {r.window} | {r.per_second:,.0f} "
            f"| {r.server_capacity:,.0f} | {codes} |"
        )
    replace_section(SECTION, lines)


async def main() -> None:
    """Parse options, run each configuration, print and record the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=30_000)
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--window", type=int, default=100)
    parser.add_argument("--no-write", action="store_true", help="do not touch BENCHMARKS.md")
    options = parser.parse_args()
    total = min(options.requests, MAX_REQUESTS)
    load_average = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as state:
        process, urls = await start_emulator(Path(state))
        try:
            authorization = await provider_header(urls["apns_control"])
            port = int(urls["apns"].rsplit(":", 1)[1])
            await drive(port, Path(state), authorization, 500, 1, options.window)  # warm-up
            results = []
            for connections in options.connections:
                before = cpu_seconds(process.pid)
                seconds, statuses, window = await drive(
                    port, Path(state), authorization, total, connections, options.window
                )
                used = cpu_seconds(process.pid) - before
                sent = sum(statuses.values())
                result = Result(
                    sent,
                    connections,
                    window,
                    seconds,
                    used,
                    {int(k): v for k, v in statuses.items()},
                )
                results.append(result)
                print(
                    f"{sent} requests, {connections} connection(s) x {window} streams: "
                    f"{result.per_second:,.0f} req/s (client side); emulator CPU "
                    f"{used:.2f} s -> {result.server_capacity:,.0f} req/s per core; {statuses}"
                )
        finally:
            process.send_signal(signal.SIGINT)
            await asyncio.wait_for(process.wait(), 30)
    if not options.no_write:
        write_section(results, load_average)


if __name__ == "__main__":
    eventloop.run(main())
