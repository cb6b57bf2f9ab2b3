"""A key space of the test Redis of its own for each test, emptied afterwards."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import redis

REDIS_URL = os.environ.get("CLARION_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@dataclass(frozen=True)
class RedisSpace:
    """The Redis URL and the key prefix one test counts under."""

    url: str
    prefix: str

    def keys(self) -> list[bytes]:
        """Every key written under this test's prefix."""
        with redis.Redis.from_url(self.url) as client:
            return list(client.scan_iter(match=f"{self.prefix}:*", count=1000))


@pytest.fixture
def redis_space() -> Iterator[RedisSpace]:
    """A prefix no other test (nor a parallel run) uses; its keys are deleted after the test."""
    space = RedisSpace(REDIS_URL, f"clarion-test-{uuid.uuid4().hex[:12]}")
    yield space
    keys = space.keys()
    if keys:
        with redis.Redis.from_url(space.url) as client:
            client.delete(*keys)
