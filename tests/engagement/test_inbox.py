"""Inbox: items stored per contact by sends, listed newest first, read, deleted, expired."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from clarion.store import inbox as inbox_store
from clarion.store.engine import create_engine
from clarion.store.inbox import inbox_items
from clarion.store.types import utcnow
from tests.delivery_env import DeliveryEnv


async def inbox(env: DeliveryEnv, external_id: str, **params: str) -> dict[str, Any]:
    """One page of a contact's inbox."""
    response = await env.http.get(
        f"/v1/contacts/{external_id}/inbox", params=params, headers=env.headers
    )
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


async def test_a_send_stores_one_item_per_contact(env: DeliveryEnv) -> None:
    await env.ios("phone-a", external_id="ann")
    await env.android("tablet-a", external_id="ann")
    # cid's only device is dead: the inbox still keeps its copy.
    env.emulators.apns.unregister_device(await env.ios("phone-c", external_id="cid"))
    await env.http.put(
        "/v1/contacts/bob", json={"attributes": {"name": "Bob"}}, headers=env.headers
    )
    first = await env.wait_done(
        await env.send(
            {
                "recipients": {"external_ids": ["ann", "bob", "cid"]},
                "content": {
                    "title": "Sale {{ contact.external_id }}",
                    "body": "First",
                    "deeplink": "app://sale",
                    "data": {"sku": "42"},
                },
                "inbox": {"expires_in": 3600},
            }
        )
    )
    assert first["counts"]["sent"] == 2
    second = await env.wait_done(
        await env.send(
            {"recipients": {"external_ids": ["ann"]}, "content": {"body": "Second"}, "inbox": {}}
        )
    )
    items = (await inbox(env, "ann"))["data"]
    assert [i["body"] for i in items] == ["Second", "First"]
    assert items[1]["title"] == "Sale ann" and items[1]["deeplink"] == "app://sale"
    assert items[1]["data"] == {"sku": "42"} and items[1]["send_id"] == first["id"]
    assert items[0]["expires_at"] is None and items[1]["expires_at"] is not None
    assert items[0]["send_id"] == second["id"] and not items[0]["read"]
    # A contact without any device still gets its item, personalized for it.
    bob = (await inbox(env, "bob"))["data"]
    assert [(i["title"], i["body"]) for i in bob] == [("Sale bob", "First")]
    cid = (await inbox(env, "cid"))["data"]
    assert [(i["title"], i["body"]) for i in cid] == [("Sale cid", "First")]

    page = await inbox(env, "ann", limit="1")
    assert [i["body"] for i in page["data"]] == ["Second"]
    rest = await inbox(env, "ann", limit="1", cursor=page["next_cursor"])
    assert [i["body"] for i in rest["data"]] == ["First"]

    item_id = items[1]["id"]
    read = await env.http.post(f"/v1/contacts/ann/inbox/{item_id}/read", headers=env.headers)
    assert read.status_code == 200 and read.json()["read"] is True
    again = await env.http.post(f"/v1/contacts/ann/inbox/{item_id}/read", headers=env.headers)
    assert again.json()["read_at"] == read.json()["read_at"]
    # Items are only reachable through their own contact.
    other = await env.http.post(f"/v1/contacts/bob/inbox/{item_id}/read", headers=env.headers)
    assert other.status_code == 404
    gone = await env.http.delete(f"/v1/contacts/ann/inbox/{item_id}", headers=env.headers)
    assert gone.status_code == 204
    assert [i["body"] for i in (await inbox(env, "ann"))["data"]] == ["Second"]
    twice = await env.http.delete(f"/v1/contacts/ann/inbox/{item_id}", headers=env.headers)
    assert twice.status_code == 404
    unknown = await env.http.get("/v1/contacts/nobody/inbox", headers=env.headers)
    assert unknown.status_code == 404


async def test_inbox_only_sends_push_nothing(env: DeliveryEnv) -> None:
    token = await env.ios("phone-a", external_id="ann")
    endpoint = await env.web("browser-a", external_id="ann")
    done = await env.wait_done(
        await env.send(
            {
                "recipients": {"external_ids": ["ann"]},
                "content": {"title": "Quiet", "body": "Only in the inbox"},
                "inbox_only": True,
            }
        )
    )
    assert done["counts"]["inboxed"] == 2 and done["counts"]["sent"] == 0
    assert not [d for d in env.emulators.apns.deliveries if d.target == token]
    assert not [d for d in env.emulators.webpush.deliveries if d.target == endpoint]
    items = (await inbox(env, "ann"))["data"]
    assert [(i["title"], i["body"]) for i in items] == [("Quiet", "Only in the inbox")]


async def test_expired_items_are_not_listed(env: DeliveryEnv, database_url: str) -> None:
    await env.ios("phone-a", external_id="ann")
    await env.wait_done(
        await env.send(
            {
                "recipients": {"external_ids": ["ann"]},
                "content": {"body": "Short-lived"},
                "inbox": {"expires_in": 60},
            }
        )
    )
    [item] = (await inbox(env, "ann"))["data"]
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            query = select(inbox_items.c.contact_pk).where(inbox_items.c.id == item["id"])
            contact_pk = int((await conn.execute(query)).scalar_one())
            later = utcnow() + timedelta(seconds=61)
            assert await inbox_store.list_items(conn, contact_pk, later, None, 10) == []
            earlier = utcnow() + timedelta(seconds=59)
            assert len(await inbox_store.list_items(conn, contact_pk, earlier, None, 10)) == 1
    finally:
        await engine.dispose()
