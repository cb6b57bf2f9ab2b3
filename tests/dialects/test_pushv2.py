"""The pushv2 dialect: JSON and XML requests and answers, credentials and errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import defusedxml.ElementTree as SafeElementTree
import httpx

from clarion.api.app import create_app
from clarion.config import Settings
from clarion.store import sends as send_store
from tests.conftest import ADMIN_KEY, Project, admin_headers, make_project
from tests.delivery_env import DeliveryEnv

XSI = "http://www.w3.org/2001/XMLSchema-instance"
SAMPLE = {
    "UserId": "",
    "UserEmail": "",
    "UserExternalId": "",
    "Title": "",
    "Body": "",
    "Sound": False,
    "ExpirySecs": 0,
    "CompanyId": 0,
    "IntegrationKey": "",
}


def xml_body(fields: dict[str, Any], namespace: bool = True, root: str = "PushRequest") -> bytes:
    """An XML request as the platform's clients write it."""
    declaration = f' xmlns:i="{XSI}"' if namespace else ""
    parts = []
    for name, value in fields.items():
        if value is None:
            parts.append(f'<{name} i:nil="true" />')
        else:
            text = str(value).lower() if isinstance(value, bool) else str(value)
            parts.append(f"<{name}>{text}</{name}>")
    return f"<{root}{declaration}>{''.join(parts)}</{root}>".encode()


def xml_fields(response: httpx.Response) -> tuple[str, dict[str, Any]]:
    """Root name and children of an XML answer (nested elements as dicts)."""
    assert response.headers["content-type"].startswith("application/xml"), response.text
    root = SafeElementTree.fromstring(response.content)

    def read(element: Any) -> Any:
        children = list(element)
        if not children:
            return element.text
        return {child.tag: read(child) for child in children}

    return root.tag, read(root)


def json_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Check a JSON ResponseStatus error and return it."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error: dict[str, Any] = response.json()["ResponseStatus"]
    assert error["ErrorCode"] == code and error["Message"], error
    return error


async def test_sample_json_body_as_documented_names_the_missing_user(env: DeliveryEnv) -> None:
    response = await env.http.post(
        "/api/v2/push?format=json", json=SAMPLE | {"IntegrationKey": env.key}
    )
    error = json_error(response, 400, "ValidationException")
    assert {item["FieldName"] for item in error["Errors"]} == {
        "UserId",
        "UserEmail",
        "UserExternalId",
    }


async def test_json_push_reaches_every_device_of_the_user(env: DeliveryEnv) -> None:
    android = await env.android("pixel", external_id="ann")
    ios = await env.ios("iphone", external_id="ann")
    body = SAMPLE | {
        "UserExternalId": "ann",
        "Title": "Shift update",
        "Body": "Your form was approved",
        "Sound": True,
        "ExpirySecs": 600,
        "IntegrationKey": env.key,
    }
    response = await env.http.post("/api/v2/push?format=json", json=body)
    assert response.status_code == 200, response.text
    send_id = response.json()["Id"]
    assert response.json()["Status"] == "accepted"
    done = await env.wait_done(send_id)
    assert done["counts"]["sent"] == 2
    (fcm,) = [d for d in env.emulators.fcm.deliveries if d.target == android]
    message = fcm.payload.get("message", fcm.payload)
    assert message["notification"] == {"title": "Shift update", "body": "Your form was approved"}
    assert message["android"]["ttl"] == "600s"
    assert message["android"]["notification"]["sound"] == "default"
    (apns,) = [d for d in env.emulators.apns.deliveries if d.target == ios]
    assert apns.payload["aps"]["sound"] == "default"
    assert int(apns.headers["apns-expiration"]) > 0


async def test_xml_request_without_content_type_answers_xml(env: DeliveryEnv) -> None:
    ios = await env.ios("iphone", external_id="bea")
    contact = await env.http.put(
        "/v1/contacts/bea", json={"email": "bea@example.com"}, headers=env.headers
    )
    assert contact.status_code in (200, 201), contact.text
    fields = {
        "UserId": None,
        "UserEmail": "bea@example.com",
        "Title": "Hello",
        "Body": "From XML",
        "Sound": False,
        "ExpirySecs": 0,
        "CompanyId": 42,
        "IntegrationKey": env.key,
    }
    response = await env.http.post("/api/v2/push?format=xml", content=xml_body(fields))
    assert response.status_code == 200, response.text
    root, answer = xml_fields(response)
    assert root == "PushResponse" and answer["Status"] == "accepted"
    assert response.content.count(XSI.encode()) == 1
    assert (await env.wait_done(answer["Id"]))["counts"]["sent"] == 1
    (apns,) = [d for d in env.emulators.apns.deliveries if d.target == ios]
    assert apns.payload["aps"]["alert"] == {"title": "Hello", "body": "From XML"}
    assert "sound" not in apns.payload["aps"] and "apns-expiration" not in apns.headers
    (trail,) = await env.deliveries(answer["Id"])
    assert trail["recipient"] == {"kind": "email", "value": "bea@example.com"}


async def test_user_id_wins_over_the_other_identifiers(env: DeliveryEnv) -> None:
    chosen = await env.android("chosen", external_id="u-1")
    other = await env.android("other", external_id="u-2")
    body = {
        "userid": "u-1",
        "UserExternalId": "u-2",
        "Body": "only u-1",
        "CompanyId": 1,
        "IntegrationKey": env.key,
    }
    response = await env.http.post(
        "/api/v2/push", content=xml_body(body), headers={"Content-Type": "application/xml"}
    )
    assert response.status_code == 200, response.text
    _, answer = xml_fields(response)
    assert (await env.wait_done(answer["Id"]))["counts"]["sent"] == 1
    assert [d.target for d in env.emulators.fcm.deliveries] == [chosen]
    assert other not in [d.target for d in env.emulators.fcm.deliveries]


def valid(project: Project, **changes: Any) -> dict[str, Any]:
    """A valid request body, with some fields changed."""
    return {
        "UserExternalId": "ann",
        "Title": "T",
        "Body": "B",
        "CompanyId": 7,
        "IntegrationKey": project.key,
    } | changes


async def test_credentials(client: httpx.AsyncClient, project: Project) -> None:
    url = "/api/v2/push?format=json"
    ok = await client.post(url, json=valid(project))
    assert ok.status_code == 200 and ok.json()["Id"].startswith("snd_")
    missing = json_error(
        await client.post(url, json=valid(project, CompanyId=None, IntegrationKey="")),
        400,
        "ValidationException",
    )
    assert [e["FieldName"] for e in missing["Errors"]] == ["CompanyId", "IntegrationKey"]
    assert missing["Errors"][0]["ErrorCode"] == "NotEmpty"
    json_error(
        await client.post(url, json=valid(project, IntegrationKey="clk_a_b")), 401, "Unauthorized"
    )
    reader = await client.post(
        "/v1/keys", json={"scopes": ["read"]}, headers=admin_headers(project.id)
    )
    json_error(
        await client.post(url, json=valid(project, IntegrationKey=reader.json()["key"])),
        403,
        "Forbidden",
    )
    response = await client.post(
        "/api/v2/push", content=xml_body(valid(project, IntegrationKey="x"))
    )
    root, answer = xml_fields(response)
    assert response.status_code == 401 and root == "ErrorResponse"
    assert answer["ResponseStatus"]["ErrorCode"] == "Unauthorized"


async def test_key_limited_to_an_app_only_reaches_that_app(
    client: httpx.AsyncClient, project: Project
) -> None:
    for app_id in ("mine", "theirs"):
        created = await client.post(
            "/v1/apps",
            json={"id": f"{project.id}-{app_id}", "name": app_id},
            headers=project.headers,
        )
        assert created.status_code == 201
    limited = await client.post(
        "/v1/keys",
        json={"scopes": ["send"], "app_ids": [f"{project.id}-mine"]},
        headers=admin_headers(project.id),
    )
    response = await client.post(
        "/api/v2/push?format=json", json=valid(project, IntegrationKey=limited.json()["key"])
    )
    assert response.status_code == 200, response.text
    state = client._transport.app.state.clarion  # type: ignore[attr-defined]
    async with state.engine.connect() as conn:
        row = await send_store.get_send(conn, response.json()["Id"])
    assert row is not None and row["request"]["apps"] == [f"{project.id}-mine"]


VALIDATION_CASES: list[tuple[dict[str, Any], str, str]] = [
    ({"Title": None, "Body": None}, "Body", "NotEmpty"),
    ({"Sound": "yes"}, "Sound", "InvalidValue"),
    ({"ExpirySecs": -1}, "ExpirySecs", "InvalidValue"),
    ({"ExpirySecs": 28 * 86400 + 1}, "ExpirySecs", "InvalidValue"),
    ({"ExpirySecs": "60"}, "ExpirySecs", "InvalidValue"),
    ({"CompanyId": "acme"}, "CompanyId", "InvalidValue"),
    ({"CompanyId": True}, "CompanyId", "InvalidValue"),
    ({"UserExternalId": None, "UserEmail": "not-an-email"}, "UserEmail", "InvalidValue"),
    ({"UserExternalId": 12}, "UserExternalId", "InvalidValue"),
    ({"UserExternalId": " "}, "UserExternalId", "InvalidValue"),
    ({"UserId": "x" * 300}, "UserId", "InvalidValue"),
    ({"Title": "{{ broken"}, "Title", "InvalidValue"),
]


async def test_validation_errors_name_the_field(
    client: httpx.AsyncClient, project: Project
) -> None:
    for changes, field, code in VALIDATION_CASES:
        response = await client.post("/api/v2/push?format=json", json=valid(project, **changes))
        error = json_error(response, 400, "ValidationException")
        assert error["Errors"][0]["FieldName"] == field, (changes, error)
        assert error["Errors"][0]["ErrorCode"] == code, (changes, error)


async def test_xml_values_are_typed(client: httpx.AsyncClient, project: Project) -> None:
    for changes, field in (
        ({"ExpirySecs": "soon"}, "ExpirySecs"),
        ({"Sound": "loud"}, "Sound"),
        ({"CompanyId": "x"}, "CompanyId"),
    ):
        response = await client.post(
            "/api/v2/push?format=json", content=xml_body(valid(project, **changes))
        )
        error = json_error(response, 400, "ValidationException")
        assert error["Errors"][0]["FieldName"] == field
    sound = await client.post(
        "/api/v2/push?format=json", content=xml_body(valid(project, Sound=True, ExpirySecs=30))
    )
    assert sound.status_code == 200, sound.text


async def test_unreadable_bodies(client: httpx.AsyncClient, project: Project) -> None:
    url = "/api/v2/push?format=json"
    json_headers = {"Content-Type": "application/json"}
    for raw in (b"{", b"[]", b"\xff"):
        response = await client.post(url, content=raw, headers=json_headers)
        json_error(response, 400, "SerializationException")
    entity_bomb = (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
        b'<PushRequest xmlns:i="' + XSI.encode() + b'"><Body>&b;</Body></PushRequest>'
    )
    for raw in (b"<PushRequest", xml_body(valid(project), namespace=False), entity_bomb):
        json_error(await client.post(url, content=raw), 400, "SerializationException")
    plain = await client.post(url, content=b"x", headers={"Content-Type": "text/plain"})
    json_error(plain, 415, "UnsupportedMediaType")
    bad_format = await client.post("/api/v2/push?format=csv", json=valid(project))
    assert json_error(bad_format, 400, "ValidationException")["Errors"][0]["FieldName"] == "format"


async def test_response_format_follows_the_query_then_the_request(
    client: httpx.AsyncClient, project: Project
) -> None:
    as_json = await client.post("/api/v2/push", json=valid(project))
    assert as_json.status_code == 200 and as_json.json()["Status"] == "accepted"
    as_xml = await client.post("/api/v2/push?format=XML", json=valid(project))
    assert xml_fields(as_xml)[0] == "PushResponse"
    json_from_xml = await client.post("/api/v2/push?format=json", content=xml_body(valid(project)))
    assert json_from_xml.json()["Status"] == "accepted"


async def test_unknown_routes_and_methods(client: httpx.AsyncClient) -> None:
    json_error(await client.get("/api/v2/push?format=json"), 405, "MethodNotAllowed")
    json_error(await client.post("/api/v2/users?format=json", json={}), 404, "NotFound")
    root, answer = xml_fields(await client.delete("/api/v2/push/1"))
    assert root == "ErrorResponse" and answer["ResponseStatus"]["ErrorCode"] == "NotFound"


async def test_unreachable_database_and_server_errors(tmp_path: Path) -> None:
    unreachable = Settings(
        database_url="postgresql+asyncpg://postgres@127.0.0.1:1/clarion",
        var_dir=tmp_path / "var1",
        secret_key="test-secret",
        inprocess_workers=False,
    )
    broken = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'broken.db'}",
        var_dir=tmp_path / "var2",
        admin_key=ADMIN_KEY,
        secret_key="test-secret",
        inprocess_workers=False,
    )
    body = {"UserId": "u", "Body": "b", "CompanyId": 1, "IntegrationKey": "clk_a_b"}
    app = create_app(unreachable, migrate=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://clarion.test") as http:
            response = await http.post("/api/v2/push?format=json", json=body)
    json_error(response, 503, "ServiceUnavailable")
    app = create_app(broken)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://clarion.test") as http:
            # A database of its own: the table this test breaks is shared with no other test.
            project = await make_project(http)
            async with app.state.clarion.engine.begin() as conn:
                await conn.exec_driver_sql("DROP TABLE sends")
            response = await http.post(
                "/api/v2/push?format=json", json=body | {"IntegrationKey": project.key}
            )
    json_error(response, 500, "InternalServerError")


async def test_lenient_reading_like_the_platform(
    client: httpx.AsyncClient, project: Project
) -> None:
    extra = await client.post(
        "/api/v2/push?format=json", json=valid(project, DeviceType="ios", Badge=3)
    )
    assert extra.status_code == 200, extra.text
    fields = "".join(f"<{name}>{value}</{name}>" for name, value in valid(project).items())
    contract = (
        f'<Push xmlns:x="{XSI}" xmlns="http://schemas.datacontract.org/2004/07/Api">{fields}</Push>'
    ).encode()
    response = await client.post("/api/v2/push?format=json", content=contract)
    assert response.status_code == 200, response.text
    assert response.json()["Status"] == "accepted"
