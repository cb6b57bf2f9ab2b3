"""Frequency caps by label: rules API and capped deliveries."""

from __future__ import annotations

from typing import Any

from tests.conftest import error_of
from tests.delivery_env import DeliveryEnv


async def labelled_send(env: DeliveryEnv, labels: list[str], *users: str) -> dict[str, Any]:
    """Send to contacts with labels and wait until done."""
    return await env.wait_done(
        await env.send(
            {
                "recipients": {"external_ids": list(users)},
                "content": {"body": "Offer"},
                "options": {"labels": labels},
            }
        )
    )


async def test_cap_rules_api(env: DeliveryEnv) -> None:
    created = await env.http.put(
        "/v1/caps/promo", json={"max": 2, "period_seconds": 86400}, headers=env.headers
    )
    assert created.status_code == 201, created.text
    assert created.json()["max"] == 2 and created.json()["period_seconds"] == 86400
    replaced = await env.http.put(
        "/v1/caps/promo", json={"max": 1, "period_seconds": 3600}, headers=env.headers
    )
    assert replaced.status_code == 200 and replaced.json()["max"] == 1
    await env.http.put("/v1/caps/news", json={"max": 5, "period_seconds": 60}, headers=env.headers)
    listed = (await env.http.get("/v1/caps", headers=env.headers)).json()["data"]
    assert [(c["label"], c["max"]) for c in listed] == [("news", 5), ("promo", 1)]
    bad = await env.http.put(
        "/v1/caps/promo", json={"max": 1, "period_seconds": 0}, headers=env.headers
    )
    assert bad.status_code == 400 and error_of(bad)["field"] == "period_seconds"
    assert (await env.http.delete("/v1/caps/news", headers=env.headers)).status_code == 204
    missing = await env.http.delete("/v1/caps/news", headers=env.headers)
    assert missing.status_code == 404


async def test_contacts_over_the_cap_are_not_sent(env: DeliveryEnv) -> None:
    await env.ios("phone-ann", external_id="ann")
    await env.android("tablet-ann", external_id="ann")
    await env.ios("phone-bob", external_id="bob")
    await env.http.put(
        "/v1/caps/promo", json={"max": 1, "period_seconds": 3600}, headers=env.headers
    )
    # Both of ann's devices get the first send: one send counts once per contact.
    first = await labelled_send(env, ["promo"], "ann")
    assert first["counts"]["sent"] == 2
    second = await labelled_send(env, ["promo", "other"], "ann", "bob")
    assert second["counts"]["capped"] == 2 and second["counts"]["sent"] == 1
    capped = [d for d in await env.deliveries(second["id"]) if d["outcome"] == "capped"]
    assert {d["installation_id"] for d in capped} == {"phone-ann", "tablet-ann"}
    assert {d["provider_reason"] for d in capped} == {"Cap:promo"}
    # Other labels are not capped; bob has now had his one promo too.
    assert (await labelled_send(env, ["other"], "ann"))["counts"]["sent"] == 2
    assert (await labelled_send(env, ["promo"], "bob"))["counts"]["capped"] == 1
    await env.http.delete("/v1/caps/promo", headers=env.headers)
    assert (await labelled_send(env, ["promo"], "ann", "bob"))["counts"]["sent"] == 3
