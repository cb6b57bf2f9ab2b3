"""Two `clarion serve` and two `clarion worker` processes on one PostgreSQL and one Redis.

They behave as one server: a key's request limit is counted across both APIs, a frequency
cap holds when sends to the same contacts race through both workers, and every send is
delivered exactly once.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from clarion.emulators.suite import EmulatorSuite
from clarion.store.engine import create_engine
from clarion.store.migrate import upgrade
from tests.e2e.processes import ClarionProcess, clean_environment, free_port
from tests.shared.conftest import RedisSpace

TEAM_ID = "TEAM123456"
KEY_ID = "KEY1234567"
TOPIC = "com.example.shared"
RATE_LIMIT = 6
CONTACTS = 6
RACING_SENDS = 4
# Slow provider answers keep every racing send between its cap check and its answer at once.
APNS_LATENCY = 0.3


@dataclass
class Cluster:
    """Two API clients, the emulators behind them and every process started."""

    apis: list[httpx.AsyncClient]
    admin_key: str
    emulators: EmulatorSuite
    processes: list[ClarionProcess]

    def logs(self) -> str:
        """The tail of every process's output, to explain a failure."""
        return "\n".join(p.output()[-2000:] for p in self.processes)


async def _until(ready: Callable[[], Any], process: ClarionProcess, what: str) -> None:
    # Generous: four processes start at once on what may be a busy machine.
    deadline = time.monotonic() + 60
    while not await ready():
        if process.process.poll() is not None:
            raise AssertionError(f"{what}: process exited\n{process.output()}")
        assert time.monotonic() < deadline, f"{what}: not ready\n{process.output()}"
        await asyncio.sleep(0.05)


async def _answers(url: str) -> bool:
    async with httpx.AsyncClient(timeout=1) as http:
        try:
            return (await http.get(url)).status_code == 200
        except httpx.TransportError:
            return False


@pytest.fixture
async def cluster(
    own_database_url: str, redis_space: RedisSpace, tmp_path: Path
) -> AsyncIterator[Cluster]:
    """The emulators, then two APIs without workers and two workers, all on one database."""
    # Migrated once up front, so that four processes starting at once do not all migrate.
    engine = create_engine(own_database_url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()
    admin_key = secrets.token_urlsafe(32)
    async with EmulatorSuite(tmp_path / "emulators") as emulators:
        env = clean_environment(
            CLARION_DATABASE_URL=own_database_url,
            CLARION_ADMIN_KEY=admin_key,
            CLARION_SECRET_KEY="test-secret",
            CLARION_VAR_DIR=str(tmp_path / "var"),
            CLARION_EXTRA_CA_FILE=str(emulators.ca_file),
            CLARION_OUTBOUND_ALLOWLIST="127.0.0.0/8,::1",
            CLARION_INPROCESS_WORKERS="false",
            CLARION_REDIS_URL=redis_space.url,
            CLARION_REDIS_PREFIX=redis_space.prefix,
            CLARION_RATE_LIMIT=f"{RATE_LIMIT}/minute",
        )
        ports = [free_port(), free_port()]
        processes = [
            ClarionProcess(
                ["serve", "--port", str(port)], env, tmp_path / f"serve-{i}.log", tmp_path
            )
            for i, port in enumerate(ports)
        ] + [
            ClarionProcess(["worker"], env, tmp_path / f"worker-{i}.log", tmp_path)
            for i in range(2)
        ]
        try:
            urls = [f"http://127.0.0.1:{port}" for port in ports]
            for process, url in zip(processes, urls, strict=False):
                await _until(lambda url=url: _answers(url + "/readyz"), process, url)
            for process in processes[2:]:

                async def started(process: ClarionProcess = process) -> bool:
                    return "delivery workers started" in process.output()

                await _until(started, process, "clarion worker")
            async with (
                httpx.AsyncClient(base_url=urls[0], timeout=10) as first,
                httpx.AsyncClient(base_url=urls[1], timeout=10) as second,
            ):
                yield Cluster([first, second], admin_key, emulators, processes)
        finally:
            await _stop(processes)


async def _stop(processes: list[ClarionProcess]) -> None:
    """SIGTERM to all at once, waiting without blocking the loop the emulators answer on."""
    for process in processes:
        if process.process.poll() is None:
            process.process.terminate()
    for _ in range(100):
        if all(p.process.poll() is not None for p in processes):
            break
        await asyncio.sleep(0.05)
    for process in processes:
        process.stop()


def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code in (200, 201), response.text
    body: dict[str, Any] = response.json()
    return body


async def _project(cluster: Cluster) -> dict[str, str]:
    """A project with an app whose APNs credentials point at the emulator; admin headers."""
    api = cluster.apis[0]
    project_id = f"p-{secrets.token_hex(4)}"
    server_admin = {"Authorization": f"Bearer {cluster.admin_key}"}
    _ok(await api.post("/v1/projects", json={"id": project_id, "name": "S"}, headers=server_admin))
    # The server admin key is never rate limited: setting up does not eat into the limit.
    headers = server_admin | {"Clarion-Project": project_id}
    _ok(await api.post("/v1/apps", json={"id": "app", "name": "Shared"}, headers=headers))
    apns = {
        "team_id": TEAM_ID,
        "key_id": KEY_ID,
        "private_key": cluster.emulators.apns.create_provider_key(TEAM_ID, KEY_ID, [TOPIC]),
        "topic": TOPIC,
        "endpoint": cluster.emulators.apns.url,
    }
    _ok(await api.put("/v1/apps/app/providers/apns", json=apns, headers=headers))
    return headers


async def _wait_done(cluster: Cluster, send_id: str, headers: dict[str, str]) -> Any:
    deadline = time.monotonic() + 15
    while True:
        send = _ok(await cluster.apis[0].get(f"/v1/sends/{send_id}", headers=headers))
        if send["status"] == "done":
            return send
        assert time.monotonic() < deadline, f"send still {send}\n{cluster.logs()}"
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("own_database_url", ["postgresql"], indirect=True)
async def test_two_apis_and_two_workers_share_limits_and_caps(cluster: Cluster) -> None:
    first, second = cluster.apis
    headers = await _project(cluster)

    # A key's requests are counted across both APIs: together they reach its one limit.
    key = _ok(await first.post("/v1/keys", json={"scopes": ["read"]}, headers=headers))["key"]
    reader = {"Authorization": f"Bearer {key}"}
    for i in range(RATE_LIMIT):
        answer = await cluster.apis[i % 2].get("/v1/apps", headers=reader)
        assert answer.status_code == 200, (i, answer.text)
    for api in cluster.apis:
        refused = await api.get("/v1/apps", headers=reader)
        assert refused.status_code == 429, refused.text
        assert 1 <= int(refused.headers["Retry-After"]) <= 60

    # Several sends to the same contacts race through both workers under a cap of one.
    tokens = {f"c{i}": secrets.token_hex(32) for i in range(CONTACTS)}
    for i, (contact, token) in enumerate(tokens.items()):
        device = {"platform": "ios", "token": token, "external_id": contact}
        _ok(await first.put(f"/v1/apps/app/installations/d{i}", json=device, headers=headers))
    cap = {"max": 1, "period_seconds": 3600}
    _ok(await second.put("/v1/caps/promo", json=cap, headers=headers))
    cluster.emulators.apns.faults.set_latency(APNS_LATENCY)
    body = {
        "recipients": {"external_ids": sorted(tokens)},
        "content": {"title": "Offer", "body": "Only once"},
        "options": {"labels": ["promo"]},
    }
    posted = await asyncio.gather(
        *(
            cluster.apis[i % 2].post("/v1/sends", json=body, headers=headers)
            for i in range(RACING_SENDS)
        )
    )
    sends = [await _wait_done(cluster, _ok(p)["id"], headers) for p in posted]

    # Each contact got exactly one of the sends; its other sends were capped, none lost.
    for send in sends:
        assert send["counts"]["targeted"] == CONTACTS, send
        assert send["counts"]["sent"] + send["counts"].get("capped", 0) == CONTACTS, send
    assert sum(s["counts"]["sent"] for s in sends) == CONTACTS, [s["counts"] for s in sends]

    # The provider received each contact's one notification exactly once.
    await asyncio.sleep(APNS_LATENCY + 0.5)
    received = Counter(d.target for d in cluster.emulators.apns.deliveries)
    assert received == Counter(tokens.values()), received
