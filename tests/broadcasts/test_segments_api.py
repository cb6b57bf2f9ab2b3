"""Segments over the API: CRUD and filter validation errors that name the field."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import Project, error_of


async def test_segment_crud(client: httpx.AsyncClient, project: Project) -> None:
    body = {"name": "French iOS", "filter": {"platforms": ["ios"], "languages": ["FR"]}}
    created = await client.post("/v1/segments", json=body, headers=project.headers)
    assert created.status_code == 201, created.text
    segment = created.json()
    # Language prefixes are stored normalized.
    assert segment["filter"] == {"platforms": ["ios"], "languages": ["fr"]}
    url = f"/v1/segments/{segment['id']}"
    replaced = await client.put(
        url, json={"name": "Any web", "filter": {"platforms": ["web"]}}, headers=project.headers
    )
    assert replaced.status_code == 200 and replaced.json()["name"] == "Any web"
    assert (await client.get(url, headers=project.headers)).json()["filter"] == {
        "platforms": ["web"]
    }
    listed = await client.get("/v1/segments", headers=project.headers)
    assert [s["id"] for s in listed.json()["data"]] == [segment["id"]]
    assert (await client.delete(url, headers=project.headers)).status_code == 204
    assert (await client.get(url, headers=project.headers)).status_code == 404


@pytest.mark.parametrize(
    ("flt", "field"),
    [
        ({"platforms": ["blackberry"]}, "filter.platforms[0]"),
        ({"languages": ["en", "not a tag"]}, "filter.languages[1]"),
        ({"timezones": ["Mars/Olympus"]}, "filter.timezones[0]"),
        ({"tags": {"any": ["a"], "some": ["b"]}}, "filter.tags.some"),
        ({"tags": {"all": []}}, "filter.tags.all"),
        ({"contact_attributes": {"plan": ["gold"]}}, "filter.contact_attributes.plan"),
        ({"installation_attributes": {'a"b': 1}}, 'filter.installation_attributes.a"b'),
        ({"last_engaged": {"within_days": 0}}, "filter.last_engaged.within_days"),
        ({"last_engaged": {"before": "2026-01-01T00:00:00"}}, "filter.last_engaged.before"),
        ({"has_email": "yes"}, "filter.has_email"),
        ({"platform": ["ios"]}, "filter.platform"),
    ],
)
async def test_filter_errors_name_the_field(
    client: httpx.AsyncClient, project: Project, flt: dict[str, Any], field: str
) -> None:
    response = await client.post(
        "/v1/segments", json={"name": "bad", "filter": flt}, headers=project.headers
    )
    assert response.status_code == 400, response.text
    error = error_of(response)
    assert error["code"] == "MALFORMED_PARAMETER" and error["field"] == field, error
