"""Fixtures: a queue on a real SQLite file and on a real PostgreSQL database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from clarion.queue.sql import SqlJobQueue
from clarion.store.engine import create_engine
from clarion.store.job_tables import jobs
from clarion.store.metadata import metadata
from tests.conftest import scratch_pg_database


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run, dropped at the end."""
    with scratch_pg_database("clarion_test_queue") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty database of each backend."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'queue.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def backend(db_url: str) -> str:
    """`sqlite` or `postgresql`."""
    return "sqlite" if db_url.startswith("sqlite") else "postgresql"


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a database holding an empty `jobs` table."""
    created = create_engine(db_url)
    async with created.begin() as conn:
        await conn.run_sync(lambda sync: metadata.create_all(sync, tables=[jobs]))
        if created.dialect.name == "postgresql":
            await conn.execute(text("TRUNCATE jobs RESTART IDENTITY"))
    yield created
    await created.dispose()


@pytest.fixture
async def queue(engine: AsyncEngine) -> AsyncIterator[SqlJobQueue]:
    """A job queue on the test database."""
    created = SqlJobQueue(engine, sqlite_poll_seconds=0.05)
    yield created
    await created.close()
