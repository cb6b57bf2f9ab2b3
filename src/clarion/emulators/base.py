"""What every emulator shares: fault rules, the record of what it saw, and its base URL."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from clarion.emulators.faults import FaultRules
from clarion.emulators.http_site import HttpSite
from clarion.emulators.records import Delivery, Recorder, Rejection
from clarion.emulators.tls import TlsFiles


class Emulator:
    """Fault rules and a recorder; `url` names the TLS port once `port` is known."""

    def __init__(
        self,
        status_for_reason: Callable[[str], int | None],
        host: str,
        seed: int | None,
        max_records: int | None,
    ) -> None:
        self.faults = FaultRules(status_for_reason, seed=seed)
        self.recorder = Recorder(max_records)
        self._host = host
        self.port = 0

    @property
    def url(self) -> str:
        """Base URL, e.g. https://127.0.0.1:54321."""
        return f"https://{self._host}:{self.port}"

    @property
    def deliveries(self) -> list[Delivery]:
        """Accepted requests, oldest first."""
        return self.recorder.deliveries

    @property
    def rejections(self) -> list[Rejection]:
        """Refused requests, oldest first."""
        return self.recorder.rejections


class HttpsEmulator(Emulator):
    """An emulator whose whole surface, control routes included, is one aiohttp app over TLS."""

    def __init__(
        self,
        tls: TlsFiles,
        host: str,
        port: int,
        status_for_reason: Callable[[str], int | None],
        seed: int | None,
        max_records: int | None,
    ) -> None:
        super().__init__(status_for_reason, host, seed, max_records)
        self._site = HttpSite(self._app(), host, port, tls.server_context())

    async def start(self) -> None:
        """Start serving."""
        await self._site.start()
        self.port = self._site.port

    async def stop(self) -> None:
        """Stop serving."""
        await self._site.stop()

    def _app(self) -> web.Application:
        """The application serving this emulator's routes."""
        raise NotImplementedError
