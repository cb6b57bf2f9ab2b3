"""The everyday send skips the router; everything else, refusals included, answers as the route."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from clarion.api.app import ClarionApp, create_app
from clarion.api.fast_sends import FastSends, answer_bytes
from tests.conftest import admin_headers, make_project, make_settings

JSON = {"Content-Type": "application/json"}


class Counted:
    """Counts the requests reaching the router behind the fast path."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.paths: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Note the request, then route it."""
        if scope["type"] == "http":
            self.paths.append(scope["path"])
        await self.app(scope, receive, send)


@asynccontextmanager
async def two_clients(
    database_url: str, tmp_path: Path, **settings: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient, Counted]]:
    """One app over one database, reached with and without the fast path."""
    app = create_app(make_settings(database_url, tmp_path, **settings))
    assert isinstance(app, ClarionApp) and isinstance(app.fast_sends, FastSends)
    counted = Counted(app.router.middleware_stack)
    app.router.middleware_stack = counted
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://clarion.test"
        ) as with_fast,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app.routed), base_url="http://clarion.test"
        ) as routed,
    ):
        yield with_fast, routed, counted


def _same_answer(fast: httpx.Response, routed: httpx.Response) -> None:
    assert fast.status_code == routed.status_code, (fast.text, routed.text)
    assert fast.headers.keys() == routed.headers.keys()
    assert fast.headers["content-type"] == routed.headers["content-type"]
    if fast.status_code >= 400:
        assert fast.json() == routed.json()
    else:
        assert fast.json().keys() == routed.json().keys()


async def test_refusals_are_the_routes_own(database_url: str, tmp_path: Path) -> None:
    async with two_clients(database_url, tmp_path) as (fast, routed, _):
        project = await make_project(fast)
        reader = await make_project(fast, ["read"])
        await fast.post("/v1/apps", json={"id": "a1", "name": "A"}, headers=project.headers)
        good: dict[str, Any] = {
            "recipients": {"installation_ids": ["d1"]},
            "content": {"title": "Hi", "body": "There"},
        }
        admin = admin_headers()
        cases: list[tuple[dict[str, str], bytes | None, str]] = [
            (project.headers | JSON, b"{not json", ""),
            (project.headers | JSON, b"", ""),
            (project.headers | JSON, b'{"recipients": {"tokens": ["a\\u0000"]}}', ""),
            (project.headers | JSON, b'{"content": {"body": "\\ud800"}}', ""),
            (project.headers | JSON, b"[1, 2]", ""),
            (project.headers | JSON, b'{"recipients": 3, "content": {}}', ""),
            (project.headers | JSON, b'{"surprise": true}', ""),
            (project.headers | {"Content-Type": "text/plain"}, None, ""),
            (project.headers, None, ""),
            (project.headers | JSON | {"Idempotency-Key": "k" * 257}, None, ""),
            (project.headers | JSON | {"Idempotency-Key": ""}, None, ""),
            (project.headers | JSON, None, "?x=%00"),
            (JSON, None, ""),
            ({"Authorization": "Bearer nope"} | JSON, None, ""),
            (admin | JSON, None, ""),
            (admin | JSON | {"Clarion-Project": "p-missing"}, None, ""),
            (reader.headers | JSON, None, ""),
            (project.headers | JSON, b'{"recipients": {"installation_ids": ["d1"]}}', ""),
            (project.headers | JSON, b'{"recipients": {"tokens": ["zz"]}, "content": {}}', ""),
        ]
        for headers, body, query in cases:
            raw = body if body is not None else httpx.Request("POST", "/", json=good).content
            answers = [
                await http.post(f"/v1/sends{query}", content=raw, headers=headers)
                for http in (fast, routed)
            ]
            assert answers[0].status_code >= 400, (headers, body, answers[0].text)
            _same_answer(*answers)


async def test_plain_sends_skip_the_router_and_answer_alike(
    database_url: str, tmp_path: Path
) -> None:
    async with two_clients(database_url, tmp_path) as (fast, routed, counted):
        project = await make_project(fast)
        await fast.post("/v1/apps", json={"id": "a1", "name": "A"}, headers=project.headers)
        body = {"recipients": {"installation_ids": ["d1"]}, "content": {"body": "Hi"}}
        before = len(counted.paths)
        key = {"Idempotency-Key": uuid.uuid4().hex}
        first = await fast.post("/v1/sends", json=body, headers=project.headers | key)
        assert first.status_code == 201, first.text
        assert counted.paths[before:] == []
        # A retry and a conflicting reuse of the key are answered here too.
        replay = await fast.post("/v1/sends", json=body, headers=project.headers | key)
        assert replay.status_code == 200 and replay.json()["replayed"] is True
        assert replay.json()["id"] == first.json()["id"]
        other = body | {"content": {"body": "Other"}}
        conflict = await fast.post("/v1/sends", json=other, headers=project.headers | key)
        assert counted.paths[before:] == []
        routed_conflict = await routed.post("/v1/sends", json=other, headers=project.headers | key)
        assert conflict.status_code == 409
        _same_answer(conflict, routed_conflict)
        routed_answer = await routed.post("/v1/sends", json=body, headers=project.headers)
        _same_answer(first, routed_answer)
        assert counted.paths[before:] == ["/v1/sends", "/v1/sends"]
        metrics = (await fast.get("/metrics")).text
        assert 'route="/v1/sends",status="201"' in metrics


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "application/x+json"])
async def test_other_json_content_types_take_the_route(
    database_url: str, tmp_path: Path, content_type: str
) -> None:
    async with two_clients(database_url, tmp_path) as (fast, _, counted):
        project = await make_project(fast)
        await fast.post("/v1/apps", json={"id": "a1", "name": "A"}, headers=project.headers)
        body = {"recipients": {"installation_ids": ["d1"]}, "content": {"body": "Hi"}}
        raw = httpx.Request("POST", "/", json=body).content
        headers = project.headers | {"Content-Type": content_type}
        answer = await fast.post("/v1/sends", content=raw, headers=headers)
        assert answer.status_code == 201, answer.text
        assert counted.paths[-1] == "/v1/sends"


async def test_bodies_over_the_limit_are_refused_alike(database_url: str, tmp_path: Path) -> None:
    async with two_clients(database_url, tmp_path, max_body_bytes=300) as (fast, routed, counted):
        project = await make_project(fast)
        await fast.post("/v1/apps", json={"id": "a1", "name": "A"}, headers=project.headers)
        body = {"recipients": {"installation_ids": ["d1"]}, "content": {"body": "x" * 400}}
        raw = httpx.Request("POST", "/", json=body).content

        async def chunked() -> AsyncIterator[bytes]:
            # No Content-Length: the limit is found while the body streams in.
            for start in range(0, len(raw), 100):
                yield raw[start : start + 100]

        for content in (raw, chunked):
            answers = [
                await http.post(
                    "/v1/sends",
                    content=content() if callable(content) else content,
                    headers=project.headers | JSON,
                )
                for http in (fast, routed)
            ]
            assert answers[0].status_code == 413, answers[0].text
            _same_answer(*answers)
        small = {"recipients": {"installation_ids": ["d1"]}, "content": {"body": "x"}}
        before = len(counted.paths)
        answer = await fast.post("/v1/sends", json=small, headers=project.headers)
        assert answer.status_code == 201 and counted.paths[before:] == []
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["content-security-policy"].startswith("default-src 'none'")


@pytest.mark.parametrize(
    "answer",
    [
        {"id": "snd_0123456789abcdef", "status": "accepted", "recipients": 1},
        {"id": 'é"\\\u2028\n\x01', "status": "scheduled", "recipients": 0},
        {"id": "snd_1", "status": "accepted", "recipients": 3, "replayed": True},
        {"id": "snd_1", "status": "accepted", "recipients": None},
        {"id": "snd_1", "status": "accepted", "recipients": True},
    ],
)
def test_answers_are_written_as_the_route_writes_them(answer: dict[str, Any]) -> None:
    assert answer_bytes(answer) == JSONResponse(answer).body
