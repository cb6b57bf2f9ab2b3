"""`clarion emulate`: run the APNs, FCM, Web Push and SMS emulators until interrupted."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path
from typing import Annotated

import typer

from clarion import eventloop
from clarion.emulators.apns import DEFAULT_MAX_CONCURRENT_STREAMS
from clarion.emulators.suite import EmulatorPorts, EmulatorSuite


def describe(suite: EmulatorSuite) -> str:
    """The lines printed at start-up: CA file and every URL."""
    lines = [f"CA certificate: {suite.ca_file}"]
    lines += [f"{name:<13} {url}" for name, url in suite.urls().items()]
    return "\n".join(lines)


async def run_until_stopped(suite: EmulatorSuite, stop: asyncio.Event) -> None:
    """Run the suite, print its URLs, and stop when `stop` is set."""
    async with suite:
        typer.echo(describe(suite))
        await stop.wait()


async def _serve(suite: EmulatorSuite) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    await run_until_stopped(suite, stop)


def emulate_command(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    apns_port: Annotated[int, typer.Option(help="APNs HTTP/2 port (0 = any free).")] = 0,
    apns_control_port: Annotated[
        int, typer.Option(help="APNs control API port, plain HTTP/1.1 (0 = any free).")
    ] = 0,
    fcm_port: Annotated[int, typer.Option(help="FCM HTTP v1 port (0 = any free).")] = 0,
    webpush_port: Annotated[int, typer.Option(help="Web Push port (0 = any free).")] = 0,
    sms_port: Annotated[int, typer.Option(help="SMS gateway port (0 = any free).")] = 0,
    state_dir: Annotated[
        Path, typer.Option(help="Where the CA and server certificate are kept.")
    ] = Path("var/emulators"),
    apns_max_streams: Annotated[
        int, typer.Option(help="SETTINGS_MAX_CONCURRENT_STREAMS the APNs port advertises.")
    ] = DEFAULT_MAX_CONCURRENT_STREAMS,
    max_records: Annotated[
        int, typer.Option(help="Newest deliveries/rejections each emulator keeps (0 = all).")
    ] = 100_000,
) -> None:
    """Run local APNs, FCM, Web Push and SMS servers until interrupted."""
    ports = EmulatorPorts(apns_port, apns_control_port, fcm_port, webpush_port, sms_port)
    suite = EmulatorSuite(state_dir, host, ports, apns_max_streams, max_records=max_records or None)
    eventloop.run(_serve(suite))
