"""Transactional sends delivered end to end through the APNs, FCM and Web Push emulators."""

from __future__ import annotations

from tests.delivery_env import TOPIC, DeliveryEnv


async def test_one_send_reaches_every_platform(env: DeliveryEnv) -> None:
    ios = await env.ios("iphone", external_id="ann", language="fr")
    android = await env.android("pixel", external_id="ann")
    endpoint = await env.web("browser", external_id="ann", language="de-AT")
    await env.http.put(
        "/v1/contacts/ann", json={"attributes": {"first_name": "Ann"}}, headers=env.headers
    )
    send_id = await env.send(
        {
            "recipients": {"external_ids": ["ann"]},
            "contents": [
                {"title": "Hello {{ contact.attributes.first_name }}", "body": "Fallback"},
                {
                    "language": "fr",
                    "title": "Bonjour {{ contact.attributes.first_name }}",
                    "body": "FR",
                },
                {"language": "de", "title": "Hallo", "body": "DE"},
            ],
            "options": {"priority": "high", "ttl": 3600, "collapse_key": "greeting"},
        }
    )
    done = await env.wait_done(send_id)
    assert done["counts"]["sent"] == 3 and done["counts"]["pending"] == 0, done

    apns = [d for d in env.emulators.apns.deliveries if d.target == ios]
    assert len(apns) == 1
    assert apns[0].payload["aps"]["alert"]["title"] == "Bonjour Ann"
    assert (
        apns[0].headers["apns-topic"] == TOPIC and apns[0].headers["apns-collapse-id"] == "greeting"
    )
    fcm = [d for d in env.emulators.fcm.deliveries if d.target == android]
    assert len(fcm) == 1
    message = fcm[0].payload.get("message", fcm[0].payload)
    assert message["notification"]["title"] == "Hello Ann", fcm[0].payload
    web = env.emulators.webpush.deliveries_for(endpoint)
    assert len(web) == 1 and web[0].payload["title"] == "Hallo"

    trail = {d["installation_id"]: d for d in await env.deliveries(send_id)}
    assert trail["iphone"]["outcome"] == "sent" and trail["iphone"]["provider_status"] == 200
    assert trail["iphone"]["language"] == "fr" and trail["browser"]["language"] == "de"
    assert trail["pixel"]["provider_message_id"]
    assert all(d["attempts"] == 1 and d["completed_at"] for d in trail.values())


async def test_invalid_tokens_are_pruned_and_not_targeted_again(env: DeliveryEnv) -> None:
    gone = await env.ios("old-phone", external_id="bob")
    await env.android("new-phone", external_id="bob")
    env.emulators.apns.unregister_device(gone)
    first = await env.wait_done(
        await env.send({"recipients": {"external_ids": ["bob"]}, "content": {"body": "1"}})
    )
    assert first["counts"]["sent"] == 1 and first["counts"]["undeliverable"] == 1
    device = (
        await env.http.get(f"/v1/apps/{env.app_id}/installations/old-phone", headers=env.headers)
    ).json()
    assert device["valid"] is False and device["invalid_reason"] == "Unregistered"
    second = await env.wait_done(
        await env.send({"recipients": {"external_ids": ["bob"]}, "content": {"body": "2"}})
    )
    assert second["counts"]["targeted"] == 1 and second["counts"]["sent"] == 1
    assert len([d for d in env.emulators.apns.deliveries if d.target == gone]) == 0


async def test_retries_after_server_errors_until_delivered(env: DeliveryEnv) -> None:
    token = await env.android("flaky")
    env.emulators.fcm.faults.add_error_rate(1.0, "UNAVAILABLE", count=2)
    done = await env.wait_done(
        await env.send({"recipients": {"tokens": [token]}, "content": {"body": "x"}})
    )
    assert done["counts"]["sent"] == 1
    (trail,) = await env.deliveries(done["id"])
    assert trail["attempts"] == 3 and trail["provider_status"] == 200


async def test_bursts_of_429_and_5xx_and_resets_still_deliver_everything(env: DeliveryEnv) -> None:
    tokens = [await env.ios(f"burst-{index}") for index in range(30)]
    faults = env.emulators.apns.faults
    faults.add_error_rate(1.0, "TooManyRequests", retry_after=1, count=10)
    faults.add_error_rate(1.0, "ServiceUnavailable", count=10)
    faults.set_reset_rate(1.0, count=3)
    done = await env.wait_done(
        await env.send({"recipients": {"tokens": tokens}, "content": {"body": "x"}})
    )
    assert done["counts"]["sent"] == 30 and done["counts"]["pending"] == 0, done
    received = [d.target for d in env.emulators.apns.deliveries]
    assert sorted(received) == sorted(tokens), "each device exactly once"
    trail = await env.deliveries(done["id"])
    assert max(d["attempts"] for d in trail) >= 2
    assert all(d["outcome"] == "sent" and d["provider_status"] == 200 for d in trail)


async def test_permanent_errors_are_not_retried(env: DeliveryEnv) -> None:
    token = await env.ios("wrong-topic")
    env.emulators.apns.faults.set_outcome(token, "TopicDisallowed")
    done = await env.wait_done(
        await env.send({"recipients": {"tokens": [token]}, "content": {"body": "x"}})
    )
    (trail,) = await env.deliveries(done["id"])
    assert trail["outcome"] == "error" and trail["provider_reason"] == "TopicDisallowed"
    assert trail["attempts"] == 1 and trail["provider_status"] == 400
    device = (
        await env.http.get(f"/v1/apps/{env.app_id}/installations/wrong-topic", headers=env.headers)
    ).json()
    assert device["valid"] is True, "a permanent error is not a reason to drop the device"


async def test_web_push_gone_subscription_is_pruned(env: DeliveryEnv) -> None:
    endpoint = await env.web("old-browser")
    env.emulators.webpush.unsubscribe(endpoint)
    done = await env.wait_done(
        await env.send({"recipients": {"tokens": [endpoint]}, "content": {"body": "x"}})
    )
    (trail,) = await env.deliveries(done["id"])
    assert trail["outcome"] == "undeliverable" and trail["provider_status"] in (404, 410)


async def test_plain_content_follows_each_devices_languages_within_one_batch(
    env: DeliveryEnv,
) -> None:
    response = await env.http.put("/v1/contacts/dora", json={"language": "de"}, headers=env.headers)
    assert response.status_code in (200, 201), response.text
    tokens = {
        "fr-phone": await env.ios("fr-phone", language="fr"),
        # The contact's language comes before the installation's.
        "de-contact": await env.ios("de-contact", language="fr", external_id="dora"),
        "plain": await env.ios("plain"),
        "fr-again": await env.ios("fr-again", language="fr"),
        "es-phone": await env.ios("es-phone", language="es"),
    }
    send_id = await env.send(
        {
            "recipients": {"installation_ids": list(tokens)},
            "contents": [
                {"title": "Hello", "body": "EN"},
                {"language": "fr", "title": "Bonjour", "body": "FR"},
                {"language": "de", "title": "Hallo", "body": "DE"},
            ],
        }
    )
    done = await env.wait_done(send_id)
    assert done["counts"]["sent"] == len(tokens), done
    titles = {
        name: [
            d.payload["aps"]["alert"]["title"]
            for d in env.emulators.apns.deliveries
            if d.target == token
        ]
        for name, token in tokens.items()
    }
    assert titles == {
        "fr-phone": ["Bonjour"],
        "de-contact": ["Hallo"],
        "plain": ["Hello"],
        "fr-again": ["Bonjour"],
        "es-phone": ["Hello"],
    }
    trail = {d["installation_id"]: d["language"] for d in await env.deliveries(send_id)}
    assert trail["fr-phone"] == "fr" and trail["de-contact"] == "de"
    assert trail["fr-again"] == "fr"
