"""Fidelity: the aioapns client library talks to the APNs emulator.

aioapns takes no host argument: its connection classes carry Apple's host and port as class
attributes, so the test subclasses them with the emulator's host and port. Everything else
(JWT signing, HTTP/2, headers, error parsing) is the library's own code, unchanged.
"""

from __future__ import annotations

import uuid

from aioapns import APNs, NotificationRequest, PushType
from aioapns.connection import APNsProductionClientProtocol

from clarion.emulators.suite import EmulatorSuite
from tests.emulators.support import KEY_ID, TEAM_ID, TOKEN, TOPIC


def aioapns_client(suite: EmulatorSuite, pem: str, key_id: str = KEY_ID) -> APNs:
    """An aioapns client pointed at the emulator (host and port only), trusting its CA."""

    class EmulatorHost(APNsProductionClientProtocol):
        APNS_SERVER = "localhost"
        APNS_PORT = suite.apns.port

    client = APNs(
        key=pem,
        key_id=key_id,
        team_id=TEAM_ID,
        topic=TOPIC,
        ssl_context=suite.tls.client_context(),
        max_connection_attempts=1,
    )
    client.pool.protocol_class = EmulatorHost
    return client


async def test_aioapns_delivers_with_all_its_options(emulators: EmulatorSuite) -> None:
    pem = emulators.apns.create_provider_key(TEAM_ID, KEY_ID, [TOPIC])
    client = aioapns_client(emulators, pem)
    notification_id = str(uuid.uuid4())
    request = NotificationRequest(
        device_token=TOKEN,
        message={"aps": {"alert": {"title": "Hi", "body": "there"}, "badge": 3}, "k": "v"},
        notification_id=notification_id,
        time_to_live=60,
        priority=5,
        collapse_key="group-1",
        push_type=PushType.ALERT,
    )
    result = await client.send_notification(request)
    client.pool.close()
    assert result.is_successful
    assert result.notification_id == notification_id
    [delivery] = emulators.apns.deliveries
    assert delivery.payload["aps"]["badge"] == 3
    assert delivery.headers["apns-priority"] == "5"
    assert delivery.headers["apns-collapse-id"] == "group-1"
    assert delivery.headers["apns-push-type"] == "alert"
    assert int(delivery.headers["apns-expiration"]) > 0


async def test_aioapns_sees_apple_reasons(emulators: EmulatorSuite) -> None:
    pem = emulators.apns.create_provider_key(TEAM_ID, KEY_ID, [TOPIC])
    emulators.apns.unregister_device("cd" * 32)
    client = aioapns_client(emulators, pem)
    bad = await client.send_notification(NotificationRequest(device_token="xyz", message={"a": 1}))
    gone = await client.send_notification(
        NotificationRequest(device_token="cd" * 32, message={"aps": {}})
    )
    client.pool.close()
    assert (bad.status, bad.description) == ("400", "BadDeviceToken")
    assert (gone.status, gone.description) == ("410", "Unregistered")
    assert emulators.apns.deliveries == []


async def test_aioapns_with_an_unknown_key_is_refused(emulators: EmulatorSuite) -> None:
    emulators.apns.create_provider_key(TEAM_ID, KEY_ID, [TOPIC])
    other_pem = emulators.apns.create_provider_key(TEAM_ID, "KEY0000002", [TOPIC])
    emulators.apns.keys.revoke("KEY0000002")
    client = aioapns_client(emulators, other_pem, key_id="KEY0000002")
    result = await client.send_notification(
        NotificationRequest(device_token=TOKEN, message={"aps": {}})
    )
    client.pool.close()
    assert (result.status, result.description) == ("403", "InvalidProviderToken")
