"""SMS fallback: contacts without a reachable device or whose pushes all failed get one SMS."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import insert, update

from clarion.queue.models import NewJob
from clarion.queue.sql import SqlJobQueue
from clarion.store.engine import create_engine
from clarion.store.job_tables import CANCELLED, jobs
from clarion.store.send_tables import deliveries, sends
from clarion.store.types import utcnow
from tests.delivery_env import DeliveryEnv


async def test_unreached_contacts_get_the_sms_and_reached_ones_do_not(env: DeliveryEnv) -> None:
    # ann: a working device; bob: no device; cid: only a device whose token is dead;
    # dan: no device and no phone; eve: one dead and one working device.
    await env.ios("phone-ann", external_id="ann")
    dead = await env.ios("phone-cid", external_id="cid")
    env.emulators.apns.unregister_device(dead)
    dead_eve = await env.ios("old-eve", external_id="eve")
    env.emulators.apns.unregister_device(dead_eve)
    await env.android("new-eve", external_id="eve")
    phones = {"ann": "+33612345601", "bob": "+33612345602", "cid": "+33612345603"}
    phones["eve"] = "+33612345605"
    for external_id, phone in phones.items():
        response = await env.http.put(
            f"/v1/contacts/{external_id}",
            json={"phone": phone, "attributes": {"name": external_id.title()}},
            headers=env.headers,
        )
        assert response.status_code in (200, 201), response.text
    await env.http.put("/v1/contacts/dan", json={}, headers=env.headers)
    send_id = await env.send(
        {
            "recipients": {"external_ids": ["ann", "bob", "cid", "dan", "eve"]},
            "content": {"body": "Your parcel is here"},
            "sms_fallback": {"body": "Hi {{ contact.attributes.name }}, your parcel is here"},
        }
    )
    done = await env.wait_done(send_id)
    texts = {d.target: d.payload for d in env.emulators.sms.deliveries}
    assert set(texts) == {phones["bob"], phones["cid"]}
    assert texts[phones["bob"]]["body"] == "Hi Bob, your parcel is here"
    assert texts[phones["cid"]]["from"] == "Clarion"
    sms = {
        d["recipient"]["value"]: d for d in await env.deliveries(send_id) if d["platform"] == "sms"
    }
    assert {k: v["outcome"] for k, v in sms.items()} == {
        "bob": "sms_fallback",
        "cid": "sms_fallback",
        "dan": "sms_no_phone",
    }
    assert sms["bob"]["token"] == phones["bob"] and sms["bob"]["provider_status"] == 201
    assert sms["bob"]["provider_message_id"]
    assert done["counts"]["sms_fallback"] == 2 and done["counts"]["sms_no_phone"] == 1
    assert done["counts"]["sent"] == 2 and done["counts"]["undeliverable"] == 2


async def test_refused_sms_is_recorded_and_sent_once(env: DeliveryEnv) -> None:
    await env.ios("phone-ann", external_id="ann")
    await env.http.put("/v1/contacts/bob", json={"phone": "+33612345602"}, headers=env.headers)
    env.emulators.sms.faults.set_outcome("+33612345602", "UNREACHABLE", 400)
    send_id = await env.send(
        {
            "recipients": {"external_ids": ["ann", "bob"]},
            "content": {"body": "Hello"},
            "sms_fallback": {"body": "Hello by SMS", "sender": "Shop"},
        }
    )
    done = await env.wait_done(send_id)
    [row] = [d for d in await env.deliveries(send_id) if d["platform"] == "sms"]
    assert row["outcome"] == "sms_failed" and row["provider_reason"] == "UNREACHABLE"
    assert done["counts"]["sms_failed"] == 1
    assert [r.target for r in env.emulators.sms.rejections] == ["+33612345602"]


async def test_without_the_option_nobody_is_texted(env: DeliveryEnv) -> None:
    await env.ios("phone-ann", external_id="ann")
    await env.http.put("/v1/contacts/bob", json={"phone": "+33612345602"}, headers=env.headers)
    send_id = await env.send(
        {"recipients": {"external_ids": ["ann", "bob"]}, "content": {"body": "Hello"}}
    )
    done = await env.wait_done(send_id)
    assert done["counts"]["not_found"] == 1
    assert env.emulators.sms.deliveries == []


async def test_a_transient_gateway_error_is_retried_without_texting_twice(
    env: DeliveryEnv,
) -> None:
    await env.ios("phone-ann", external_id="ann")
    for external_id, phone in (("bob", "+33612345602"), ("cid", "+33612345603")):
        await env.http.put(
            f"/v1/contacts/{external_id}", json={"phone": phone}, headers=env.headers
        )
    # The first SMS request meets an outage: that contact is texted on the next run only.
    env.emulators.sms.faults.add_error_rate(1.0, "UNAVAILABLE", retry_after=1, count=1)
    send_id = await env.send(
        {
            "recipients": {"external_ids": ["ann", "bob", "cid"]},
            "content": {"body": "Hello"},
            "sms_fallback": {"body": "Hello by SMS"},
        }
    )
    done = await env.wait_done(send_id)
    assert sorted(d.target for d in env.emulators.sms.deliveries) == [
        "+33612345602",
        "+33612345603",
    ]
    assert [r.status for r in env.emulators.sms.rejections] == [503]
    sms = [d for d in await env.deliveries(send_id) if d["platform"] == "sms"]
    assert sorted(d["outcome"] for d in sms) == ["sms_fallback", "sms_fallback"]
    assert done["counts"]["sms_fallback"] == 2


async def test_a_send_reaching_no_device_at_all_still_texts_and_stores_the_inbox(
    env: DeliveryEnv,
) -> None:
    await env.http.put("/v1/contacts/zoe", json={"phone": "+33612345609"}, headers=env.headers)
    send_id = await env.send(
        {
            "recipients": {"external_ids": ["zoe"]},
            "content": {"title": "Parcel", "body": "Your parcel is here"},
            "sms_fallback": {"body": "Your parcel is here (SMS)"},
            "inbox": {"expires_in": 3600},
        }
    )
    done = await env.wait_done(send_id)
    assert [d.target for d in env.emulators.sms.deliveries] == ["+33612345609"]
    assert done["counts"]["sms_fallback"] == 1 and done["counts"]["targeted"] == 0
    inbox = (await env.http.get("/v1/contacts/zoe/inbox", headers=env.headers)).json()["data"]
    assert [item["title"] for item in inbox] == ["Parcel"]


async def test_a_last_phase_queued_in_the_old_form_still_runs(
    env: DeliveryEnv, database_url: str
) -> None:
    # Before `finish_send` existed, the last phase was a `deliver` job flagged `finish`:
    # one still queued when the server is upgraded must end its send all the same.
    await env.http.put("/v1/contacts/bob", json={"phone": "+33612345699"}, headers=env.headers)
    later = (utcnow() + timedelta(hours=1)).isoformat()
    send_id = await env.send(
        {
            "recipients": {"external_ids": ["bob"]},
            "content": {"body": "x"},
            "sms_fallback": {"body": "Your parcel is here"},
            "schedule": {"at": later},
        }
    )
    engine = create_engine(database_url)
    try:
        queue = SqlJobQueue(engine)
        async with engine.begin() as conn:
            await conn.execute(
                update(jobs).where(jobs.c.send_id == send_id).values(status=CANCELLED)
            )
            await conn.execute(
                update(sends).where(sends.c.id == send_id).values(status="delivering")
            )
            # What planning leaves for a contact without any device.
            await conn.execute(
                insert(deliveries).values(
                    send_id=send_id,
                    recipient_kind="external_id",
                    recipient="bob",
                    outcome="not_found",
                    attempts=0,
                    created_at=utcnow(),
                    completed_at=utcnow(),
                )
            )
            legacy = {"send_id": send_id, "delivery_ids": [], "phase": "finish"}
            await queue.enqueue(conn, [NewJob(kind="deliver", payload=legacy, send_id=send_id)])
        await queue.close()
    finally:
        await engine.dispose()
    done = await env.wait_done(send_id, seconds=30)
    assert done["status"] == "done" and done["counts"]["sms_fallback"] == 1, done
    assert [d.target for d in env.emulators.sms.deliveries] == ["+33612345699"]
