"""FCM fault rules and their error bodies, with Retry-After, resets and the control API."""

from __future__ import annotations

import aiohttp
import pytest

from clarion.emulators.suite import EmulatorSuite
from tests.emulators.support import DEVICE, fcm_send, https_client


@pytest.mark.parametrize(
    ("code", "status", "rpc_status"),
    [
        ("UNREGISTERED", 404, "NOT_FOUND"),
        ("INVALID_ARGUMENT", 400, "INVALID_ARGUMENT"),
        ("QUOTA_EXCEEDED", 429, "RESOURCE_EXHAUSTED"),
        ("UNAVAILABLE", 503, "UNAVAILABLE"),
        ("INTERNAL", 500, "INTERNAL"),
        ("SENDER_ID_MISMATCH", 403, "PERMISSION_DENIED"),
        ("THIRD_PARTY_AUTH_ERROR", 401, "UNAUTHENTICATED"),
    ],
)
async def test_per_token_outcomes_use_fcm_error_bodies(
    emulators: EmulatorSuite, fcm_access_token: str, code: str, status: int, rpc_status: str
) -> None:
    emulators.fcm.faults.set_outcome(DEVICE, code)
    async with https_client(emulators) as http:
        got, body, headers = await fcm_send(
            http, emulators, fcm_access_token, {"message": {"token": DEVICE}}
        )
    assert got == status
    assert body["error"]["code"] == status
    assert body["error"]["status"] == rpc_status
    assert body["error"]["details"] == [
        {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code}
    ]
    if code == "QUOTA_EXCEEDED":
        assert headers["Retry-After"] == "1"
    assert emulators.fcm.rejections[-1].reason == code


async def test_unregister_and_sender_mismatch_helpers(
    emulators: EmulatorSuite, fcm_access_token: str
) -> None:
    emulators.fcm.unregister_token(DEVICE)
    emulators.fcm.register_token("owned-elsewhere", "another-project")
    async with https_client(emulators) as http:
        gone, _, _ = await fcm_send(
            http, emulators, fcm_access_token, {"message": {"token": DEVICE}}
        )
        foreign, body, _ = await fcm_send(
            http, emulators, fcm_access_token, {"message": {"token": "owned-elsewhere"}}
        )
    assert gone == 404
    assert foreign == 403
    assert body["error"]["details"][0]["errorCode"] == "SENDER_ID_MISMATCH"


async def test_quota_burst_with_retry_after_then_success(
    emulators: EmulatorSuite, fcm_access_token: str
) -> None:
    emulators.fcm.faults.add_error_rate(1.0, "QUOTA_EXCEEDED", retry_after=7, count=2)
    async with https_client(emulators) as http:
        answers = [
            await fcm_send(http, emulators, fcm_access_token, {"message": {"token": DEVICE}})
            for _ in range(3)
        ]
    assert [a[0] for a in answers] == [429, 429, 200]
    assert answers[0][2]["Retry-After"] == "7"
    assert len(emulators.fcm.deliveries) == 1


async def test_connection_reset(emulators: EmulatorSuite, fcm_access_token: str) -> None:
    emulators.fcm.faults.set_reset_rate(1.0, count=1)
    async with https_client(emulators) as http:
        with pytest.raises(aiohttp.ClientError):
            await fcm_send(http, emulators, fcm_access_token, {"message": {"token": DEVICE}})
        status, _, _ = await fcm_send(
            http, emulators, fcm_access_token, {"message": {"token": DEVICE}}
        )
    assert status == 200


async def test_control_api_on_the_fcm_port(emulators: EmulatorSuite, fcm_access_token: str) -> None:
    base = emulators.fcm.url
    async with https_client(emulators) as http:
        rules = {"targets": {DEVICE: {"reason": "UNREGISTERED"}}}
        async with http.post(f"{base}/_emulator/faults", json=rules) as reply:
            assert reply.status == 200
        assert (await fcm_send(http, emulators, fcm_access_token, {"message": {"token": DEVICE}}))[
            0
        ] == 404
        async with http.delete(f"{base}/_emulator/faults", params={"target": DEVICE}) as reply:
            assert reply.status == 204
        assert (await fcm_send(http, emulators, fcm_access_token, {"message": {"token": DEVICE}}))[
            0
        ] == 200
        async with http.get(f"{base}/_emulator/deliveries", params={"target": DEVICE}) as reply:
            [listed] = (await reply.json())["deliveries"]
        assert listed["payload"] == {"token": DEVICE}
        async with http.post(
            f"{base}/_emulator/service-accounts", json={"project_id": "p2"}
        ) as reply:
            assert (await reply.json())["project_id"] == "p2"
        async with http.post(
            f"{base}/_emulator/tokens", json={"token": DEVICE, "project_id": "p2"}
        ) as reply:
            assert reply.status == 200
        assert (await fcm_send(http, emulators, fcm_access_token, {"message": {"token": DEVICE}}))[
            0
        ] == 403
