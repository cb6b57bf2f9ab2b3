"""Provider clients built from an app's stored credentials, kept open and reused."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from clarion.providers.apns import PRODUCTION_ENDPOINT, SANDBOX_ENDPOINT, ApnsClient
from clarion.providers.fcm import FcmClient
from clarion.providers.outbound import STRICT, OutboundPolicy
from clarion.providers.tls import client_ssl_context, load_client_certificate
from clarion.providers.transport import Transport
from clarion.providers.webpush import WebPushClient
from clarion.store import apps as app_store
from clarion.store.secret_check import SecretHealth, UnreadableSecret
from clarion.store.secrets import SecretBox, SecretUnreadable


class MissingCredentials(Exception):
    """The app has no credentials for the provider a device needs."""

    #: The reason recorded on each device this failure stops.
    reason = "MissingCredentials"


class UnreadableCredentials(MissingCredentials):
    """The app's credentials are stored but no configured key decrypts them."""

    def __init__(self, provider: str) -> None:
        super().__init__(f"the {provider} secret of this app cannot be decrypted")
        self.reason = (
            f"UnreadableCredentials: the {provider} secret cannot be decrypted "
            "with any key of CLARION_SECRET_KEY"
        )


#: How long a client is used before the stored credentials are checked for a change.
RECHECK_SECONDS = 5.0


@dataclass
class _Entry:
    updated_at: datetime
    client: Transport
    public: dict[str, Any]
    checked_at: float


class ProviderClients:
    """One client per (app, provider), rebuilt when the app's credentials change."""

    def __init__(
        self,
        engine: AsyncEngine,
        secrets: SecretBox,
        extra_ca_file: Path | None,
        outbound: OutboundPolicy = STRICT,
        health: SecretHealth | None = None,
    ) -> None:
        self.engine = engine
        self.outbound = outbound
        self.secrets = secrets
        self.health = health
        self.extra_ca_file = extra_ca_file
        self._entries: dict[tuple[int, str, bool], _Entry] = {}
        self._lock = asyncio.Lock()

    def _ssl(self) -> ssl.SSLContext:
        return client_ssl_context(self.extra_ca_file)

    async def get(
        self, app_pk: int, provider: str, sandbox: bool = False
    ) -> tuple[Transport, dict[str, Any]]:
        """The client for one app and provider, with the credentials' public fields."""
        key = (app_pk, provider, sandbox)
        cached = self._entries.get(key)
        # Every device of a batch needs the same client: read the credentials row only
        # every few seconds, not once per notification.
        if cached is not None and time.monotonic() - cached.checked_at < RECHECK_SECONDS:
            return cached.client, cached.public
        async with self.engine.connect() as conn:
            row = await app_store.get_credentials(conn, app_pk, provider)
        if row is None:
            raise MissingCredentials(f"no {provider} credentials for this app")
        async with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.updated_at == row["updated_at"]:
                entry.checked_at = time.monotonic()
                return entry.client, entry.public
            if entry is not None:
                await entry.client.close()
            secret = await self._open(app_pk, provider, row["secret_blob"])
            client = self._build(provider, row["public_config"], secret, sandbox)
            self._entries[key] = _Entry(
                row["updated_at"], client, row["public_config"], time.monotonic()
            )
            return client, row["public_config"]

    async def _open(self, app_pk: int, provider: str, blob: bytes) -> dict[str, Any]:
        try:
            secret = self.secrets.open(blob)
        except SecretUnreadable:
            if self.health is not None and not self.health.knows(app_pk, provider):
                async with self.engine.connect() as conn:
                    app = await app_store.get_app_by_pk(conn, app_pk)
                if app is not None:
                    self.health.report(
                        UnreadableSecret(app_pk, app["id"], app["project_id"], provider)
                    )
            raise UnreadableCredentials(provider) from None
        if self.health is not None:
            self.health.opened(app_pk, provider)
        return secret

    def _build(
        self, provider: str, public: dict[str, Any], secret: dict[str, Any], sandbox: bool
    ) -> Transport:
        builders: dict[str, Callable[[dict[str, Any], dict[str, Any], bool], Transport]] = {
            "apns": self._apns,
            "fcm": self._fcm,
            "webpush": self._webpush,
        }
        build = builders.get(provider)
        if build is None:
            raise MissingCredentials(f"unknown provider {provider}")
        return build(public, secret, sandbox)

    def _fcm(self, public: dict[str, Any], secret: dict[str, Any], sandbox: bool) -> FcmClient:
        account = dict(secret["service_account"])
        if public.get("token_uri"):
            account["token_uri"] = public["token_uri"]
        endpoint = public.get("endpoint") or "https://fcm.googleapis.com"
        return FcmClient(account, endpoint, ssl_context=self._ssl(), outbound=self.outbound)

    def _webpush(
        self, public: dict[str, Any], secret: dict[str, Any], sandbox: bool
    ) -> WebPushClient:
        return WebPushClient(
            secret["private_key"],
            public["subject"],
            ssl_context=self._ssl(),
            outbound=self.outbound,
        )

    def _apns(self, public: dict[str, Any], secret: dict[str, Any], sandbox: bool) -> ApnsClient:
        # An explicit endpoint wins; otherwise the device's sandbox flag or the app's environment.
        endpoint = public.get("endpoint") or (
            SANDBOX_ENDPOINT
            if sandbox or public.get("environment") == "sandbox"
            else PRODUCTION_ENDPOINT
        )
        if public.get("auth_type", "token") == "token":
            return ApnsClient(
                public["team_id"],
                public["key_id"],
                secret["private_key"],
                endpoint,
                ca_file=self.extra_ca_file,
                outbound=self.outbound,
            )
        context = self._ssl()
        load_client_certificate(context, secret["certificate"], secret["private_key"])
        return ApnsClient(None, None, None, endpoint, ssl_context=context, outbound=self.outbound)

    async def close(self) -> None:
        """Close every open client."""
        for entry in self._entries.values():
            await entry.client.close()
        self._entries.clear()
