"""Shared steps of the broadcast tests: a small registry of contacts and devices."""

from __future__ import annotations

from collections import Counter
from typing import Any

from tests.delivery_env import DeliveryEnv


async def seed_audience(env: DeliveryEnv) -> dict[str, str]:
    """Contacts ann (2 devices), bob (web), carol (iOS) and one anonymous iOS device.

    Returns the address (token or endpoint) each installation id is reached at.
    """
    await env.http.put(
        "/v1/contacts/ann",
        json={"email": "ann@example.com", "attributes": {"plan": "gold", "age": 41}},
        headers=env.headers,
    )
    await env.http.put(
        "/v1/contacts/bob",
        json={"phone": "+33612345678", "timezone": "America/New_York"},
        headers=env.headers,
    )
    await env.http.put(
        "/v1/contacts/carol", json={"attributes": {"plan": "free"}}, headers=env.headers
    )
    return {
        "ann-ios": await env.ios(
            "ann-ios",
            external_id="ann",
            language="fr-CA",
            timezone="Europe/Paris",
            tags=["sports", "news"],
            attributes={"version": "2"},
        ),
        "ann-android": await env.android("ann-android", external_id="ann", tags=["sports"]),
        "bob-web": await env.web("bob-web", external_id="bob", tags=["news"], language="en"),
        "carol-ios": await env.ios("carol-ios", external_id="carol", language="fr"),
        "anon-ios": await env.ios("anon-ios", timezone="Asia/Tokyo"),
    }


def arrivals(env: DeliveryEnv, addresses: dict[str, str]) -> Counter[str]:
    """How many notifications each seeded installation received, over every emulator."""
    by_target: Counter[str] = Counter()
    for emulator in (env.emulators.apns, env.emulators.fcm, env.emulators.webpush):
        by_target.update(d.target for d in emulator.deliveries)
    counts: Counter[str] = Counter()
    for installation_id, address in addresses.items():
        target = (
            env.emulators.webpush.subscription_id(address)
            if address.startswith("https://")
            else address
        )
        if by_target[target]:
            counts[installation_id] = by_target[target]
    return counts


async def broadcast(env: DeliveryEnv, **fields: Any) -> dict[str, Any]:
    """Send a broadcast, wait for it to finish, and return its final state."""
    body = {"content": {"title": "News", "body": "Hello"}} | fields
    send_id = await env.send(body)
    return await env.wait_done(send_id)


async def reached(env: DeliveryEnv, send_id: str) -> set[str]:
    """Installation ids a send was delivered to."""
    return {d["installation_id"] for d in await env.deliveries(send_id) if d["outcome"] == "sent"}
