"""JSON is read strictly: no NaN or Infinity literals, no booleans where integers go."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.test_refused_at_the_door import refused
from tests.conftest import Project
from tests.hostile import JSON

NUMBERS = [b"NaN", b"Infinity", b"-Infinity", b"1e400", b"9223372036854775808", b"1" * 5000]


@pytest.mark.parametrize("literal", NUMBERS, ids=["nan", "inf", "-inf", "1e400", "2^63", "huge"])
async def test_non_finite_and_64_bit_overflowing_numbers(
    client: httpx.AsyncClient, project: Project, literal: bytes
) -> None:
    raw = b'{"recipients": {"tokens": ["t"]}, "content": {"body": "x", "data": {"n": '
    response = await client.post(
        "/v1/sends", content=raw + literal + b"}}}", headers=project.headers | JSON
    )
    refused(response, "content.data.n")
    raw = b'{"recipients": {"tokens": ["t"]}, "content": {"body": "x"}, "options": {"ttl": '
    response = await client.post(
        "/v1/sends", content=raw + literal + b"}}", headers=project.headers | JSON
    )
    refused(response, "options.ttl")


async def test_booleans_are_not_integers(client: httpx.AsyncClient, project: Project) -> None:
    send = {"recipients": {"tokens": ["t"]}, "content": {"body": "x"}}
    cases: list[tuple[str, str, dict[str, Any], str]] = [
        ("POST", "/v1/sends", {**send, "options": {"ttl": True}}, "options.ttl"),
        ("POST", "/v1/sends", {**send, "options": {"ttl": False}}, "options.ttl"),
        ("POST", "/v1/sends", {**send, "content": {"body": "x", "badge": True}}, "content.badge"),
        ("PUT", "/v1/caps/news", {"max": True, "period_seconds": 60}, "max"),
        ("PUT", "/v1/caps/news", {"max": 1, "period_seconds": True}, "period_seconds"),
        (
            "POST",
            "/v1/segments",
            {"name": "S", "filter": {"last_engaged": {"within_days": True}}},
            "filter.last_engaged.within_days",
        ),
    ]
    for method, path, body, field in cases:
        refused(await client.request(method, path, json=body, headers=project.headers), field)
    # Integers still pass.
    ok = await client.post(
        "/v1/sends", json={**send, "options": {"ttl": 60}}, headers=project.headers
    )
    assert ok.status_code == 201, ok.text
