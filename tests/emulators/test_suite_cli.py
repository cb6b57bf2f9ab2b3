"""The suite as a whole and `clarion emulate` as a real process."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from pathlib import Path

import aiohttp

from clarion.emulators.probe import H2Probe
from clarion.emulators.suite import EmulatorPorts, EmulatorSuite
from clarion.emulators.tls import ensure_tls_files
from tests.emulators.support import https_client

LAUNCH = (
    "import typer; from clarion.emulators.cli import emulate_command; typer.run(emulate_command)"
)


async def test_suite_urls_and_shared_ca(emulators: EmulatorSuite) -> None:
    urls = emulators.urls()
    assert set(urls) == {"apns", "apns_control", "fcm", "webpush", "sms"}
    assert len({url.rsplit(":", 1)[1] for url in urls.values()}) == 5
    assert emulators.ca_file.name == "ca.pem"
    async with https_client(emulators) as http:
        for name in ("fcm", "webpush", "sms"):
            async with http.get(f"{urls[name]}/_emulator/deliveries") as reply:
                assert reply.status == 200, name


async def test_fixed_ports_are_honoured(tmp_path: Path) -> None:
    async with EmulatorSuite(tmp_path) as first:
        taken = first.sms.url.rsplit(":", 1)[1]
    ports = {"sms": int(taken)}
    async with EmulatorSuite(tmp_path, ports=ports) as second:
        assert second.sms.url.endswith(f":{taken}")
    assert EmulatorPorts(**ports).sms == int(taken)


async def test_emulate_command_runs_until_interrupted(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        LAUNCH,
        "--state-dir",
        str(tmp_path),
        "--apns-max-streams",
        "12",
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    lines = [(await asyncio.wait_for(process.stdout.readline(), 30)).decode() for _ in range(6)]
    printed = "".join(lines)
    assert f"CA certificate: {tmp_path / 'ca.pem'}" in printed
    sms_url = re.search(r"^sms\s+(\S+)$", printed, re.MULTILINE)
    assert sms_url is not None
    ssl_context = ensure_tls_files(tmp_path).client_context()
    apns_url = re.search(r"^apns\s+https://127.0.0.1:(\d+)$", printed, re.MULTILINE)
    assert apns_url is not None
    probe = await H2Probe.connect("127.0.0.1", int(apns_url.group(1)), ssl_context)
    assert probe.max_concurrent_streams == 12
    await probe.close()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ssl_context)) as http:
        body = {"to": "+14155552671", "from": "Clarion", "body": "hi"}
        async with http.post(f"{sms_url.group(1)}/sms", json=body) as reply:
            assert reply.status == 201
    process.send_signal(signal.SIGINT)
    assert await asyncio.wait_for(process.wait(), 30) == 0


async def test_reset_clears_rules_and_records(emulators: EmulatorSuite) -> None:
    for emulator in (emulators.apns, emulators.fcm, emulators.webpush, emulators.sms):
        emulator.faults.set_latency(1)
        emulator.recorder.reject("t", 500, "x")
    emulators.reset()
    for emulator in (emulators.apns, emulators.fcm, emulators.webpush, emulators.sms):
        assert emulator.faults.latency == 0
        assert emulator.rejections == []
        assert emulator.recorder.rejected_total == 0
