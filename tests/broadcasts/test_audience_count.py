"""A broadcast's size: counted before sending, null in the accept answer, targeted once planned."""

from __future__ import annotations

from tests.broadcasts.support import seed_audience
from tests.conftest import error_of
from tests.delivery_env import DeliveryEnv


async def test_count_gives_the_audience_size_and_sends_nothing(env: DeliveryEnv) -> None:
    await seed_audience(env)
    body = {"audience": {"all": True}, "content": {"body": "hi"}}
    counted = await env.http.post("/v1/sends/count", json=body, headers=env.headers)
    assert counted.status_code == 200, counted.text
    assert counted.json() == {"devices": 5}
    only_ios = await env.http.post(
        "/v1/sends/count",
        json={"audience": {"filter": {"platforms": ["ios"]}}},
        headers=env.headers,
    )
    assert only_ios.status_code == 200, only_ios.text
    assert only_ios.json()["devices"] == 3
    listed = (await env.http.get("/v1/sends", headers=env.headers)).json()["data"]
    assert listed == []
    missing = await env.http.post(
        "/v1/sends/count", json={"audience": {"list_id": "nope"}}, headers=env.headers
    )
    assert missing.status_code == 404 and error_of(missing)["field"] == "audience.list_id"
    no_audience = await env.http.post(
        "/v1/sends/count", json={"recipients": {"external_ids": ["ann"]}}, headers=env.headers
    )
    assert no_audience.status_code == 400 and error_of(no_audience)["field"] == "audience"


async def test_broadcast_answer_leaves_the_size_to_planning(env: DeliveryEnv) -> None:
    await seed_audience(env)
    body = {"audience": {"all": True}, "content": {"body": "hi"}}
    key = {"Idempotency-Key": "count-1"}
    first = await env.http.post("/v1/sends", json=body, headers=env.headers | key)
    assert first.status_code == 201
    assert first.json() == {"id": first.json()["id"], "status": "accepted", "recipients": None}
    done = await env.wait_done(first.json()["id"])
    assert done["counts"]["targeted"] == 5
    # Long after, the replay still gives the first answer, not the send's current status.
    again = await env.http.post("/v1/sends", json=body, headers=env.headers | key)
    assert again.status_code == 200
    assert again.json() == first.json() | {"replayed": True}
