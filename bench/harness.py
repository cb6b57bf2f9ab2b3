"""What the benchmarks share: report sections, bulk devices, a Clarion wired to the emulator."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import httpx
from sqlalchemy import JSON, String, cast, func, insert, literal, select
from sqlalchemy.sql.dml import Insert

from clarion.api.app import create_app
from clarion.config import Settings
from clarion.emulators.tls import ensure_tls_files
from clarion.store.engine import create_engine
from clarion.store.tables import apps, installations
from clarion.store.types import UtcDateTime, utcnow

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "BENCHMARKS.md"
ADMIN_KEY = "bench-admin-key-0123456789abcdef0123456789"
TEAM, KEY_ID, TOPIC = "BENCHTEAM2", "BENCHKEY02", "com.example.bench"
APP_ID = "bench-app"


def replace_section(title: str, lines: list[str], path: Path = BENCHMARKS) -> None:
    """Replace (or add) the section headed `title` of BENCHMARKS.md, leaving the others."""
    section = "\n".join([title, *lines]) + "\n"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(title)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text, count=1).rstrip() + "\n"
    else:
        text = text.rstrip() + "\n\n" + section
    path.write_text(text)


def device_token(index: int) -> str:
    """The APNs token of device bench-`index`: unique, and known to the sink's request log."""
    return f"{index:064x}"


async def add_ios_devices(database_url: str, app_id: str, count: int, chunk: int = 50_000) -> None:
    """Insert `count` iOS installations bench-0, bench-1, ... straight into the table.

    Direct SQL, not the API: registering a million devices one request at a time would
    take longer than the benchmark itself. The database makes the rows from a number
    series (INSERT … SELECT), a chunk per transaction, so a million take seconds.
    """
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            app_pk = (await conn.execute(apps.select().where(apps.c.id == app_id))).one().pk
        for start in range(0, count, chunk):
            async with engine.begin() as conn:
                await conn.execute(
                    _devices_from_series(conn.dialect.name, app_pk, start, count, chunk)
                )
    finally:
        await engine.dispose()


def _devices_from_series(dialect: str, app_pk: int, start: int, count: int, chunk: int) -> Insert:
    """Devices `start` to `min(start + chunk, count) - 1`, tokens as `device_token` makes them."""
    end = min(start + chunk, count)
    if dialect == "postgresql":
        series = func.generate_series(start, end - 1).table_valued("value").render_derived()
        index = series.c.value
        token = func.lpad(func.to_hex(index), 64, "0")
    else:
        n = select(literal(start).label("value")).cte("n", recursive=True)
        n = n.union_all(select(n.c.value + 1).where(n.c.value + 1 < end))
        series, index = n, n.c.value
        token = func.printf("%064x", index)
    now = utcnow()
    rows = select(
        literal(app_pk),
        literal("bench-") + cast(index, String),
        literal("ios"),
        token,
        literal([], JSON),
        literal({}, JSON),
        literal(False),
        literal(now, UtcDateTime),
        literal(now, UtcDateTime),
    ).select_from(series)
    columns = [
        "app_pk",
        "installation_id",
        "platform",
        "token",
        "tags",
        "attributes",
        "sandbox",
        "created_at",
        "updated_at",
    ]
    return insert(installations).from_select(columns, rows)


@dataclass(frozen=True)
class BenchClarion:
    """A running Clarion with one project whose app sends to the APNs emulator."""

    http: httpx.AsyncClient
    headers: dict[str, str]


async def _register_key(control_url: str) -> str:
    body = {"team_id": TEAM, "key_id": KEY_ID, "topics": [TOPIC]}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{control_url}/_emulator/keys", json=body) as reply,
    ):
        pem: str = (await reply.json())["private_key"]
    return pem


@asynccontextmanager
async def clarion_for_emulator(
    urls: dict[str, str], state: Path, database_url: str, http_timeout: float = 120
) -> AsyncIterator[BenchClarion]:
    """Clarion (API and in-process workers) with the bench app's APNs pointed at the emulator."""
    pem = await _register_key(urls["apns_control"])
    settings = Settings(
        database_url=database_url,
        var_dir=state / "var",
        admin_key=ADMIN_KEY,
        secret_key="bench",
        extra_ca_file=ensure_tls_files(state).ca_file,
        # The emulators listen on the loopback interface, which the outbound policy refuses.
        outbound_allowlist="127.0.0.0/8,::1",
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://bench", timeout=http_timeout
        ) as http:
            admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
            await http.post("/v1/projects", json={"id": "bench", "name": "Bench"}, headers=admin)
            headers = admin | {"Clarion-Project": "bench"}
            await http.post("/v1/apps", json={"id": APP_ID, "name": "Bench"}, headers=headers)
            credentials = {
                "team_id": TEAM,
                "key_id": KEY_ID,
                "private_key": pem,
                "topic": TOPIC,
                "endpoint": urls["apns"],
            }
            reply = await http.put(
                f"/v1/apps/{APP_ID}/providers/apns", json=credentials, headers=headers
            )
            reply.raise_for_status()
            yield BenchClarion(http, headers)
