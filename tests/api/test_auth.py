"""Keys, scopes and app limits of the native API."""

from __future__ import annotations

import httpx

from tests.conftest import Project, admin_headers, error_of, make_project


async def test_missing_and_invalid_keys_get_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/apps")
    assert response.status_code == 401
    assert error_of(response)["code"] == "AUTHENTICATION_REQUIRED"
    response = await client.get("/v1/apps", headers={"Authorization": "Bearer clk_nope_nope"})
    assert response.status_code == 401
    assert error_of(response)["code"] == "AUTHENTICATION_INVALID"
    response = await client.get("/v1/apps", headers={"Authorization": "Basic abc"})
    assert response.status_code == 401


async def test_projects_need_the_server_admin_key(
    client: httpx.AsyncClient, project: Project
) -> None:
    response = await client.post(
        "/v1/projects", json={"id": "other", "name": "x"}, headers=project.headers
    )
    assert response.status_code == 403
    # The database may hold other tests' projects: the list is read to its end.
    listed: list[str] = []
    cursor: str | None = None
    while True:
        params = {"limit": 500} | ({"cursor": cursor} if cursor else {})
        response = await client.get("/v1/projects", params=params, headers=admin_headers())
        assert response.status_code == 200
        listed += [p["id"] for p in response.json()["data"]]
        cursor = response.json()["next_cursor"]
        if cursor is None:
            break
    assert project.id in listed


async def test_scopes_are_enforced(client: httpx.AsyncClient, project: Project) -> None:
    await client.post(
        "/v1/apps", json={"id": f"{project.id}-app", "name": "A"}, headers=project.headers
    )
    read_key = (
        await client.post("/v1/keys", json={"scopes": ["read"]}, headers=project.headers)
    ).json()["key"]
    read = {"Authorization": f"Bearer {read_key}"}
    assert (await client.get(f"/v1/apps/{project.id}-app", headers=read)).status_code == 200
    response = await client.put(
        f"/v1/apps/{project.id}-app/installations/i1",
        json={"platform": "android", "token": "tok"},
        headers=read,
    )
    assert response.status_code == 403
    assert "registry" in error_of(response)["message"]
    send_key = (
        await client.post("/v1/keys", json={"scopes": ["send"]}, headers=project.headers)
    ).json()["key"]
    response = await client.post(
        "/v1/keys", json={"scopes": ["read"]}, headers={"Authorization": f"Bearer {send_key}"}
    )
    assert response.status_code == 403


async def test_unknown_scope_is_named(client: httpx.AsyncClient, project: Project) -> None:
    response = await client.post(
        "/v1/keys", json={"scopes": ["read", "root"]}, headers=project.headers
    )
    assert response.status_code == 400
    assert error_of(response)["field"] == "scopes[1]"


async def test_key_limited_to_apps_gets_403_and_other_projects_404(
    client: httpx.AsyncClient, project: Project
) -> None:
    for app_id in ("a1", "a2"):
        response = await client.post(
            "/v1/apps",
            json={"id": f"{project.id}-{app_id}", "name": app_id},
            headers=project.headers,
        )
        assert response.status_code == 201
    limited_key = (
        await client.post(
            "/v1/keys",
            json={"scopes": ["registry"], "app_ids": [f"{project.id}-a1"]},
            headers=project.headers,
        )
    ).json()["key"]
    limited = {"Authorization": f"Bearer {limited_key}"}
    body = {"platform": "android", "token": "t1"}
    ok = await client.put(f"/v1/apps/{project.id}-a1/installations/i1", json=body, headers=limited)
    assert ok.status_code == 201
    denied = await client.put(
        f"/v1/apps/{project.id}-a2/installations/i1", json=body, headers=limited
    )
    assert denied.status_code == 403
    listed = await client.get("/v1/apps", headers=limited)
    assert [a["id"] for a in listed.json()["data"]] == [f"{project.id}-a1"]

    other = await make_project(client)
    foreign = await client.get(f"/v1/apps/{project.id}-a1", headers=other.headers)
    unknown = await client.get("/v1/apps/no-such-app", headers=other.headers)
    assert foreign.status_code == unknown.status_code == 404
    assert foreign.json() == unknown.json()


async def test_revoked_key_stops_working(client: httpx.AsyncClient, project: Project) -> None:
    created = (
        await client.post("/v1/keys", json={"scopes": ["read"]}, headers=project.headers)
    ).json()
    headers = {"Authorization": f"Bearer {created['key']}"}
    assert (await client.get("/v1/apps", headers=headers)).status_code == 200
    listed = (await client.get("/v1/keys", headers=project.headers)).json()["data"]
    assert all("key" not in k and "secret_hash" not in k for k in listed)
    assert (
        await client.delete(f"/v1/keys/{created['id']}", headers=project.headers)
    ).status_code == 204
    assert (await client.get("/v1/apps", headers=headers)).status_code == 401


async def test_admin_key_needs_a_project_header(
    client: httpx.AsyncClient, project: Project
) -> None:
    response = await client.get("/v1/apps", headers=admin_headers())
    assert response.status_code == 400
    assert error_of(response)["field"] == "Clarion-Project"
    response = await client.get("/v1/apps", headers=admin_headers("missing-project"))
    assert response.status_code == 404
    response = await client.get("/v1/apps", headers=admin_headers(project.id))
    assert response.status_code == 200
