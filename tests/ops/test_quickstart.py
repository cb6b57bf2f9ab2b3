"""docs/quickstart.md runs as written, against a real server and the emulators."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
from pathlib import Path

from tests.ops.markdown import ROOT, blocks

QUICKSTART = ROOT / "docs" / "quickstart.md"


def _free_ports(count: int) -> int:
    """The first of `count` consecutive ports that are free now."""
    for _ in range(200):
        base = random.randint(20_000, 60_000)
        sockets = []
        try:
            for port in range(base, base + count):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError("no free ports")


def test_readme_links_the_quickstart_at_its_top() -> None:
    top = (ROOT / "README.md").read_text().split("\n## ", 1)[0]
    assert "docs/quickstart.md" in top


def test_quickstart_runs_verbatim(tmp_path: Path) -> None:
    script = "\n".join(blocks(QUICKSTART, "sh"))
    assert "clarion serve" in script and "clarion emulate" in script
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLARION_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["CLARION_PORT"] = str(_free_ports(1))
    env["EMULATOR_PORT"] = str(_free_ports(5))
    # Its own session, so that whatever the page starts in the background is ended with it.
    process = subprocess.Popen(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=240)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    log = tmp_path / "var" / "clarion.log"
    server_log = log.read_text() if log.exists() else ""
    print(output)
    assert process.returncode == 0, output + "\n--- server log ---\n" + server_log
    trail = output.rsplit("INSTALLATION_ID", 1)[1]
    for device in ("iphone-1", "pixel-1", "browser-1"):
        line = next(line for line in trail.splitlines() if line.startswith(device))
        assert " sent " in line, line
    assert '"status":"accepted"' in output.replace(" ", "")
    assert "ERROR" not in server_log, server_log
