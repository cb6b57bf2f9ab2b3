"""The measured scenarios: each starts its own sink, Clarion and database, and returns figures."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import load
from bench.harness import add_ios_devices, device_token
from bench.procs import cpu_seconds, peak_rss_mb
from bench.server import APP_ID, Clarion, fresh_database, running_clarion
from bench.sink import Sink, running_sink
from clarion.emulators.tls import TlsFiles

Figures = dict[str, float]
END_TIMEOUT = 600.0
#: Most recipients one send may name.
MAX_RECIPIENTS = 10_000


@dataclass(frozen=True)
class Rig:
    """What every scenario runs on: a scratch directory, the sink binary, TLS files, CPUs."""

    workdir: Path
    sink_binary: Path
    tls: TlsFiles
    clarion_cpu: int = 0
    sink_cpu: int = 1


@asynccontextmanager
async def stack(
    rig: Rig,
    database: str,
    devices: int,
    workers: bool = True,
    log: bool = False,
    worker_processes: int = 0,
) -> AsyncIterator[tuple[Clarion, Sink]]:
    """A fresh database, a sink and `clarion serve` with `devices` iOS installations."""
    async with fresh_database(database, rig.workdir) as url:
        with running_sink(rig.sink_binary, rig.tls, rig.workdir, rig.sink_cpu, log) as sink:
            async with running_clarion(
                rig.workdir,
                url,
                sink.url,
                rig.tls.ca_file,
                rig.clarion_cpu,
                workers,
                worker_processes,
            ) as clarion:
                await add_ios_devices(url, APP_ID, devices)
                yield clarion, sink


async def _check_all_sent(sink: Sink, expected: int) -> None:
    # The count file trails the sink by up to 100 ms.
    await asyncio.sleep(0.2)
    if sink.count() < expected:
        raise RuntimeError(f"the sink saw {sink.count()} requests, {expected} expected")


async def big_send(rig: Rig, database: str, tokens: int, worker_processes: int = 0) -> Figures:
    """One send to `tokens` iOS devices: notifications/s and Clarion CPU ms per notification.

    With `worker_processes`, separate `clarion worker` processes deliver (CPU is theirs
    and the API's together).
    """
    running = stack(rig, database, tokens, worker_processes=worker_processes)
    async with running as (clarion, sink), load.session(4) as http:
        # A send names at most MAX_RECIPIENTS devices: more tokens make several sends.
        bodies: list[dict[str, Any]] = [
            {
                "recipients": {
                    "installation_ids": [
                        f"bench-{i}" for i in range(first, min(tokens, first + MAX_RECIPIENTS))
                    ]
                },
                "content": {"title": "Bench", "body": "Hello"},
            }
            for first in range(0, tokens, MAX_RECIPIENTS)
        ]
        cpu, started = clarion.cpu_seconds(), time.perf_counter()
        await load.closed_loop(
            http, clarion.base_url, clarion.headers, bodies.__getitem__, len(bodies), len(bodies)
        )
        if not await load.wait_until_ended(http, clarion.base_url, clarion.headers, END_TIMEOUT):
            raise RuntimeError("the send did not end in time")
        seconds, cpu = time.perf_counter() - started, clarion.cpu_seconds() - cpu
        await _check_all_sent(sink, tokens)
    return {"per_s": tokens / seconds, "cpu_ms": 1000 * cpu / tokens}


async def one_token_sends(rig: Rig, database: str, sends: int, clients: int = 100) -> Figures:
    """`sends` one-device sends from `clients` clients, accept to every outcome recorded."""
    async with stack(rig, database, sends) as (clarion, sink), load.session(clients) as http:
        cpu, started = cpu_seconds(clarion.pid), time.perf_counter()
        await load.closed_loop(
            http, clarion.base_url, clarion.headers, load.one_token_send, clients, sends
        )
        if not await load.wait_until_ended(http, clarion.base_url, clarion.headers, END_TIMEOUT):
            raise RuntimeError("the sends did not end in time")
        seconds, cpu = time.perf_counter() - started, cpu_seconds(clarion.pid) - cpu
        await _check_all_sent(sink, sends)
    return {"per_s": sends / seconds, "cpu_ms": 1000 * cpu / sends}


async def accept_rate(rig: Rig, workers: bool, seconds: float, clients: int = 50) -> Figures:
    """Sends accepted per second by `clients` clients for `seconds`, with latency percentiles."""
    devices = 10_000

    def body(index: int) -> dict[str, Any]:
        return load.one_token_send(index % devices)

    running = stack(rig, "sqlite", devices, workers)
    async with running as (clarion, _), load.session(clients) as http:
        cpu, started = cpu_seconds(clarion.pid), time.perf_counter()
        latencies = await load.closed_loop(
            http, clarion.base_url, clarion.headers, body, clients, seconds=seconds
        )
        elapsed, cpu = time.perf_counter() - started, cpu_seconds(clarion.pid) - cpu
    per_s = len(latencies) / elapsed
    cpu_ms = 1000 * cpu / max(len(latencies), 1)
    return {"per_s": per_s, "cpu_ms": cpu_ms, **load.latency_summary(latencies)}


async def steady_latency(rig: Rig, rate: float, seconds: float) -> Figures:
    """Accept → provider latency of one-device sends posted at a steady `rate` per second."""
    devices = int(rate * seconds)
    running = stack(rig, "sqlite", devices, log=True)
    async with running as (clarion, sink), load.session(400) as http:
        posted = await load.steady_rate(
            http, clarion.base_url, clarion.headers, load.one_token_send, rate, seconds
        )
        ended = await load.wait_until_ended(http, clarion.base_url, clarion.headers, 120)
        await asyncio.sleep(0.2)
        arrivals = sink.arrivals()
    latencies = [
        arrivals[device_token(i)] - at for i, at in posted.items() if device_token(i) in arrivals
    ]
    missing = len(posted) - len(latencies)
    if missing and ended:
        raise RuntimeError(f"{missing} sends ended without reaching the sink")
    # The rate the provider was reached at: below `rate` when Clarion falls behind.
    span = max(arrivals.values(), default=0.0) - min(posted.values())
    reached = len(latencies) / span if span > 0 else 0.0
    return {**load.latency_summary(latencies), "missing": float(missing), "reached_per_s": reached}


async def _accept_probe(
    http: Any, clarion: Clarion, stop: asyncio.Event, every: float = 0.2
) -> list[float]:
    """One-device sends posted one after another while `stop` is unset; their accept latencies.

    They show whether planning leaves SQLite's single writer to the API.
    """
    latencies: list[float] = []
    url = f"{clarion.base_url}/v1/sends"
    index = 0
    while not stop.is_set():
        started = time.perf_counter()
        async with http.post(url, json=load.one_token_send(index), headers=clarion.headers) as r:
            if r.status != 201:
                raise RuntimeError(f"send refused during the broadcast: {r.status}")
        latencies.append(time.perf_counter() - started)
        index += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
    return latencies


async def _open_status(http: Any, clarion: Clarion, send_id: str) -> str | None:
    """The send's status while it is open, None once it has ended.

    Read from the send lists, not from the send's own page, whose delivery counts cost a
    scan of its deliveries (most of a second at a million): polled twice a second they
    would take a core from the process being measured.
    """
    for status in load.OPEN_STATUSES:
        url = f"{clarion.base_url}/v1/sends?status={status}&limit=100"
        page = await load.get_json(http, url, clarion.headers)
        if any(send["id"] == send_id for send in page["data"]):
            return status
    return None


async def broadcast(rig: Rig, devices: int, time_limit: float) -> Figures:
    """`audience: all` to `devices` on SQLite: plan and deliver times, rate, peak RSS."""
    async with stack(rig, "sqlite", devices) as (clarion, sink), load.session(4) as http:
        rss_before = peak_rss_mb(clarion.pid)
        body = {"audience": {"all": True}, "content": {"title": "Bench", "body": "Hello"}}
        started = time.perf_counter()
        url = f"{clarion.base_url}/v1/sends"
        async with http.post(url, json=body, headers=clarion.headers) as reply:
            send_id = (await reply.json())["id"]
        planning = asyncio.Event()
        probe = asyncio.create_task(_accept_probe(http, clarion, planning))
        planned = 0.0
        while time.perf_counter() - started < time_limit:
            await asyncio.sleep(0.5)
            now = await _open_status(http, clarion, send_id)
            if not planned and now in ("delivering", None):
                planned = time.perf_counter() - started
                planning.set()
            if now is None:
                break
        planning.set()
        accepts = await probe
        status = await load.get_json(http, f"{url}/{send_id}", clarion.headers)
        finished = time.perf_counter() - started
        if status.get("status") != "done":
            async with http.post(f"{url}/{send_id}/cancel", headers=clarion.headers):
                pass
            raise RuntimeError(f"the broadcast did not end within {time_limit:.0f} s: {status}")
        await _check_all_sent(sink, devices)
        rss = peak_rss_mb(clarion.pid)
    return {
        "plan_s": planned,
        "deliver_s": finished - planned,
        "per_s": devices / finished,
        "rss_before_mb": rss_before,
        "peak_rss_mb": rss,
        # Sends accepted one after another while the broadcast was being planned.
        "accept_max_ms": 1000 * max(accepts, default=0.0),
        **load.latency_summary(accepts),
    }
