"""A provider that cannot be reached shows in the log, in /metrics and on /readyz."""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path

import pytest

from tests.delivery_env import DeliveryEnv, delivery_env


def _sample(text: str, name: str, **labels: str) -> float:
    """The value of one Prometheus sample, 0 when absent."""
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def _metrics(env: DeliveryEnv) -> str:
    return (await env.http.get("/metrics")).text


async def test_untrusted_provider_certificate_is_logged_counted_and_not_ready(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="clarion.providers.failures")
    # No CA for the emulators: every TLS handshake to them fails verification.
    database = f"sqlite+aiosqlite:///{tmp_path}/c.db"
    async with delivery_env(database, tmp_path, extra_ca_file=None) as env:
        before = await _metrics(env)
        for n in range(6):
            await env.ios(f"iphone-{n}")
        send_id = await env.send(
            {
                "recipients": {"installation_ids": [f"iphone-{n}" for n in range(6)]},
                "content": {"title": "t", "body": "b"},
            }
        )
        for _ in range(400):
            text = await _metrics(env)
            if _sample(text, "clarion_provider_failing", provider="apns", app=env.app_id) == 1:
                break
            await asyncio.sleep(0.05)
        errors = _sample(
            text, "clarion_provider_errors_total", provider="apns", reason="tls_certificate"
        )
        assert (
            errors
            - _sample(
                before, "clarion_provider_errors_total", provider="apns", reason="tls_certificate"
            )
            >= 6
        )
        assert (
            _sample(
                text, "clarion_deliveries_total", provider="apns", app=env.app_id, outcome="retry"
            )
            >= 6
        )
        lines = [r.getMessage() for r in caplog.records if "provider failure" in r.getMessage()]
        # One line for the distinct failure, not one per device.
        assert len(lines) == 1, lines
        assert "CERTIFICATE_VERIFY_FAILED" in lines[0]
        assert f"app={env.app_id}" in lines[0] and f"send={send_id}" in lines[0]
        ready = await env.http.get("/readyz")
        assert ready.status_code == 503, ready.text
        failing = ready.json()["failing_providers"]
        assert failing[0]["app"] == env.app_id and failing[0]["provider"] == "apns"
        assert "CERTIFICATE_VERIFY_FAILED" in failing[0]["last_reason"]
        assert (await env.http.get("/readyz", params={"providers": "false"})).status_code == 200
        queue = await _metrics(env)
        assert "clarion_queue_jobs{" in queue and "clarion_open_sends{" in queue
        assert _sample(queue, "clarion_open_sends", status="delivering") >= 1
