"""Fixtures shared by the delivery tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from clarion.store.engine import create_engine


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """A second engine on the test database, as another process would have."""
    made = create_engine(database_url)
    yield made
    await made.dispose()
