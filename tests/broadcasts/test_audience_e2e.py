"""Broadcast audiences reach exactly the right devices at the emulators."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update

from clarion.store.engine import create_engine
from clarion.store.tables import installations
from clarion.store.types import utcnow
from tests.broadcasts.support import arrivals, broadcast, reached, seed_audience
from tests.conftest import error_of
from tests.delivery_env import DeliveryEnv

EVERYONE = {"ann-ios", "ann-android", "bob-web", "carol-ios", "anon-ios"}


async def _new_list(env: DeliveryEnv, *external_ids: str) -> str:
    created = await env.http.post("/v1/lists", json={"name": "l"}, headers=env.headers)
    list_id: str = created.json()["id"]
    await env.http.post(
        f"/v1/lists/{list_id}/members",
        json={"external_ids": list(external_ids)},
        headers=env.headers,
    )
    return list_id


async def test_audience_all_reaches_every_device_once(env: DeliveryEnv) -> None:
    addresses = await seed_audience(env)
    done = await broadcast(env, audience={"all": True})
    assert done["kind"] == "broadcast" and done["status"] == "done"
    assert done["counts"]["targeted"] == 5 and done["counts"]["sent"] == 5, done
    assert arrivals(env, addresses) == Counter(dict.fromkeys(EVERYONE, 1))
    trail = {d["installation_id"]: d for d in await env.deliveries(done["id"])}
    assert trail["ann-ios"]["recipient"] == {"kind": "external_id", "value": "ann"}
    assert trail["anon-ios"]["recipient"] == {"kind": "installation_id", "value": "anon-ios"}


async def test_list_and_exclusion_audiences(env: DeliveryEnv) -> None:
    await seed_audience(env)
    ann_and_bob = await _new_list(env, "ann", "bob")
    bob_only = await _new_list(env, "bob")
    done = await broadcast(env, audience={"list_id": ann_and_bob})
    assert await reached(env, done["id"]) == {"ann-ios", "ann-android", "bob-web"}
    done = await broadcast(env, audience={"list_id": ann_and_bob}, exclude_lists=[bob_only])
    assert await reached(env, done["id"]) == {"ann-ios", "ann-android"}
    # Devices without a contact are in no list, so no exclusion list removes them.
    done = await broadcast(env, audience={"all": True}, exclude_lists=[bob_only])
    assert await reached(env, done["id"]) == EVERYONE - {"bob-web"}


async def _filtered(env: DeliveryEnv, flt: dict[str, Any]) -> set[str]:
    done = await broadcast(env, audience={"filter": flt})
    return await reached(env, done["id"])


async def test_inline_filters_select_the_right_devices(env: DeliveryEnv) -> None:
    await seed_audience(env)
    assert await _filtered(env, {"platforms": ["ios"]}) == {"ann-ios", "carol-ios", "anon-ios"}
    assert await _filtered(env, {"languages": ["fr"]}) == {"ann-ios", "carol-ios"}
    assert await _filtered(env, {"languages": ["fr-CA"]}) == {"ann-ios"}
    assert await _filtered(env, {"tags": {"any": ["news"]}}) == {"ann-ios", "bob-web"}
    assert await _filtered(env, {"tags": {"all": ["news", "sports"]}}) == {"ann-ios"}
    assert await _filtered(env, {"tags": {"none": ["news"]}}) == {
        "ann-android",
        "carol-ios",
        "anon-ios",
    }
    assert await _filtered(env, {"contact_attributes": {"plan": "gold"}}) == {
        "ann-ios",
        "ann-android",
    }
    assert await _filtered(env, {"contact_attributes": {"age": 41}}) == {"ann-ios", "ann-android"}
    # The attribute is the string "2": the number 2 does not match it.
    assert await _filtered(env, {"installation_attributes": {"version": "2"}}) == {"ann-ios"}
    done = await broadcast(env, audience={"filter": {"installation_attributes": {"version": 2}}})
    assert done["counts"]["targeted"] == 0 and done["status"] == "done"
    assert await _filtered(env, {"has_phone": True}) == {"bob-web"}
    assert await _filtered(env, {"has_email": False, "platforms": ["ios"]}) == {
        "carol-ios",
        "anon-ios",
    }
    # Zone of the device, else of its contact, else UTC.
    assert await _filtered(env, {"timezones": ["America/New_York", "Asia/Tokyo"]}) == {
        "bob-web",
        "anon-ios",
    }
    assert await _filtered(env, {"timezones": ["UTC"]}) == {"ann-android", "carol-ios"}
    assert await _filtered(env, {"last_engaged": {"within_days": 30}}) == set()


async def test_saved_segment_audience(env: DeliveryEnv) -> None:
    await seed_audience(env)
    created = await env.http.post(
        "/v1/segments",
        json={"name": "news readers", "filter": {"tags": {"any": ["news"]}}},
        headers=env.headers,
    )
    segment_id = created.json()["id"]
    done = await broadcast(env, audience={"segment_id": segment_id})
    assert await reached(env, done["id"]) == {"ann-ios", "bob-web"}


async def test_apps_filter_and_only_last_engaged(env: DeliveryEnv) -> None:
    await seed_audience(env)
    other_app = f"{env.project_id}-other"
    await env.http.post("/v1/apps", json={"id": other_app, "name": "Other"}, headers=env.headers)
    await env.http.put(
        f"/v1/apps/{other_app}/installations/elsewhere",
        json={"platform": "ios", "token": "ab" * 32, "external_id": "carol"},
        headers=env.headers,
    )
    done = await broadcast(env, audience={"all": True}, apps=[env.app_id])
    assert await reached(env, done["id"]) == EVERYONE
    assert done["counts"]["targeted"] == 5
    # Without updates, the latest registered device of a contact is its most recent one;
    # carol's newer device is in another app, so the app filter keeps her iOS device.
    done = await broadcast(env, audience={"all": True}, apps=[env.app_id], only_last_engaged=True)
    assert await reached(env, done["id"]) == {"ann-android", "bob-web", "carol-ios", "anon-ios"}
    await env.ios("ann-ios", external_id="ann", language="fr-CA")
    done = await broadcast(env, audience={"all": True}, apps=[env.app_id], only_last_engaged=True)
    assert await reached(env, done["id"]) == {"ann-ios", "bob-web", "carol-ios", "anon-ios"}


async def test_audience_errors(env: DeliveryEnv) -> None:
    async def refused(body: dict[str, Any]) -> dict[str, Any]:
        response = await env.http.post(
            "/v1/sends", json={"content": {"body": "x"}} | body, headers=env.headers
        )
        assert response.status_code in (400, 404), response.text
        return error_of(response)

    assert (await refused({"audience": {}}))["field"] == "audience"
    assert (await refused({"audience": {"all": True, "list_id": "x"}}))["field"] == "audience"
    missing = await refused({"audience": {"list_id": "lst_nope"}})
    assert missing["code"] == "NOT_FOUND" and missing["field"] == "audience.list_id"
    excluded = await refused({"audience": {"all": True}, "exclude_lists": ["lst_nope"]})
    assert excluded["field"] == "exclude_lists[0]"
    segment = await refused({"audience": {"segment_id": "seg_nope"}})
    assert segment["field"] == "audience.segment_id"
    bad_filter = await refused({"audience": {"filter": {"tags": {"any": "news"}}}})
    assert bad_filter["field"] == "audience.filter.tags.any"
    both = await refused({"audience": {"all": True}, "recipients": {"external_ids": ["a"]}})
    assert both["field"] == "recipients"
    too_many = await refused(
        {"audience": {"all": True}, "exclude_lists": [f"l{i}" for i in range(21)]}
    )
    assert too_many["field"] == "exclude_lists"
    too_long = await refused({"audience": {"all": True}, "exclude_lists": ["x" * 41]})
    assert too_long["field"] == "exclude_lists[0]"
    stray = await refused({"recipients": {"external_ids": ["a"]}, "only_last_engaged": True})
    assert stray["field"] == "only_last_engaged"


async def test_broadcast_idempotency_key_replays_the_first_send(env: DeliveryEnv) -> None:
    await seed_audience(env)
    body = {"audience": {"all": True}, "content": {"body": "once"}}
    key = {"Idempotency-Key": "weekly-news-42"}
    first = await env.http.post("/v1/sends", json=body, headers=env.headers | key)
    again = await env.http.post("/v1/sends", json=body, headers=env.headers | key)
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"] and again.json()["replayed"] is True
    other = await env.http.post(
        "/v1/sends", json=body | {"content": {"body": "twice"}}, headers=env.headers | key
    )
    assert other.status_code == 409
    done = await env.wait_done(first.json()["id"])
    assert done["counts"]["sent"] == 5


async def _engaged(database_url: str, when: dict[str, datetime]) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            for installation_id, at in when.items():
                await conn.execute(
                    update(installations)
                    .where(installations.c.installation_id == installation_id)
                    .values(last_engaged_at=at)
                )
    finally:
        await engine.dispose()


async def test_last_engaged_filters_and_device_choice(env: DeliveryEnv, database_url: str) -> None:
    await seed_audience(env)
    now = utcnow()
    await _engaged(
        database_url, {"ann-ios": now - timedelta(days=2), "carol-ios": now - timedelta(days=40)}
    )
    assert await _filtered(env, {"last_engaged": {"within_days": 7}}) == {"ann-ios"}
    before = (now - timedelta(days=30)).isoformat()
    assert await _filtered(env, {"last_engaged": {"before": before}}) == {"carol-ios"}
    after = (now - timedelta(days=60)).isoformat()
    assert await _filtered(env, {"last_engaged": {"after": after}}) == {"ann-ios", "carol-ios"}
    ann = {"list_id": await _new_list(env, "ann")}
    # Never engaged, ann's Android device counts by its last update (just now).
    done = await broadcast(env, audience=ann, only_last_engaged=True)
    assert await reached(env, done["id"]) == {"ann-android"}
    # Engaged five days ago, it is now older than her iOS device (two days ago).
    await _engaged(database_url, {"ann-android": now - timedelta(days=5)})
    done = await broadcast(env, audience=ann, only_last_engaged=True)
    assert await reached(env, done["id"]) == {"ann-ios"}
