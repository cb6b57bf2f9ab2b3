"""Requests that used to answer 500, or 201 and then fail, are refused with 400 naming the field."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx

from tests.conftest import Project, error_of
from tests.hostile import JSON, encoded, nested
from tests.keys_for_tests import browser_subscription, p8_key


def refused(response: httpx.Response, field: str) -> str:
    """A 400 naming `field`; returns the message."""
    assert response.status_code == 400, (field, response.status_code, response.text)
    error = error_of(response)
    assert error["field"] == field, (field, error)
    message: str = error["message"]
    return message


def cursor_of(value: Any) -> str:
    """A cursor spelled the way the server spells its own."""
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


async def make_app(client: httpx.AsyncClient, project: Project) -> str:
    """An app of the project, with one Android device of contact ann."""
    app_id = f"{project.id}-app"
    created = await client.post(
        "/v1/apps", json={"id": app_id, "name": "App"}, headers=project.headers
    )
    assert created.status_code == 201, created.text
    device = await client.put(
        f"/v1/apps/{app_id}/installations/dev-1",
        json={"platform": "android", "token": "tok-1", "external_id": "ann"},
        headers=project.headers,
    )
    assert device.status_code in (200, 201), device.text
    return app_id


async def test_crafted_cursors_answer_400_or_an_empty_page(
    client: httpx.AsyncClient, project: Project
) -> None:
    app_id = await make_app(client, project)
    listed = await client.post("/v1/lists", json={"name": "L"}, headers=project.headers)
    list_id = listed.json()["id"]
    paths = [
        "/v1/contacts",
        "/v1/apps",
        "/v1/lists",
        "/v1/templates",
        "/v1/segments",
        f"/v1/apps/{app_id}/installations",
        f"/v1/lists/{list_id}/members",
        "/v1/contacts/ann/inbox",
    ]
    for path in paths:
        crafted = [cursor_of(v) for v in (True, False, 2**64, -(2**70), "a\x00b", [1])]
        crafted.append(base64.urlsafe_b64encode(b"1e400").decode())
        for cursor in crafted:
            response = await client.get(path, params={"cursor": cursor}, headers=project.headers)
            refused(response, "cursor")
        # A 64-bit key beyond what a 32-bit column holds is no row of ours: an empty page.
        response = await client.get(
            path, params={"cursor": cursor_of(2**40)}, headers=project.headers
        )
        assert response.status_code == 200, (path, response.text)
        assert response.json()["data"] == []


async def test_inbox_ids_beyond_64_bits(client: httpx.AsyncClient, project: Project) -> None:
    await make_app(client, project)
    for item_id in (2**64, 10**30):
        refused(
            await client.post(f"/v1/contacts/ann/inbox/{item_id}/read", headers=project.headers),
            "item_id",
        )
        refused(
            await client.delete(f"/v1/contacts/ann/inbox/{item_id}", headers=project.headers),
            "item_id",
        )
    # Within 64 bits but beyond any stored id: not found, whatever the column's width.
    missing = await client.delete(f"/v1/contacts/ann/inbox/{2**40}", headers=project.headers)
    assert missing.status_code == 404, missing.text


async def test_deep_attributes_are_refused_and_reads_keep_working(
    client: httpx.AsyncClient, project: Project
) -> None:
    app_id = await make_app(client, project)
    writes = [
        ("/v1/contacts/ann", {"attributes": {"deep": nested(255)}}),
        (
            f"/v1/apps/{app_id}/installations/dev-1",
            {"platform": "android", "token": "tok-1", "attributes": {"deep": nested(300)}},
        ),
    ]
    for path, body in writes:
        response = await client.put(path, content=encoded(body), headers=project.headers | JSON)
        assert response.status_code == 400, response.text
        assert error_of(response)["field"].startswith("attributes.deep.a.a"), response.text
    # 32 levels in all is the limit: attributes.deep plus 29 levels is still accepted.
    fits = await client.put(
        "/v1/contacts/ann", json={"attributes": {"deep": nested(29)}}, headers=project.headers
    )
    assert fits.status_code == 200, fits.text
    for path in ("/v1/contacts/ann", "/v1/contacts", f"/v1/apps/{app_id}/installations/dev-1"):
        assert (await client.get(path, headers=project.headers)).status_code == 200


async def test_member_lists_refuse_deep_json_and_read_awkward_csv(
    client: httpx.AsyncClient, project: Project
) -> None:
    listed = await client.post("/v1/lists", json={"name": "L"}, headers=project.headers)
    members = f"/v1/lists/{listed.json()['id']}/members"
    deep = b'{"external_ids": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    response = await client.post(members, content=deep, headers=project.headers | JSON)
    assert response.status_code == 400, response.text
    csv = project.headers | {"content-type": "text/csv"}
    huge = b"external_id\n" + b"a" * (130 * 1024) + b"\n"
    refused(await client.post(members, content=huge, headers=csv), "body")
    quoted = b'external_id\n"' + b"a" * (200 * 1024) + b'"\n'
    refused(await client.post(members, content=quoted, headers=csv), "body")
    refused(
        await client.post(members, content=b"external_id\nann\nb\x00b\n", headers=csv), "body[1]"
    )
    cr_only = await client.post(members, content=b"external_id\rann\rbob\rcid\r", headers=csv)
    assert cr_only.status_code == 200, cr_only.text
    page = await client.get(members, headers=project.headers)
    assert sorted(m["external_id"] for m in page.json()["data"]) == ["ann", "bob", "cid"]


async def test_a_lone_surrogate_recipient_is_refused_not_accepted(
    client: httpx.AsyncClient, project: Project
) -> None:
    body = {"recipients": {"external_ids": ["ann", "a\ud800b"]}, "content": {"body": "x"}}
    response = await client.post("/v1/sends", content=encoded(body), headers=project.headers | JSON)
    assert "surrogate" in refused(response, "recipients.external_ids[1]")
    listed = await client.get("/v1/sends", headers=project.headers)
    assert listed.json()["data"] == []


async def test_numbers_in_segment_filters(client: httpx.AsyncClient, project: Project) -> None:
    for literal in (b"1e400", b"NaN", b"18446744073709551616"):
        raw = b'{"name": "S", "filter": {"contact_attributes": {"age": ' + literal + b"}}}"
        response = await client.post("/v1/segments", content=raw, headers=project.headers | JSON)
        refused(response, "filter.contact_attributes.age")
        raw = b'{"audience": {"filter": {"contact_attributes": {"age": ' + literal + b"}}}"
        raw += b', "content": {"body": "x"}}'
        response = await client.post("/v1/sends", content=raw, headers=project.headers | JSON)
        refused(response, "audience.filter.contact_attributes.age")


async def test_header_values_must_be_printable_ascii(
    client: httpx.AsyncClient, project: Project
) -> None:
    app_id = await make_app(client, project)
    send = {"recipients": {"tokens": ["t"]}, "content": {"body": "x"}}
    for collapse_key in ("a\r\nb", "a\nb", "clé", "a\tb"):
        body = {**send, "options": {"collapse_key": collapse_key}}
        refused(
            await client.post("/v1/sends", json=body, headers=project.headers),
            "options.collapse_key",
        )
    template = {"name": "T", "contents": [{"body": "x"}], "options": {"collapse_key": "a\rb"}}
    refused(
        await client.post("/v1/templates", json=template, headers=project.headers),
        "options.collapse_key",
    )
    apns = {
        "team_id": "ABCDE12345",
        "key_id": "KEY1234567",
        "private_key": p8_key(),
        "topic": "com.example.app\r\nx-injected: 1",
    }
    refused(
        await client.put(f"/v1/apps/{app_id}/providers/apns", json=apns, headers=project.headers),
        "topic",
    )


async def test_urls_cannot_carry_line_breaks(client: httpx.AsyncClient, project: Project) -> None:
    app_id = await make_app(client, project)
    for url in ("https://example.com/a\r\nb.png", "https://example.com/a b.png"):
        body = {
            "recipients": {"tokens": ["t"]},
            "content": {"body": "x", "media": {"image": url}},
            "options": {"skip_media_check": True},
        }
        refused(
            await client.post("/v1/sends", json=body, headers=project.headers),
            "content.media.image",
        )
    subscription = browser_subscription("https://push.example.test/sub/1\n")
    response = await client.put(
        f"/v1/apps/{app_id}/installations/browser-1",
        json={"platform": "web", "subscription": subscription},
        headers=project.headers,
    )
    refused(response, "subscription.endpoint")


async def test_utf8_encoded_surrogates_are_not_json(
    client: httpx.AsyncClient, project: Project
) -> None:
    raw = b'{"recipients": {"external_ids": ["a\xed\xa0\x80b"]}, "content": {"body": "x"}}'
    response = await client.post("/v1/sends", content=raw, headers=project.headers | JSON)
    assert response.status_code == 400, response.text
    assert error_of(response)["code"] == "MALFORMED_JSON_BODY"


async def test_event_delivery_ids_beyond_a_32_bit_column(
    client: httpx.AsyncClient, project: Project
) -> None:
    app_id = await make_app(client, project)
    app = await client.get(f"/v1/apps/{app_id}", headers=project.headers)
    headers = {"Clarion-App-Key": app.json()["public_key"]}
    body = {"installation_id": "dev-1", "type": "opened", "delivery_id": 2**40}
    response = await client.post("/v1/events", json=body, headers=headers)
    assert response.status_code == 404, response.text
    assert error_of(response)["field"] == "delivery_id"
    body["delivery_id"] = True
    refused(await client.post("/v1/events", json=body, headers=headers), "delivery_id")
