"""A recipient that cannot be planned becomes an `error` row; the others are planned and sent."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from clarion.delivery import recipient_plan, unplannable
from clarion.domain.recipients import Recipients
from clarion.store import targeting
from tests.delivery.injection import InjectedFault, received
from tests.delivery_env import DeliveryEnv, delivery_env


@pytest.fixture
async def env(database_url: str, tmp_path: Path) -> AsyncIterator[DeliveryEnv]:
    """Clarion giving a job up after its first attempt."""
    async with delivery_env(database_url, tmp_path, job_max_attempts=1) as harness:
        yield harness


def poison(monkeypatch: pytest.MonkeyPatch, bad: set[str]) -> None:
    """Make resolving any recipient list holding a `bad` external id raise."""
    resolve = targeting.resolve

    async def failing_resolve(
        conn: AsyncConnection,
        project_id: str,
        recipients: Recipients,
        app_ids: Sequence[str] | None,
    ) -> Any:
        hit = bad & set(recipients.external_ids)
        if hit:
            raise InjectedFault(f"cannot resolve {sorted(hit)[0]}")
        return await resolve(conn, project_id, recipients, app_ids)

    monkeypatch.setattr(recipient_plan, "resolve", failing_resolve)
    monkeypatch.setattr(unplannable, "resolve", failing_resolve)


async def test_bad_recipients_do_not_stop_the_others(
    env: DeliveryEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens = {name: await env.android(f"{name}-phone", external_id=name) for name in "abcdefg"}
    poison(monkeypatch, {"c", "f"})
    send_id = await env.send(
        {"recipients": {"external_ids": list(tokens)}, "content": {"body": "x"}}
    )
    done = await env.wait_done(send_id, seconds=30)

    assert done["status"] == "done", done
    assert done["counts"]["sent"] == 5 and done["counts"]["errors"] == 2, done
    failed = {
        d["recipient"]["value"]: d for d in await env.deliveries(send_id) if d["outcome"] == "error"
    }
    assert set(failed) == {"c", "f"}
    assert failed["c"]["provider_reason"] == "InjectedFault: cannot resolve c"
    assert failed["c"]["recipient"]["kind"] == "external_id" and failed["c"]["token"] is None
    for name, token in tokens.items():
        assert received(env, "android", token) == (0 if name in ("c", "f") else 1), name


async def test_when_every_recipient_fails_the_job_fails(
    env: DeliveryEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    await env.android("phone", external_id="only")
    poison(monkeypatch, {"only"})
    send_id = await env.send({"recipients": {"external_ids": ["only"]}, "content": {"body": "x"}})
    done = await env.wait_done(send_id, seconds=30)
    # Nothing tells a bad recipient from a broken planner then: the job is retried, and
    # the send fails once its attempts are spent, rather than the recipient being blamed.
    assert done["status"] == "failed", done
    assert done["error"] == "planning: gave up after 1 attempts: InjectedFault: cannot resolve only"
    assert await env.deliveries(send_id) == []
