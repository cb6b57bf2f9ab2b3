"""All four emulators behind one CA, started and stopped together."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from clarion.emulators.apns import DEFAULT_MAX_CONCURRENT_STREAMS, ApnsEmulator
from clarion.emulators.fcm import FcmEmulator
from clarion.emulators.sms import SmsEmulator
from clarion.emulators.tls import ensure_tls_files
from clarion.emulators.webpush import WebPushEmulator


@dataclass(frozen=True)
class EmulatorPorts:
    """Ports to listen on; 0 picks a free one."""

    apns: int = 0
    apns_control: int = 0
    fcm: int = 0
    webpush: int = 0
    sms: int = 0


class EmulatorSuite:
    """`async with EmulatorSuite(state_dir) as suite:` runs APNs, FCM, Web Push and SMS.

    `seed` makes rate-based faults repeatable; `max_records` caps the records each keeps.
    """

    def __init__(
        self,
        state_dir: Path,
        host: str = "127.0.0.1",
        ports: EmulatorPorts | dict[str, int] | None = None,
        max_concurrent_streams: int = DEFAULT_MAX_CONCURRENT_STREAMS,
        seed: int | None = None,
        max_records: int | None = None,
    ) -> None:
        chosen = EmulatorPorts(**ports) if isinstance(ports, dict) else ports or EmulatorPorts()
        self.tls = ensure_tls_files(Path(state_dir))
        self.ca_file: Path = self.tls.ca_file
        self.apns = ApnsEmulator(
            self.tls,
            host,
            chosen.apns,
            chosen.apns_control,
            max_concurrent_streams,
            seed,
            max_records,
        )
        self.fcm = FcmEmulator(self.tls, host, chosen.fcm, seed, max_records)
        self.webpush = WebPushEmulator(self.tls, host, chosen.webpush, seed, max_records)
        self.sms = SmsEmulator(self.tls, host, chosen.sms, seed, max_records)

    def urls(self) -> dict[str, str]:
        """Every base URL by name."""
        return {
            "apns": self.apns.url,
            "apns_control": self.apns.control_url,
            "fcm": self.fcm.url,
            "webpush": self.webpush.url,
            "sms": self.sms.url,
        }

    def reset(self) -> None:
        """Clear every emulator's fault rules and records (keys and subscriptions stay)."""
        for emulator in (self.apns, self.fcm, self.webpush, self.sms):
            emulator.faults.clear()
            emulator.recorder.clear()

    async def start(self) -> None:
        """Start all servers (stopping those already up if one fails)."""
        started: list[ApnsEmulator | FcmEmulator | WebPushEmulator | SmsEmulator] = []
        try:
            for emulator in (self.apns, self.fcm, self.webpush, self.sms):
                await emulator.start()
                started.append(emulator)
        except BaseException:
            for emulator in reversed(started):
                await emulator.stop()
            raise

    async def stop(self) -> None:
        """Stop all servers."""
        for emulator in (self.sms, self.webpush, self.fcm, self.apns):
            await emulator.stop()

    async def __aenter__(self) -> EmulatorSuite:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()
