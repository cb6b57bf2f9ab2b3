"""dengage SendInstantPush broadcasts, SendTransactionalPush SMS fallback and inbox, end to end."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from clarion.store.types import utcnow
from tests.broadcasts.support import arrivals, seed_audience
from tests.delivery_env import DeliveryEnv
from tests.dialects.test_dengage_e2e import _push, _template

CONTENT = {"title": "Sale", "message": "Today only"}


async def _instant(env: DeliveryEnv, body: dict[str, Any]) -> dict[str, Any]:
    response = await env.http.post("/api/push/instant", json=body, headers=env.headers)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    assert answer["success"] is True
    uuid.UUID(answer["trackingId"])
    return answer


async def _created(env: DeliveryEnv, path: str, body: dict[str, Any]) -> str:
    response = await env.http.post(path, json=body, headers=env.headers)
    assert response.status_code == 201, response.text
    created: str = response.json()["id"]
    return created


async def test_segment_send_reaches_the_segment_and_tracking_id_is_idempotent(
    env: DeliveryEnv,
) -> None:
    addresses = await seed_audience(env)
    segment = await _created(
        env, "/v1/segments", {"name": "News", "filter": {"tags": {"any": ["news"]}}}
    )
    tracking = str(uuid.uuid4())
    body = {
        "applicationIds": [env.app_id],
        "content": CONTENT,
        "segmentId": segment,
        "trackingId": tracking,
    }
    answer = await _instant(env, body)
    assert answer["trackingId"] == tracking
    done = await env.wait_done(answer["messageId"])
    assert done["kind"] == "broadcast" and done["counts"]["sent"] == 2, done
    assert set(arrivals(env, addresses)) == {"ann-ios", "bob-web"}
    (apns,) = env.emulators.apns.deliveries
    assert apns.payload["aps"]["alert"] == {"title": "Sale", "body": "Today only"}
    assert (await _instant(env, body))["messageId"] == answer["messageId"]
    changed = await env.http.post(
        "/api/push/instant", json={**body, "content": {"message": "Other"}}, headers=env.headers
    )
    assert changed.status_code == 409 and changed.json()["field"] == "trackingId"
    assert len(env.emulators.apns.deliveries) == 1


async def test_table_send_with_languages_and_only_last_engaged_tokens(env: DeliveryEnv) -> None:
    addresses = await seed_audience(env)
    table = await _created(env, "/v1/lists", {"name": "Members"})
    added = await env.http.post(
        f"/v1/lists/{table}/members", json={"external_ids": ["ann", "carol"]}, headers=env.headers
    )
    assert added.status_code == 200, added.text
    answer = await _instant(
        env,
        {
            "multiLangContent": {
                "defaultLanguage": "en",
                "contents": {"en": CONTENT, "fr": {"title": "Soldes", "message": "Aujourd'hui"}},
            },
            "tableId": table,
            "sendOnlyLastEngagedTokens": True,
        },
    )
    done = await env.wait_done(answer["messageId"])
    assert done["counts"]["sent"] == 2, done
    # ann's Android device was registered last, so it is her most recent one.
    assert set(arrivals(env, addresses)) == {"ann-android", "carol-ios"}
    (carol,) = env.emulators.apns.deliveries
    assert carol.payload["aps"]["alert"] == {"title": "Soldes", "body": "Aujourd'hui"}


async def test_future_schedule_date_waits_and_past_one_sends_now(env: DeliveryEnv) -> None:
    addresses = await seed_audience(env)
    template_id = await _template(env)
    at = (utcnow() + timedelta(hours=2)).replace(microsecond=0)
    later = await _instant(
        env,
        {
            "content": {"templateId": template_id},
            "scheduleDate": at.strftime("%Y-%m-%dT%H:%M:%S"),
        },
    )
    waiting = await env.http.get(f"/v1/sends/{later['messageId']}", headers=env.headers)
    assert waiting.json()["status"] == "scheduled"
    assert datetime.fromisoformat(waiting.json()["scheduled_at"]) == at
    cancelled = await env.http.post(f"/v1/sends/{later['messageId']}/cancel", headers=env.headers)
    assert cancelled.status_code == 200, cancelled.text
    now = await _instant(env, {"content": CONTENT, "scheduleDate": "2020-01-01T00:00:00Z"})
    done = await env.wait_done(now["messageId"])
    assert done["counts"]["sent"] == 5, done
    assert sum(arrivals(env, addresses).values()) == 5


async def test_fallback_sms_from_message_or_template_and_inbox_items(env: DeliveryEnv) -> None:
    dead = await env.ios("old-phone", external_id="ann")
    env.emulators.apns.unregister_device(dead)
    for name, phone in (("ann", "+33612345601"), ("bob", "+33612345602")):
        response = await env.http.put(
            f"/v1/contacts/{name}",
            json={"phone": phone, "attributes": {"name": name.title()}},
            headers=env.headers,
        )
        assert response.status_code in (200, 201), response.text
    await env.android("pixel", external_id="bob")
    template_id = await _template(env)
    sms_template = await _created(
        env,
        "/v1/templates",
        {"name": "SMS", "contents": [{"body": "Hi {{ contact.attributes.name }}, see the app"}]},
    )
    expire = (utcnow() + timedelta(days=2)).replace(microsecond=0)
    common = {"templateId": template_id, "customParameters": [{"key": "name", "value": "x"}]}

    async def push(contact: str, order: str, **fields: Any) -> str:
        body = {**common, "contactKey": contact, "current": {"order": order}, **fields}
        message_id: str = (await _push(env, body))["messageId"]
        await env.wait_done(message_id)
        return message_id

    from_message = await push(
        "ann", "A-1", fallbackChannel={"channel": "SMS", "message": "Order A-1 shipped"}
    )
    await push("ann", "A-2", fallbackChannel={"channel": "SMS", "templateId": sms_template})
    kept = await push(
        "bob",
        "B-1",
        fallbackChannel={"channel": "SMS", "message": "never sent: bob is reached"},
        inboxParams={"saveToInbox": True, "expireDate": expire.isoformat()},
    )
    forever = await push("bob", "B-2", inboxParams={"saveToInbox": True})
    await push("bob", "B-3", inboxParams={"saveToInbox": False})
    texts = [(d.target, d.payload["body"]) for d in env.emulators.sms.deliveries]
    assert sorted(texts) == [
        ("+33612345601", "Hi Ann, see the app"),
        ("+33612345601", "Order A-1 shipped"),
    ]
    trail = await env.deliveries(from_message)
    assert [d["outcome"] for d in trail if d["platform"] == "sms"] == ["sms_fallback"]
    items = (await env.http.get("/v1/contacts/bob/inbox", headers=env.headers)).json()["data"]
    assert [(i["send_id"], i["body"]) for i in items] == [
        (forever, "Order B-2 shipped"),
        (kept, "Order B-1 shipped"),
    ]
    assert items[0]["expires_at"] is None
    # expireDate becomes a lifetime counted from the request, so allow the request's duration.
    lag = datetime.fromisoformat(items[1]["expires_at"]) - expire
    assert timedelta(0) <= lag < timedelta(minutes=5), items[1]
    # An expireDate beyond the core's one-year limit is cut to a year.
    far = await push("bob", "B-4", inboxParams={"expireDate": "2999-01-01T00:00:00Z"})
    items = (await env.http.get("/v1/contacts/bob/inbox", headers=env.headers)).json()["data"]
    assert items[0]["send_id"] == far
    year_later = datetime.fromisoformat(items[0]["created_at"]) + timedelta(days=365)
    assert abs(datetime.fromisoformat(items[0]["expires_at"]) - year_later) < timedelta(minutes=5)
