"""The demo `make run` prepares: emulators, a project, an app wired to them, devices and a key."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from clarion.api.v1.installations import InstallationIn
from clarion.api.v1.providers import (
    ApnsIn,
    FcmIn,
    WebPushIn,
    apns_documents,
    fcm_documents,
    webpush_documents,
)
from clarion.domain.vocabulary import Provider
from clarion.emulators.suite import EmulatorSuite
from clarion.store import apps as app_store
from clarion.store import contacts as contact_store
from clarion.store import installations as installation_store
from clarion.store import keys as key_store
from clarion.store import projects as project_store
from clarion.store.private_files import private_dir
from clarion.store.secrets import SecretBox

DEMO_PROJECT = "demo"
DEMO_APP = "demo-app"
DEMO_CONTACT = "demo-user"
DEMO_TEAM = "DEMOTEAM01"
DEMO_KEY_ID = "DEMOKEY001"
DEMO_TOPIC = "com.example.clarion.demo"
# A fixed, well-formed APNs token so the demo send command is the same every run.
DEMO_IOS_TOKEN = "d" * 64
# Where the emulators listen: the outbound policy must let the demo reach them.
EMULATOR_HOSTS = ("127.0.0.1", "::1")


def demo_allowlist(current: str) -> str:
    """The operator's outbound allowlist plus the emulators' loopback addresses."""
    entries = [entry.strip() for entry in current.split(",") if entry.strip()]
    entries += [host for host in EMULATOR_HOSTS if host not in entries]
    return ",".join(entries)


@dataclass(frozen=True)
class Demo:
    """What a newcomer needs to try the API."""

    project_id: str
    app_id: str
    api_key: str
    contact: str


async def prepare_demo(
    engine: AsyncEngine, var_dir: Path, secrets: SecretBox, emulators: EmulatorSuite | None = None
) -> Demo:
    """Create the demo project, app and key once; wire the app to the emulators when given."""
    key_file = var_dir / "demo-api-key"
    async with engine.begin() as conn:
        if await project_store.get_project(conn, DEMO_PROJECT) is None:
            await project_store.create_project(conn, DEMO_PROJECT, "Demo project")
        app = await app_store.get_app(conn, DEMO_APP)
        if app is None:
            await app_store.create_app(conn, DEMO_PROJECT, DEMO_APP, "Demo app")
            app = await app_store.get_app(conn, DEMO_APP)
        assert app is not None
        if emulators is not None:
            await _wire_emulators(conn, secrets, app["pk"], emulators)
        api_key = key_file.read_text().strip() if key_file.exists() else ""
        if not api_key or await key_store.verify_key(conn, api_key) is None:
            _, api_key = await key_store.create_key(
                conn, DEMO_PROJECT, ["admin"], name="demo key made by `clarion serve --demo`"
            )
            _save_private(key_file, api_key)
    return Demo(DEMO_PROJECT, DEMO_APP, api_key, DEMO_CONTACT)


async def _wire_emulators(
    conn: AsyncConnection, secrets: SecretBox, app_pk: int, emulators: EmulatorSuite
) -> None:
    # Emulator keys live in memory: each start registers fresh credentials and devices.
    p8 = emulators.apns.create_provider_key(DEMO_TEAM, DEMO_KEY_ID, [DEMO_TOPIC])
    apns = ApnsIn(
        team_id=DEMO_TEAM,
        key_id=DEMO_KEY_ID,
        private_key=p8,
        topic=DEMO_TOPIC,
        endpoint=emulators.apns.url,
    )
    account = emulators.fcm.create_service_account("clarion-demo")
    fcm = FcmIn(service_account=account, endpoint=emulators.fcm.url)
    web = WebPushIn(subject="mailto:demo@example.com")
    for provider, (public, secret) in (
        (Provider.APNS, apns_documents(apns)),
        (Provider.FCM, fcm_documents(fcm)),
        (Provider.WEBPUSH, webpush_documents(web)),
    ):
        await app_store.put_credentials(conn, secrets, app_pk, provider, public, secret)
    contact_pk = await contact_store.ensure_contact(conn, DEMO_PROJECT, DEMO_CONTACT)
    devices = {
        "demo-iphone": InstallationIn(platform="ios", token=DEMO_IOS_TOKEN),
        "demo-android": InstallationIn(platform="android", token="demo-fcm-token"),
        "demo-browser": InstallationIn.model_validate(
            {"platform": "web", "subscription": emulators.webpush.create_subscription()}
        ),
    }
    for installation_id, device in devices.items():
        values = device.model_dump(exclude={"external_id"})
        values["contact_pk"] = contact_pk
        if device.subscription is not None:
            values["token"] = device.subscription.endpoint
        await installation_store.upsert_installation(conn, app_pk, installation_id, values)


def _save_private(path: Path, text: str) -> None:
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text + "\n")
