"""Recipients by the hundred resolve to the same devices on both databases, in few statements."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from clarion.domain.recipients import Recipients
from clarion.store.targeting import resolve
from tests.delivery_env import DeliveryEnv, delivery_env

#: More than are looked up one by one.
KNOWN = 20
#: More than one IN list of the SQLite path holds, so that it takes several statements.
UNKNOWN = 600


@pytest.fixture
async def env(database_url: str, tmp_path: Path) -> AsyncIterator[DeliveryEnv]:
    """Clarion without workers: only the devices matter here."""
    async with delivery_env(database_url, tmp_path, inprocess_workers=False) as harness:
        yield harness


async def test_many_recipients_resolve_to_their_devices_and_the_rest_is_unmatched(
    env: DeliveryEnv, engine: AsyncEngine
) -> None:
    tokens = {f"many-{i}": await env.ios(f"many-{i}") for i in range(KNOWN)}
    unknown = [f"nobody-{i}" for i in range(UNKNOWN)]
    # The known devices both by installation id and by token: each is targeted once.
    recipients = Recipients(installation_ids=(*tokens, *unknown), tokens=tuple(tokens.values()))
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    async with engine.connect() as conn:
        targets, unmatched = await resolve(conn, env.project_id, recipients, None)
    event.remove(engine.sync_engine, "before_cursor_execute", count)

    assert sorted(t.installation_id for t in targets) == sorted(tokens)
    by_id = {t.installation_id: t for t in targets}
    for installation_id, token in tokens.items():
        assert by_id[installation_id].token == token
    assert sorted(u.recipient for u in unmatched) == sorted(unknown)
    assert {u.recipient_kind for u in unmatched} == {"installation_id"}
    if engine.dialect.name == "postgresql":
        # One statement per kind of recipient, whatever their number.
        assert len([s for s in statements if "installations" in s]) == 2, statements


async def test_many_contacts_resolve_to_their_devices_and_the_rest_is_unmatched(
    env: DeliveryEnv, engine: AsyncEngine
) -> None:
    devices = {
        f"person-{i}": await env.ios(f"phone-{i}", external_id=f"person-{i}") for i in range(KNOWN)
    }
    unknown = [f"stranger-{i}" for i in range(UNKNOWN)]
    recipients = Recipients(external_ids=(*devices, *unknown))
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    async with engine.connect() as conn:
        targets, unmatched = await resolve(conn, env.project_id, recipients, None)
    event.remove(engine.sync_engine, "before_cursor_execute", count)

    assert sorted(t.recipient for t in targets) == sorted(devices)
    assert {t.recipient: t.token for t in targets} == devices
    assert sorted(u.recipient for u in unmatched) == sorted(unknown)
    if engine.dialect.name == "postgresql":
        assert len([s for s in statements if "contacts" in s]) == 1, statements
