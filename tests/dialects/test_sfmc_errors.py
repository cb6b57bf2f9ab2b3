"""The sfmc dialect's auth, definition validation and documented send errors."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import admin_headers, make_project
from tests.dialects.test_sfmc_e2e import example

TOKEN = "fcm-token-1"


class Sfmc:
    """A project with one app and a full key, seen through the sfmc routes."""

    def __init__(self, http: httpx.AsyncClient, project_id: str, key: str) -> None:
        self.http = http
        self.project_id = project_id
        self.key = key
        self.app_id = f"{project_id}-app"

    def headers(self, key: str | None = None) -> dict[str, str]:
        """Bearer headers of the full key or another one."""
        return {"Authorization": f"Bearer {key or self.key}"}

    async def create(self, **changes: Any) -> httpx.Response:
        """POST the seed example with changes (a None value removes the field)."""
        body = {k: v for k, v in example(self.app_id, **changes).items() if v is not None}
        return await self.http.post("/push/v1/message", json=body, headers=self.headers())

    async def send(self, route: str, message_id: str, body: Any) -> httpx.Response:
        """POST a send of a definition."""
        url = f"/push/v1/{route}/{message_id}/send"
        if isinstance(body, bytes):
            return await self.http.post(url, content=body, headers=self.headers())
        return await self.http.post(url, json=body, headers=self.headers())


async def setup(http: httpx.AsyncClient) -> Sfmc:
    project = await make_project(http)
    sfmc = Sfmc(http, project.id, project.key)
    created = await http.post(
        "/v1/apps", json={"id": sfmc.app_id, "name": "App"}, headers=project.headers
    )
    assert created.status_code == 201, created.text
    return sfmc


def errors(response: httpx.Response, status: int = 400) -> list[str]:
    assert response.status_code == status, response.text
    found: list[str] = response.json()["errors"]
    return found


async def test_authentication_and_scopes(client: httpx.AsyncClient) -> None:
    sfmc = await setup(client)
    denied = await client.post("/push/v1/message", json=example(sfmc.app_id))
    assert denied.status_code == 401 and denied.json()["message"] == "Not Authorized"
    wrong = await client.post(
        "/push/v1/message", json=example(sfmc.app_id), headers=sfmc.headers("clk_x.y")
    )
    assert wrong.status_code == 401
    reader = (
        await client.post(
            "/v1/keys", json={"scopes": ["read"]}, headers=admin_headers(sfmc.project_id)
        )
    ).json()["key"]
    refused = await client.post(
        "/push/v1/message", json=example(sfmc.app_id), headers=sfmc.headers(reader)
    )
    assert refused.status_code == 403 and "send" in refused.json()["message"]
    message_id = (await sfmc.create()).json()["id"]
    readable = await client.get(f"/push/v1/message/{message_id}", headers=sfmc.headers(reader))
    assert readable.status_code == 200 and readable.json()["name"] == "My Message Name"
    limited = (
        await client.post(
            "/v1/keys",
            json={"scopes": ["send"], "app_ids": ["other"]},
            headers=admin_headers(sfmc.project_id),
        )
    ).json()["key"]
    outside = await client.post(
        "/push/v1/message", json=example(sfmc.app_id), headers=sfmc.headers(limited)
    )
    assert errors(outside) == [f"Application {sfmc.app_id} is not valid for the client."]


async def test_definition_validation_per_type(client: httpx.AsyncClient) -> None:
    sfmc = await setup(client)
    missing = await client.post("/push/v1/message", json={"messageType": 1}, headers=sfmc.headers())
    assert errors(missing) == [
        "name is required.",
        "application is required.",
        "startDate is required.",
    ]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"messageType": 3, "geofences": None}, "geofences is required"),
        ({"messageType": 4, "contentType": 3, "geofences": [{"id": "g"}], "url": None}, "url is"),
        ({"messageType": 5, "alert": None, "geofences": [{"id": "g"}]}, "alert is required"),
        ({"messageType": 8, "contentType": 2, "subject": None}, "subject is required"),
        ({"contentType": 3, "pageId": None}, "pageId is required"),
        ({"messageType": 2}, "messageType"),
        ({"name": "x" * 101}, "name"),
        ({"openDirect": "sixteen-chars-xx"}, "openDirect"),
        ({"badge": "one"}, "badge"),
        ({"startDate": "2014-04-30T14:50:00"}, "startDate: a date needs a time zone"),
        (
            {"endDate": "2014-04-30T14:00:00Z", "contentType": 3},
            "endDate must be after startDate.",
        ),
        ({"sendInitiator": 1}, "messagesPerPeriod can only be used when sendInitiator is 0."),
        ({"minutesPerPeriod": None}, "messagesPerPeriod and minutesPerPeriod must be given"),
        ({"scheduledTzOffset": 15}, "scheduledTzOffset"),
        ({"minutesPerPeriod": 10_081}, "minutesPerPeriod"),
        ({"messagesPerPeriod": 10_000_001}, "messagesPerPeriod"),
        ({"media": {"iosUrl": "ftp://x"}}, "media.iosUrl"),
        ({"unknownField": 1}, "unknownField"),
        ({"application": {"id": "nope", "name": "x"}}, "Application nope is not valid"),
    ]
    for changes, expected in cases:
        body = example(sfmc.app_id, **changes)
        body = {key: value for key, value in body.items() if value is not None}
        response = await client.post("/push/v1/message", json=body, headers=sfmc.headers())
        found = errors(response)
        assert any(line.startswith(expected) for line in found), (changes, found)
    bad_json = await client.post("/push/v1/message", content=b"{", headers=sfmc.headers())
    assert errors(bad_json) == ["The request body is not valid JSON."]


async def test_get_update_delete(client: httpx.AsyncClient) -> None:
    sfmc = await setup(client)
    created = (
        await sfmc.create(
            scheduleTzOffset=-5,
            scheduledTzOffset=None,
            application=[{"id": sfmc.app_id, "name": "A"}],
        )
    ).json()
    assert created["scheduledTzOffset"] == -5 and created["application"]["name"] == "A"
    url = f"/push/v1/message/{created['id']}"
    patched = await client.patch(
        url, json={"alert": "Changed", "status": 3}, headers=sfmc.headers()
    )
    assert patched.status_code == 200 and patched.json()["alert"] == "Changed"
    assert (await client.get(url, headers=sfmc.headers())).json()["status"] == 3
    renamed = await client.put(url, json={"name": "Renamed"}, headers=sfmc.headers())
    assert renamed.status_code == 200 and renamed.json()["name"] == "Renamed"
    invalid = await client.patch(url, json={"status": 9}, headers=sfmc.headers())
    assert errors(invalid)[0].startswith("status")
    assert (await client.delete(url, headers=sfmc.headers())).status_code == 204
    gone = await client.get(url, headers=sfmc.headers())
    assert errors(gone, 404) == [f"Message {created['id']} is not valid for the client."]
    assert errors(await client.delete(url, headers=sfmc.headers()), 404)
    assert errors(await client.get("/push/v1/message/bad id!", headers=sfmc.headers())) == [
        "Message id bad id! is not valid."
    ]


async def test_documented_send_errors(client: httpx.AsyncClient) -> None:
    sfmc = await setup(client)
    active = (await sfmc.create()).json()["id"]
    blank = (await sfmc.create(alert="")).json()["id"]
    draft = (await sfmc.create(status=1)).json()["id"]
    location = (
        await sfmc.create(
            messageType=3,
            sendInitiator=1,
            messagesPerPeriod=None,
            minutesPerPeriod=None,
            tzBased=None,
            inclusionLists=None,
            exclusionLists=None,
        )
    ).json()
    assert "id" in location, location
    no_lists = (await sfmc.create(inclusionLists=None, exclusionLists=None)).json()["id"]
    created = await client.post("/v1/lists", json={"name": "Members"}, headers=sfmc.headers())
    members = created.json()["id"]
    cases: list[tuple[str, str, Any, str]] = [
        ("messageContact", "bad id!", {}, "Message id bad id! is not valid."),
        ("messageContact", "AAAAAAAAAAAA", {}, "Message AAAAAAAAAAAA is not valid for the client."),
        (
            "messageContact",
            draft,
            {"deviceTokens": [TOKEN]},
            f"The status for Message {draft} is not set to Active.",
        ),
        (
            "messageContact",
            active,
            {},
            "One or more DeviceTokens must be specified in order to send a message.",
        ),
        (
            "messageContact",
            active,
            {"deviceTokens": []},
            "The count of DeviceTokens cannot be zero.",
        ),
        (
            "messageContact",
            active,
            {"deviceTokens": [f"t{i}" for i in range(5001)]},
            "The count of deviceTokens cannot exceed 5000.",
        ),
        (
            "messageContact",
            blank,
            {"deviceTokens": [TOKEN]},
            "Message is blank and no override message was provided.",
        ),
        (
            "messageContact",
            active,
            {"deviceTokens": [TOKEN], "override": True, "messageText": " "},
            "Cannot override message text with a blank message.",
        ),
        (
            "messageContact",
            active,
            {"deviceTokens": [TOKEN], "messageText": "x"},
            "MessageText is not applicable when Override is false.",
        ),
        (
            "messageContact",
            active,
            {"deviceTokens": [TOKEN], "sendTime": "2020-13-01 10:00"},
            "2020-13-01 10:00 is not a valid send time (yyyy-MM-dd HH:mm).",
        ),
        (
            "messageContact",
            active,
            {"deviceTokens": [TOKEN], "sendTime": "tomorrow"},
            "tomorrow is not a valid send time (yyyy-MM-dd HH:mm).",
        ),
        (
            "messageContact",
            active,
            {"deviceTokens": [TOKEN], "sendTime": "2999-01-01 10:00"},
            "sendTime: a send is scheduled at most a year ahead",
        ),
        (
            "messageContact",
            active,
            {"deviceTokens": [TOKEN], "inclusionTags": ["vip"]},
            "inclusionTags and exclusionTags are not supported yet",
        ),
        (
            "messageContact",
            active,
            {"deviceTokens": ["bad token"]},
            "deviceTokens[0]: a token is visible ASCII",
        ),
        ("messageContact", active, b"[]", "The request body must be a JSON object."),
        (
            "messageContact",
            location["id"],
            {"deviceTokens": [TOKEN]},
            f"Message {location['id']} is a location or beacon message",
        ),
        ("messageBatch", active, {"deviceTokens": [TOKEN]}, "message is required."),
        (
            "messageBatch",
            active,
            {"deviceTokens": [TOKEN], "message": {"alert": ""}},
            "Message is blank",
        ),
        ("messageList", no_lists, {}, "inclusionListIds is required."),
        ("messageList", active, {}, "Sends to more than one inclusion list are not supported"),
        (
            "messageList",
            active,
            {"inclusionListIds": ["lst_nope"]},
            "List lst_nope is not valid for the client.",
        ),
        (
            "messageList",
            no_lists,
            {"inclusionListIds": [members], "exclusionListIds": ["lst_gone"]},
            "List lst_gone is not valid for the client.",
        ),
        (
            "messageList",
            no_lists,
            {"inclusionListIds": [members], "inclusionTags": ["vip"]},
            "inclusionTags and exclusionTags cannot be combined with lists",
        ),
        (
            "messageList",
            no_lists,
            {"inclusionListIds": [members], "sendTime": "soon"},
            "soon is not a valid send time (yyyy-MM-dd HH:mm).",
        ),
        (
            "messageList",
            no_lists,
            {"inclusionListIds": [members], "sendTime": "2999-01-01 10:00"},
            "sendTime: a send is scheduled at most a year ahead",
        ),
        ("messageTag", no_lists, {}, "inclusionTags is required."),
        ("messageTag", no_lists, {"inclusionTags": []}, "inclusionTags is required."),
        ("messageTag", no_lists, {"inclusionTags": ["vip"], "unknown": 1}, "unknown"),
        (
            "messageTag",
            no_lists,
            {"inclusionTags": [f"t{i}" for i in range(101)]},
            "inclusionTags: ",
        ),
        (
            "messageTag",
            active,
            {"inclusionTags": ["vip"]},
            "List listID04 is not valid for the client.",
        ),
    ]
    for route, message_id, body, expected in cases:
        found = errors(await sfmc.send(route, message_id, body))
        assert any(line.startswith(expected) for line in found), (route, body, found)


async def test_sends_to_past_times_go_out_now(client: httpx.AsyncClient) -> None:
    sfmc = await setup(client)
    active = (await sfmc.create()).json()["id"]
    response = await sfmc.send(
        "messageContact", active, {"subscriberKeys": ["ann"], "sendTime": "2020-01-01 10:00"}
    )
    assert response.status_code == 202 and response.json()["tokenId"].startswith("snd_")
    status = await client.get(f"/v1/sends/{response.json()['tokenId']}", headers=sfmc.headers())
    assert status.status_code == 200


async def test_unknown_routes_answer_in_the_errors_body(client: httpx.AsyncClient) -> None:
    assert errors(await client.get("/push/v1/nothing"), 404)
    assert errors(await client.put("/push/v1/messageContact/x/send"), 404)
