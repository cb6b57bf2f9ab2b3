"""One device's failure is its own: it becomes that device's `error`, never its batch's."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clarion.delivery import dispatcher
from clarion.delivery.outcomes import DeviceResult, SendOutcomes, record_outcomes
from tests.delivery.injection import POINTS, InjectedFault, Injector, install, received
from tests.delivery_env import DeliveryEnv, delivery_env

PLATFORMS = ("ios", "android", "web")
PROVIDER = {"ios": "apns", "android": "fcm", "web": "webpush"}


@pytest.fixture
async def injected(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Injector]:
    """A delivery environment whose renderer and provider clients fail where told."""
    async with delivery_env(database_url, tmp_path) as env:
        yield install(monkeypatch, env)


async def register(env: DeliveryEnv, platform: str, installation_id: str) -> str:
    """A device of the platform; its emulator target (token or endpoint)."""
    if platform == "ios":
        return await env.ios(installation_id)
    if platform == "android":
        return await env.android(installation_id)
    return await env.web(installation_id)


async def test_exceptions_of_some_devices_leave_the_others_sent_once(
    injected: Injector, caplog: pytest.LogCaptureFixture
) -> None:
    env = injected.env
    fine_ios = await env.ios("fine-ios")
    fine_web = await env.web("fine-web")
    broken_send = await env.ios("broken-send")
    broken_render = await env.android("broken-render")
    broken_after = await env.android("broken-after")
    injected.assign("ios", "broken-send", broken_send, "before_send")
    injected.assign("android", "broken-render", broken_render, "render")
    injected.assign("android", "broken-after", broken_after, "after_send")
    caplog.set_level(logging.ERROR, logger="clarion.delivery.dispatcher")

    ids = ["fine-ios", "fine-web", "broken-send", "broken-render", "broken-after"]
    send_id = await env.send(
        {"recipients": {"installation_ids": ids}, "content": {"title": "Hi", "body": "x"}}
    )
    done = await env.wait_done(send_id, seconds=30)

    assert done["status"] == "done" and done["error"] is None, done
    assert done["counts"]["sent"] == 2 and done["counts"]["errors"] == 3, done
    trail = {d["installation_id"]: d for d in await env.deliveries(send_id)}
    for name in ("broken-send", "broken-render", "broken-after"):
        assert trail[name]["outcome"] == "error", trail[name]
        assert trail[name]["provider_reason"].startswith("InjectedFault: "), trail[name]
        assert trail[name]["attempts"] == 1 and trail[name]["completed_at"]
    assert received(env, "ios", fine_ios) == 1
    assert received(env, "web", fine_web) == 1
    assert received(env, "ios", broken_send) == 0
    assert received(env, "android", broken_render) == 0
    # Sent, then the client raised: recorded as an error, and never sent a second time.
    assert received(env, "android", broken_after) == 1
    failures = [r for r in caplog.records if r.name == "clarion.delivery.dispatcher"]
    assert len(failures) == 3 and all(send_id in r.getMessage() for r in failures)
    # One traceback for the batch's one kind of failure, a line for each device.
    assert len([r for r in failures if r.exc_info]) == 1


async def test_a_provider_whose_client_cannot_be_built_fails_only_its_devices(
    injected: Injector,
) -> None:
    env = injected.env
    ios = await env.ios("iphone")
    android = await env.android("pixel")
    injected.broken_providers.add("apns")
    done = await env.wait_done(
        await env.send(
            {"recipients": {"installation_ids": ["iphone", "pixel"]}, "content": {"body": "x"}}
        ),
        seconds=30,
    )
    assert done["counts"]["sent"] == 1 and done["counts"]["errors"] == 1, done
    assert received(env, "ios", ios) == 0 and received(env, "android", android) == 1


async def test_an_outcome_that_cannot_be_written_costs_only_its_device(
    injected: Injector, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = injected.env
    tokens = {name: await env.android(name) for name in ("one", "two", "three")}
    record = record_outcomes
    refused: set[int] = set()

    async def picky_record(conn: Any, *, results: list[DeviceResult], **kwargs: Any) -> None:
        # The database refuses the batch as a whole, then the second device's outcome.
        if len(results) > 1:
            refused.add(sorted(r.delivery_id for r in results)[1])
            raise InjectedFault("value too long for the column")
        if results[0].delivery_id in refused and results[0].outcome == "sent":
            raise InjectedFault("value too long for the column")
        await record(conn, results=results, **kwargs)

    async def picky_many(conn: Any, queue: Any, sends: list[SendOutcomes], *args: Any) -> None:
        # Sends delivered together are refused together, then recorded each on its own.
        raise InjectedFault("value too long for the column")

    monkeypatch.setattr(dispatcher, "record_outcomes", picky_record)
    monkeypatch.setattr(dispatcher, "record_many", picky_many)
    send_id = await env.send(
        {"recipients": {"installation_ids": list(tokens)}, "content": {"body": "x"}}
    )
    done = await env.wait_done(send_id, seconds=30)

    assert done["status"] == "done" and done["counts"]["sent"] == 2, done
    trail = {d["installation_id"]: d for d in await env.deliveries(send_id)}
    assert trail["two"]["outcome"] == "error"
    assert trail["two"]["provider_reason"] == "InjectedFault: value too long for the column"
    # Nobody is sent twice: the job did not fail, so it was not retried.
    assert all(received(env, "android", token) == 1 for token in tokens.values())


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    devices=st.lists(
        st.tuples(st.sampled_from(PLATFORMS), st.sampled_from(POINTS)), min_size=1, max_size=6
    ),
    broken=st.sampled_from([None, *PROVIDER.values()]),
)
async def test_every_device_is_received_once_or_has_an_error(
    injected: Injector, devices: list[tuple[str, str]], broken: str | None
) -> None:
    env = injected.env
    injected.reset()
    if broken is not None:
        injected.broken_providers.add(broken)
    prefix = uuid.uuid4().hex[:8]
    targets: dict[str, tuple[str, str, str]] = {}
    for index, (platform, point) in enumerate(devices):
        installation_id = f"{prefix}-{index}"
        target = await register(env, platform, installation_id)
        injected.assign(platform, installation_id, target, point)
        targets[installation_id] = (platform, target, point)

    send_id = await env.send(
        {"recipients": {"installation_ids": list(targets)}, "content": {"body": "property"}}
    )
    done = await env.wait_done(send_id, seconds=30)

    assert done["status"] == "done" and done["counts"]["pending"] == 0, done
    trail = {d["installation_id"]: d for d in await env.deliveries(send_id)}
    for installation_id, (platform, target, point) in targets.items():
        delivery = trail[installation_id]
        count = received(env, platform, target)
        assert count <= 1, f"{installation_id} ({point}) received {count} times"
        assert (delivery["outcome"] == "sent" and count == 1) or delivery["outcome"] == "error"
        if delivery["outcome"] == "error":
            assert delivery["provider_reason"].startswith("InjectedFault"), delivery
        # What each fault must come to, exactly.
        never_built = broken == PROVIDER[platform]
        fails = never_built or point in ("render", "before_send", "after_send")
        fails = fails or point == "transient_then_raise"
        assert delivery["outcome"] == ("error" if fails else "sent"), (point, delivery)
        reached = not never_built and point in ("none", "after_send", "transient")
        assert count == (1 if reached else 0), (point, broken, delivery)
