"""The APNs emulator: HTTP/2 push port over TLS plus a plain HTTP/1.1 control port."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field

from aiohttp import web

from clarion.emulators import apns_checks, hpack_cache
from clarion.emulators.apns_auth import ProviderKey, ProviderKeys
from clarion.emulators.apns_protocol import ApnsConnection
from clarion.emulators.base import Emulator
from clarion.emulators.control import add_control_routes, json_error, read_json_object
from clarion.emulators.faults import Outcome
from clarion.emulators.http_site import HttpSite
from clarion.emulators.records import Delivery
from clarion.emulators.tls import TlsFiles

DEFAULT_MAX_CONCURRENT_STREAMS = 1000
_JSON = (b"content-type", b"application/json")
# Reasons whose body also carries the time APNs learnt the token stopped being valid.
_TIMESTAMPED = frozenset({"Unregistered", "ExpiredToken"})


@dataclass
class ApnsResponse:
    """One answer on an HTTP/2 stream."""

    status: int
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""


class ApnsEmulator(Emulator):
    """Speaks APNs on `url` (HTTP/2, TLS, ALPN h2) and its control API on `control_url`."""

    def __init__(
        self,
        tls: TlsFiles,
        host: str = "127.0.0.1",
        port: int = 0,
        control_port: int = 0,
        max_concurrent_streams: int = DEFAULT_MAX_CONCURRENT_STREAMS,
        seed: int | None = None,
        max_records: int | None = None,
    ) -> None:
        super().__init__(apns_checks.status_for_reason, host, seed, max_records)
        self.keys = ProviderKeys()
        self.max_concurrent_streams = max_concurrent_streams
        self._tls = tls
        self._port = port
        self._device_topics: dict[str, str] = {}
        self._connections: set[ApnsConnection] = set()
        self._server: asyncio.Server | None = None
        self._control = HttpSite(self._control_app(), host, control_port, None)

    @property
    def control_url(self) -> str:
        """Base URL of the plain HTTP/1.1 control port."""
        return f"http://{self._host}:{self._control.port}"

    def create_provider_key(self, team_id: str, key_id: str, topics: list[str]) -> str:
        """A new PKCS8 P-256 private key PEM whose public key is trusted for this team."""
        return self.keys.create(team_id, key_id, topics)

    def register_device(self, token: str, topic: str) -> None:
        """Bind a device token to one topic; pushes for other topics get DeviceTokenNotForTopic."""
        self._device_topics[token] = topic

    def unregister_device(self, token: str) -> Outcome:
        """Answer 410 Unregistered (timestamped now) for this token from now on."""
        return self.faults.set_outcome(token, "Unregistered")

    async def start(self) -> None:
        """Start the push and control ports."""
        hpack_cache.install()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: ApnsConnection(
                self._handle, self.faults, self.max_concurrent_streams, self._connections
            ),
            self._host,
            self._port,
            ssl=self._tls.server_context(alpn=["h2"]),
        )
        self.port = int(self._server.sockets[0].getsockname()[1])
        await self._control.start()

    async def stop(self) -> None:
        """Close every connection and both ports."""
        if self._server is not None:
            self._server.close()
            for connection in list(self._connections):
                connection.close()
            await self._server.wait_closed()
            self._server = None
        await self._control.stop()

    def _handle(
        self, header_list: list[tuple[bytes, bytes]], body: bytes, body_complete: bool
    ) -> ApnsResponse:
        headers = dict(header_list)
        path = headers.get(b":path", b"").decode("utf-8", "replace")
        token = path.removeprefix(apns_checks.DEVICE_PATH_PREFIX)
        apns_id = headers.get(b"apns-id", b"")
        if not apns_checks.is_uuid(apns_id):
            apns_id = str(uuid.uuid4()).upper().encode()
        checked = self._validate(header_list, headers, path, token, body, body_complete)
        if isinstance(checked, str):
            return self._refuse(
                token, apns_id, Outcome(apns_checks.REASON_STATUS[checked], checked)
            )
        forced = self.faults.pick_outcome(token)
        if forced is not None:
            return self._refuse(token, apns_id, forced)
        recorded = {
            name.decode(): value.decode("utf-8", "replace")
            for name, value in header_list
            if name.startswith(b"apns-")
        }
        self.recorder.accept(
            Delivery(token, recorded, body=body, payload=checked, id=apns_id.decode())
        )
        return ApnsResponse(200, [(b"apns-id", apns_id)])

    def _validate(
        self,
        header_list: list[tuple[bytes, bytes]],
        headers: dict[bytes, bytes],
        path: str,
        token: str,
        body: bytes,
        body_complete: bool,
    ) -> str | dict[str, object]:
        """The first reason Apple would refuse the request, else the parsed payload."""
        reason = apns_checks.check_route(headers.get(b":method", b""), path)
        reason = reason or apns_checks.check_duplicates(header_list)
        if reason is not None:
            return reason
        key = self.keys.authenticate(headers.get(b"authorization"))
        if isinstance(key, str):
            return key
        reason = self._check_topic(key, headers) or apns_checks.check_headers(headers)
        reason = reason or apns_checks.check_device_token(token)
        if reason is not None:
            return reason
        limit = apns_checks.payload_limit(headers)
        parsed = apns_checks.parse_payload(body, limit) if body_complete else "PayloadTooLarge"
        if isinstance(parsed, str):
            return parsed
        bound_topic = self._device_topics.get(token)
        if bound_topic is not None and bound_topic.encode() != headers[b"apns-topic"]:
            return "DeviceTokenNotForTopic"
        return parsed

    def _check_topic(self, key: ProviderKey, headers: dict[bytes, bytes]) -> str | None:
        topic = headers.get(b"apns-topic")
        if not topic:
            return "MissingTopic"
        return None if key.allows_topic(topic.decode("utf-8", "replace")) else "TopicDisallowed"

    def _refuse(self, token: str, apns_id: bytes, outcome: Outcome) -> ApnsResponse:
        self.recorder.reject(token, outcome.status, outcome.reason)
        document: dict[str, object] = {"reason": outcome.reason}
        if outcome.reason in _TIMESTAMPED:
            stamp = outcome.timestamp_ms
            document["timestamp"] = stamp if stamp is not None else int(time.time() * 1000)
        headers = [(b"apns-id", apns_id), _JSON]
        if outcome.retry_after is not None:
            headers.append((b"retry-after", str(outcome.retry_after).encode()))
        return ApnsResponse(outcome.status, headers, json.dumps(document).encode())

    def _control_app(self) -> web.Application:
        app = web.Application()
        add_control_routes(app, self.recorder, self.faults)

        async def add_key(request: web.Request) -> web.Response:
            doc = await read_json_object(request)
            if isinstance(doc, web.Response):
                return doc
            team_id, key_id, topics = doc.get("team_id"), doc.get("key_id"), doc.get("topics", [])
            if not (isinstance(team_id, str) and isinstance(key_id, str)) or not (
                isinstance(topics, list) and all(isinstance(t, str) for t in topics)
            ):
                return json_error(400, "need team_id and key_id strings and a topics list")
            pem = self.create_provider_key(team_id, key_id, topics)
            return web.json_response({"team_id": team_id, "key_id": key_id, "private_key": pem})

        async def add_device(request: web.Request) -> web.Response:
            doc = await read_json_object(request)
            if isinstance(doc, web.Response):
                return doc
            token, topic = doc.get("token"), doc.get("topic")
            if not (isinstance(token, str) and isinstance(topic, str)):
                return json_error(400, "need token and topic strings")
            self.register_device(token, topic)
            return web.json_response({"token": token, "topic": topic})

        app.router.add_post("/_emulator/keys", add_key)
        app.router.add_post("/_emulator/devices", add_device)
        return app
