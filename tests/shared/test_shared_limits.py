"""Request and failed-auth limits counted in Redis: two processes' limiters share one count."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY
from pydantic import ValidationError

from clarion.api.app import create_app
from clarion.api.auth_throttle import AuthThrottled, FailedAuthThrottle
from clarion.api.ratelimit import KeyRateLimiter, RateLimited
from clarion.api.shared_limits import SharedCounts, redacted
from clarion.config import Settings
from tests.conftest import ADMIN_KEY, make_project
from tests.e2e.processes import free_port
from tests.shared.conftest import RedisSpace


def _local_counts(limit: str) -> float:
    value = REGISTRY.get_sample_value("clarion_rate_limit_local_total", {"limit": limit})
    return value or 0.0


async def test_two_limiters_share_one_count_per_key(redis_space: RedisSpace) -> None:
    # Each limiter has its own connection, as two API processes would.
    first = SharedCounts(redis_space.url, redis_space.prefix)
    second = SharedCounts(redis_space.url, redis_space.prefix)
    try:
        limiters = [KeyRateLimiter("4/minute", first), KeyRateLimiter("4/minute", second)]
        for i in range(4):
            await limiters[i % 2].check("key-a")
        for limiter in limiters:
            with pytest.raises(RateLimited) as refused:
                await limiter.check("key-a")
            assert 1 <= refused.value.retry_after <= 60
        # Another key has its own count, in both processes.
        await limiters[1].check("key-b")
        await limiters[0].check("key-b")
        assert redis_space.keys(), "nothing was counted in Redis"
    finally:
        await first.close()
        await second.close()


async def test_failed_authentications_count_across_processes(redis_space: RedisSpace) -> None:
    first = SharedCounts(redis_space.url, redis_space.prefix)
    second = SharedCounts(redis_space.url, redis_space.prefix)
    try:
        throttles = [FailedAuthThrottle("3/minute", first), FailedAuthThrottle("3/minute", second)]
        for i in range(3):
            await throttles[i % 2].check("10.0.0.1", None)
            await throttles[i % 2].failed("10.0.0.1", None)
        for throttle in throttles:
            with pytest.raises(AuthThrottled):
                await throttle.check("10.0.0.1", None)
            await throttle.check("10.0.0.2", "other-key")
    finally:
        await first.close()
        await second.close()


async def test_an_unreachable_redis_falls_back_to_per_process_limits(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    shared = SharedCounts(url, "clarion-test-down")
    before = _local_counts("requests")
    try:
        with caplog.at_level(logging.WARNING, logger="clarion.api.shared_limits"):
            assert not await shared.check()
            limiter = KeyRateLimiter("3/minute", shared)
            for _ in range(3):
                await limiter.check("key-a")
            # Still limited, by this process's own count: a dead Redis never opens the gate wide.
            with pytest.raises(RateLimited):
                await limiter.check("key-a")
    finally:
        await shared.close()
    assert _local_counts("requests") - before >= 4
    warnings = [r.getMessage() for r in caplog.records if "cannot be reached" in r.getMessage()]
    # One warning for the outage, not one per request; the password is never logged.
    assert len(warnings) == 1, warnings
    assert "hunter2" not in caplog.text


def test_redacted_hides_only_the_password() -> None:
    assert redacted("redis://:pw@127.0.0.1:6379/1") == "redis://:***@127.0.0.1:6379/1"
    assert redacted("redis://u:pw@127.0.0.1/0") == "redis://u:***@127.0.0.1/0"
    assert redacted("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_a_redis_url_of_another_scheme_is_refused() -> None:
    with pytest.raises(ValidationError, match="CLARION_REDIS_URL"):
        Settings(redis_url="http://127.0.0.1:6379")
    assert Settings(redis_url="rediss://127.0.0.1:6380/2").redis_url.startswith("rediss")


async def test_a_server_whose_redis_is_down_still_serves_and_limits(
    database_url: str, tmp_path: Path
) -> None:
    settings = Settings(
        database_url=database_url,
        var_dir=tmp_path / "var",
        admin_key=ADMIN_KEY,
        secret_key="test-secret",
        inprocess_workers=False,
        rate_limit="3/minute",
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://clarion.test") as http:
            project = await make_project(http)
            answers = [
                (await http.get("/v1/apps", headers=project.headers)).status_code for _ in range(4)
            ]
    assert answers == [200, 200, 200, 429]
