"""Error shapes for malformed requests, and the operational endpoints."""

from __future__ import annotations

import httpx

from tests.conftest import Project, error_of


async def test_malformed_json(client: httpx.AsyncClient, project: Project) -> None:
    response = await client.post(
        "/v1/apps",
        content=b"{not json",
        headers=project.headers | {"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert error_of(response)["code"] == "MALFORMED_JSON_BODY"
    response = await client.post("/v1/apps", json=[1, 2], headers=project.headers)
    assert response.status_code == 400
    assert error_of(response)["code"] == "MALFORMED_JSON_BODY"


async def test_missing_and_malformed_parameters(
    client: httpx.AsyncClient, project: Project
) -> None:
    response = await client.post("/v1/apps", json={"name": "x"}, headers=project.headers)
    assert response.status_code == 400
    assert error_of(response) == {
        "code": "MISSING_PARAMETER",
        "message": "id is required",
        "field": "id",
    }
    response = await client.post("/v1/apps", json={"id": 5, "name": "x"}, headers=project.headers)
    assert response.status_code == 400
    assert (
        error_of(response)["code"] == "MALFORMED_PARAMETER" and error_of(response)["field"] == "id"
    )


async def test_unknown_route_and_method(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert error_of(response)["code"] == "ROUTE_NOT_FOUND"
    response = await client.patch("/healthz")
    assert response.status_code == 405


async def test_body_over_one_mebibyte_gets_413(client: httpx.AsyncClient, project: Project) -> None:
    big = b'{"id": "x", "name": "' + b"a" * (1024 * 1024) + b'"}'
    response = await client.post(
        "/v1/apps", content=big, headers=project.headers | {"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert error_of(response)["code"] == "PAYLOAD_TOO_LARGE"

    async def chunks():  # no Content-Length: the streamed size is counted
        for _ in range(20):
            yield b"a" * 65536

    response = await client.post(
        "/v1/apps", content=chunks(), headers=project.headers | {"content-type": "application/json"}
    )
    assert response.status_code == 413


async def test_health_ready_metrics_docs(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    await client.get("/v1/nothing")
    metrics = await client.get("/metrics")
    assert "clarion_http_requests_total" in metrics.text
    assert 'route="/healthz"' in metrics.text
    spec = (await client.get("/openapi.json")).json()
    assert "/v1/apps/{app_id}/installations/{installation_id}" in spec["paths"]
    assert (await client.get("/docs")).status_code == 200
