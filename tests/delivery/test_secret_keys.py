"""A changed CLARION_SECRET_KEY fails loudly; several keys and `clarion secrets rotate` recover."""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from clarion.api.app import create_app
from clarion.config import Settings
from clarion.emulators.suite import EmulatorSuite
from clarion.store.secrets import SecretBox, SecretUnreadable, load_or_create_secret
from tests.conftest import ADMIN_KEY
from tests.delivery_env import DeliveryEnv, configure_app
from tests.local_outbound import LOCAL_ALLOWLIST

SEND = {"recipients": {"external_ids": ["ann"]}, "content": {"title": "Hi", "body": "there"}}


@asynccontextmanager
async def _running(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://clarion.test", timeout=60
        ) as http:
            yield http


def _cli_env(keys: str, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLARION_")}
    return env | {
        "CLARION_SECRET_KEY": keys,
        "CLARION_VAR_DIR": str(tmp_path / "var"),
        "CLARION_OUTBOUND_ALLOWLIST": LOCAL_ALLOWLIST,
    }


def _rotate(database_url: str, keys: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "clarion.cli", "secrets", "rotate", "--database", database_url],
        env=_cli_env(keys, tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _worker_start_log(database_url: str, keys: str, tmp_path: Path) -> str:
    """What `clarion worker` logs at start, up to its check of the stored secrets."""
    worker = subprocess.Popen(
        [sys.executable, "-m", "clarion.cli", "worker", "--database", database_url],
        env=_cli_env(keys, tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert worker.stdout is not None
    lines: queue.Queue[str] = queue.Queue()
    # A reader thread, so a worker that never logs the error cannot hang the test.
    output = worker.stdout

    def read() -> None:
        for line in output:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(" ERROR " in line for line in seen):
            with contextlib.suppress(queue.Empty):
                seen.append(lines.get(timeout=0.2))
    finally:
        worker.send_signal(signal.SIGINT)
        worker.wait(timeout=30)
    return "".join(seen)


def test_the_first_key_seals_and_every_key_opens(tmp_path: Path) -> None:
    old = SecretBox("old-key").seal({"private_key": "p8"})
    both = SecretBox(" new-key , old-key ")
    assert both.open(old) == {"private_key": "p8"} and not both.is_current(old)
    new = both.seal({"private_key": "p8"})
    assert both.is_current(new) and SecretBox("new-key").open(new) == {"private_key": "p8"}
    with pytest.raises(SecretUnreadable):
        SecretBox("old-key").open(new)
    assert SecretBox("new-key").open(both.reseal(old)) == {"private_key": "p8"}
    # Without a configured key, one is generated once, private to its owner.
    generated = load_or_create_secret("", tmp_path / "var")
    assert load_or_create_secret("", tmp_path / "var") == generated
    assert (tmp_path / "var" / "secret.key").stat().st_mode & 0o777 == 0o600


async def test_changed_key_fails_loudly_and_rotation_recovers(
    own_database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with EmulatorSuite(tmp_path / "emulators") as emulators:

        def settings(keys: str) -> Settings:
            return Settings(
                database_url=own_database_url,
                var_dir=tmp_path / "var",
                admin_key=ADMIN_KEY,
                secret_key=keys,
                extra_ca_file=emulators.ca_file,
                outbound_allowlist=LOCAL_ALLOWLIST,
            )

        async with _running(settings("old-key")) as http:
            project_id, app_id, key = await configure_app(http, emulators)
            env = DeliveryEnv(http, emulators, project_id, app_id, key)
            await env.ios("iphone", external_id="ann")
            await env.android("pixel", external_id="ann")
            assert (await http.get("/readyz")).status_code == 200

        # The key was replaced: nothing stored can be opened any more.
        logged = _worker_start_log(own_database_url, "new-key", tmp_path)
        assert f"ERROR clarion.store.secret_check the apns secret of app {app_id}" in logged, logged
        caplog.set_level(logging.ERROR, logger="clarion.store.secret_check")
        async with _running(settings("new-key")) as http:
            ready = await http.get("/readyz")
            assert ready.status_code == 503, ready.text
            assert ready.json()["error"]["code"] == "NOT_READY"
            assert f"app {app_id} (apns)" in ready.json()["error"]["message"]
            assert sorted(s["provider"] for s in ready.json()["unreadable_secrets"]) == [
                "apns",
                "fcm",
                "webpush",
            ]
            records = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
            assert any(app_id in m and "CLARION_SECRET_KEY" in m for m in records), records

            env = DeliveryEnv(http, emulators, project_id, app_id, key)
            done = await env.wait_done(await env.send(SEND), seconds=30)
            assert done["counts"]["errors"] == 2 and done["counts"]["sent"] == 0, done
            for delivery in await env.deliveries(done["id"]):
                assert delivery["attempts"] == 1, delivery
                assert delivery["provider_reason"].startswith("UnreadableCredentials: the "), (
                    delivery
                )
            assert emulators.apns.deliveries == [] and emulators.fcm.deliveries == []

        # The new key first, the old one after it: everything opens again.
        async with _running(settings("new-key, old-key")) as http:
            assert (await http.get("/readyz")).status_code == 200
            env = DeliveryEnv(http, emulators, project_id, app_id, key)
            done = await env.wait_done(await env.send(SEND), seconds=30)
            assert done["counts"]["sent"] == 2, done

        first = _rotate(own_database_url, "new-key,old-key", tmp_path)
        assert first.returncode == 0, first.stderr
        assert "re-sealed 3, already under the first key 0, unreadable 0" in first.stdout
        again = _rotate(own_database_url, "new-key,old-key", tmp_path)
        assert "re-sealed 0, already under the first key 3, unreadable 0" in again.stdout

        # Rotated: the old key can go.
        async with _running(settings("new-key")) as http:
            assert (await http.get("/readyz")).status_code == 200
            env = DeliveryEnv(http, emulators, project_id, app_id, key)
            done = await env.wait_done(await env.send(SEND), seconds=30)
            assert done["counts"]["sent"] == 2, done

        wrong = _rotate(own_database_url, "other-key", tmp_path)
        assert wrong.returncode == 1
        assert "unreadable 3" in wrong.stdout and f"app {app_id}" in wrong.stderr
