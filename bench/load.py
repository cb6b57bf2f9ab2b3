"""Load on Clarion's API: concurrent clients, a steady rate, and waiting for sends to end."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from bench.procs import percentile

OPEN_STATUSES = ("accepted", "planning", "delivering")
Body = Callable[[int], dict[str, Any]]


def one_token_send(index: int) -> dict[str, Any]:
    """A send to the single device bench-`index`."""
    return {
        "recipients": {"installation_ids": [f"bench-{index}"]},
        "content": {"title": "Bench", "body": f"Hello {index}"},
    }


def session(clients: int) -> aiohttp.ClientSession:
    """An HTTP client keeping up to `clients` connections to Clarion."""
    connector = aiohttp.TCPConnector(limit=clients, limit_per_host=clients)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60))


async def _post(http: aiohttp.ClientSession, url: str, headers: dict[str, str], body: Any) -> None:
    async with http.post(url, json=body, headers=headers) as reply:
        if reply.status != 201:
            raise RuntimeError(f"send refused: {reply.status} {await reply.text()}")
        await reply.read()


async def closed_loop(
    http: aiohttp.ClientSession,
    base_url: str,
    headers: dict[str, str],
    body: Body,
    clients: int,
    count: int | None = None,
    seconds: float | None = None,
) -> list[float]:
    """`clients` clients posting sends back to back, `count` in all or for `seconds`; latencies."""
    numbers = itertools.count()
    latencies: list[float] = []
    deadline = time.perf_counter() + (seconds if seconds is not None else 3600)
    url = f"{base_url}/v1/sends"

    async def client() -> None:
        while time.perf_counter() < deadline:
            index = next(numbers)
            if count is not None and index >= count:
                return
            started = time.perf_counter()
            await _post(http, url, headers, body(index))
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies


async def steady_rate(
    http: aiohttp.ClientSession,
    base_url: str,
    headers: dict[str, str],
    body: Body,
    rate: float,
    seconds: float,
) -> dict[int, float]:
    """Post one send every 1/`rate` s for `seconds`; the wall-clock time each was posted."""
    posted: dict[int, float] = {}
    tasks = []
    started = time.perf_counter()
    url = f"{base_url}/v1/sends"
    for index in range(int(rate * seconds)):
        # Keep to the schedule even when replies are slow: that is the point of an open loop.
        await asyncio.sleep(max(0.0, started + index / rate - time.perf_counter()))
        posted[index] = time.time()
        tasks.append(asyncio.create_task(_post(http, url, headers, body(index))))
    await asyncio.gather(*tasks)
    return posted


async def get_json(http: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> Any:
    """GET a JSON page, retried when the server has just closed an idle kept-alive connection."""
    for attempt in range(3):
        try:
            async with http.get(url, headers=headers) as reply:
                reply.raise_for_status()
                return await reply.json()
        except (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError):
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


async def wait_until_ended(
    http: aiohttp.ClientSession, base_url: str, headers: dict[str, str], limit_seconds: float
) -> bool:
    """Wait until no send of the project is still open; False when `limit_seconds` ran out first."""
    deadline = time.perf_counter() + limit_seconds
    while time.perf_counter() < deadline:
        still_open = False
        for status in OPEN_STATUSES:
            page = await get_json(http, f"{base_url}/v1/sends?status={status}&limit=1", headers)
            if page["data"]:
                still_open = True
                break
        if not still_open:
            return True
        await asyncio.sleep(0.05)
    return False


def latency_summary(latencies: list[float]) -> dict[str, float]:
    """p50 and p99 in milliseconds."""
    if not latencies:
        return {"p50_ms": float("nan"), "p99_ms": float("nan")}
    return {
        "p50_ms": 1000 * percentile(latencies, 0.5),
        "p99_ms": 1000 * percentile(latencies, 0.99),
    }
