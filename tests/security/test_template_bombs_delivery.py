"""Template bombs at delivery time and their effect on the rest of the server.

A bomb that only goes off with a recipient's data passes the door; at delivery it
becomes that device's error outcome, once, and the send ends. And no bomb, however
many are in flight, holds the event loop or grows the process noticeably.
"""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import time
from collections.abc import Coroutine
from typing import Any

from tests.delivery_env import DeliveryEnv

_PAGE = os.sysconf("SC_PAGE_SIZE")


def resident_bytes() -> int:
    """The resident set size of this process now."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * _PAGE


class RssSampler(threading.Thread):
    """Samples the resident set size every few milliseconds and keeps the highest."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.baseline = resident_bytes()
        self.peak = self.baseline
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.003):
            self.peak = max(self.peak, resident_bytes())


async def test_a_bomb_going_off_at_delivery_is_that_devices_error_and_the_send_ends(
    env: DeliveryEnv,
) -> None:
    for name, n in (("bomber", 200_000), ("reader", 3)):
        answer = await env.http.put(
            f"/v1/contacts/{name}", json={"attributes": {"n": n}}, headers=env.headers
        )
        assert answer.status_code in (200, 201), answer.text
        await env.ios(f"{name}-phone", external_id=name)
    body = "{{ (1..contact.attributes.n) | join: ',' | size }} characters"
    send_id = await env.send(
        {"recipients": {"external_ids": ["bomber", "reader"]}, "content": {"body": body}}
    )
    send = await env.wait_done(send_id, seconds=60)
    assert send["status"] == "done"
    trail = {d["installation_id"]: d for d in await env.deliveries(send_id)}
    bomber, reader = trail["bomber-phone"], trail["reader-phone"]
    assert (bomber["outcome"], bomber["provider_reason"]) == ("error", "RENDER_FAILED"), bomber
    assert bomber["attempts"] == 1 and bomber["completed_at"]
    assert reader["outcome"] == "sent", reader
    [request] = [d for d in env.emulators.apns.deliveries]
    assert request.payload["aps"]["alert"]["body"] == "5 characters"


def percentile(values: list[float], share: float) -> float:
    """The value below which `share` of the sorted values lie."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def test_bombs_in_flight_neither_hold_the_event_loop_nor_grow_the_process(
    env: DeliveryEnv,
) -> None:
    await env.ios("bomb-phone")
    recipient = {"app_id": env.app_id, "installation_id": "bomb-phone"}
    memory = "{{ (1..3000000) | join: ',' | size }}"
    slow = (
        "{% capture s %}{% for i in (1..400) %}ab{% endfor %}{% endcapture %}"
        + "{% for i in (1..1000) %}{% assign t = s | upcase | downcase | escape %}{% endfor %}" * 40
    )
    bombs = [memory, slow] * 3

    async def bomb(template: str) -> Any:
        body = {"recipient": recipient, "content": {"body": template}}
        return await env.http.post("/v1/sends/preview", json=body, headers=env.headers)

    # The host is shared: a measure disturbed by other processes is taken again, up
    # to three times. A loop held by rendering fails every time.
    for _ in range(3):
        latencies, growth, answers = await measure_during(env, [bomb(t) for t in bombs])
        if percentile(latencies, 0.99) < 0.1 and growth < 50 * 2**20:
            break
    assert len(latencies) >= 10
    assert percentile(latencies, 0.99) < 0.1, sorted(latencies)[-5:]
    assert growth < 50 * 2**20, growth
    assert [answer.status_code for answer in answers] == [400] * len(bombs)


async def measure_during(
    env: DeliveryEnv, requests: list[Coroutine[Any, Any, Any]]
) -> tuple[list[float], int, list[Any]]:
    """/healthz latencies and the growth of the process while `requests` run, and their answers."""
    latencies: list[float] = []
    stop = asyncio.Event()

    async def probe() -> None:
        # Each probe is due at a fixed instant, as if another client sent it then: its
        # latency counts from that instant, so time the loop was held is not hidden.
        due = time.perf_counter()
        while not stop.is_set():
            due += 0.01
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            answer = await env.http.get("/healthz")
            latencies.append(time.perf_counter() - due)
            assert answer.status_code == 200

    # The heap of a test process holds every earlier test's leftovers; a full garbage
    # collection of it would stall the loop for reasons that have nothing to do with
    # templates, so the objects alive before the measure are set aside for its length.
    gc.collect()
    gc.freeze()
    sampler = RssSampler()
    sampler.start()
    prober = asyncio.create_task(probe())
    try:
        await asyncio.sleep(0.05)
        answers = await asyncio.gather(*requests)
        await asyncio.sleep(0.05)
    finally:
        stop.set()
        await prober
        sampler.done.set()
        sampler.join()
        gc.unfreeze()
    return latencies, sampler.peak - sampler.baseline, answers
