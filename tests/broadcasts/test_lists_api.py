"""Static lists over the API: CRUD, JSON and CSV bulk membership, paging, errors."""

from __future__ import annotations

import httpx

from tests.conftest import Project, error_of


async def _new_list(client: httpx.AsyncClient, project: Project, name: str = "VIP") -> str:
    response = await client.post("/v1/lists", json={"name": name}, headers=project.headers)
    assert response.status_code == 201, response.text
    list_id: str = response.json()["id"]
    return list_id


async def test_list_crud(client: httpx.AsyncClient, project: Project) -> None:
    created = await client.post(
        "/v1/lists", json={"name": "Beta testers", "description": "early"}, headers=project.headers
    )
    assert created.status_code == 201
    body = created.json()
    assert body["name"] == "Beta testers" and body["member_count"] == 0
    fetched = await client.get(f"/v1/lists/{body['id']}", headers=project.headers)
    assert fetched.json()["description"] == "early"
    listed = await client.get("/v1/lists", headers=project.headers)
    assert [item["id"] for item in listed.json()["data"]] == [body["id"]]
    assert (
        await client.delete(f"/v1/lists/{body['id']}", headers=project.headers)
    ).status_code == 204
    missing = await client.get(f"/v1/lists/{body['id']}", headers=project.headers)
    assert missing.status_code == 404 and error_of(missing)["field"] == "list_id"


async def test_json_members_create_contacts_and_count_once(
    client: httpx.AsyncClient, project: Project
) -> None:
    list_id = await _new_list(client, project)
    await client.put("/v1/contacts/known", json={"email": "k@example.com"}, headers=project.headers)
    added = await client.post(
        f"/v1/lists/{list_id}/members",
        json={"external_ids": ["known", "new-1", "new-2", "new-1"]},
        headers=project.headers,
    )
    assert added.status_code == 200, added.text
    assert added.json() == {"added": 3, "member_count": 3}
    again = await client.post(
        f"/v1/lists/{list_id}/members", json={"external_ids": ["known"]}, headers=project.headers
    )
    assert again.json() == {"added": 0, "member_count": 3}
    # Unknown external ids became contacts.
    contact = await client.get("/v1/contacts/new-2", headers=project.headers)
    assert contact.status_code == 200
    removed = await client.post(
        f"/v1/lists/{list_id}/members/remove",
        json={"external_ids": ["new-1", "nobody"]},
        headers=project.headers,
    )
    assert removed.json() == {"removed": 1, "member_count": 2}


async def test_csv_members_with_and_without_header(
    client: httpx.AsyncClient, project: Project
) -> None:
    list_id = await _new_list(client, project)
    with_header = "email,external_id\na@example.com,alice\nb@example.com,bob\n\n"
    response = await client.post(
        f"/v1/lists/{list_id}/members",
        content=with_header,
        headers=project.headers | {"Content-Type": "text/csv"},
    )
    assert response.json() == {"added": 2, "member_count": 2}, response.text
    plain = "carol\ndave\nalice\n"
    response = await client.post(
        f"/v1/lists/{list_id}/members",
        content=plain,
        headers=project.headers | {"Content-Type": "text/csv; charset=utf-8"},
    )
    assert response.json() == {"added": 2, "member_count": 4}
    members = await client.get(f"/v1/lists/{list_id}/members?limit=3", headers=project.headers)
    page = members.json()
    assert [m["external_id"] for m in page["data"]] == ["alice", "bob", "carol"]
    rest = await client.get(
        f"/v1/lists/{list_id}/members",
        params={"limit": 3, "cursor": page["next_cursor"]},
        headers=project.headers,
    )
    assert [m["external_id"] for m in rest.json()["data"]] == ["dave"]


async def test_member_body_errors_name_the_field(
    client: httpx.AsyncClient, project: Project
) -> None:
    list_id = await _new_list(client, project)
    url = f"/v1/lists/{list_id}/members"
    bad = await client.post(url, json={"external_ids": ["ok", ""]}, headers=project.headers)
    assert bad.status_code == 400 and error_of(bad)["field"] == "external_ids[1]"
    wrong = await client.post(url, json={"ids": ["x"]}, headers=project.headers)
    assert wrong.status_code == 400 and error_of(wrong)["field"] == "external_ids"
    xml = await client.post(
        url, content="<x/>", headers=project.headers | {"Content-Type": "application/xml"}
    )
    assert xml.status_code == 415
    unknown = await client.post(
        "/v1/lists/lst_missing/members", json={"external_ids": ["a"]}, headers=project.headers
    )
    assert unknown.status_code == 404


async def test_lists_are_private_to_their_project(
    client: httpx.AsyncClient, project: Project
) -> None:
    from tests.conftest import make_project

    list_id = await _new_list(client, project)
    other = await make_project(client)
    response = await client.get(f"/v1/lists/{list_id}", headers=other.headers)
    assert response.status_code == 404
