"""Other APNs clients measured against a sink in the same invocation, when their kit is here.

The kit (its own sink, clients and runner) lives outside the repository, in
`/work/shared/bench` or wherever `CLARION_BENCH_PEERS` points; without it this step is
skipped. Its runner pins each client to CPU 0 and its sink to CPU 1, as the scenarios do.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import statistics
import subprocess
from pathlib import Path

KIT = Path(os.environ.get("CLARION_BENCH_PEERS", "/work/shared/bench"))
# The kit's configuration names, and what the report calls them.
CLIENTS = {
    "aioapns 1x100": "aioapns",
    "h2raw 1x100": "bare Python h2",
    "node-apn 1x100": "node-apn",
    "node-http2 1x100": "node http2",
    "h2load c1 m100": "h2load",
}
RUN_TIMEOUT = 1200


def available() -> bool:
    """Whether the peers' kit is on this machine."""
    return (KIT / "run_bench.py").exists() and (KIT / "env.sh").exists()


def measure(workdir: Path, runs: int, quick: bool) -> dict[str, float]:
    """Median requests per second of each peer client, by report name; empty when skipped."""
    if not available():
        return {}
    results = workdir / "peers.jsonl"
    only = " ".join(f"'{name}'" for name in CLIENTS)
    script = (
        f"source {KIT}/env.sh && "
        f'{{ [ -x "$BENCH_TMP/bin/h2sink" ] || bash {KIT}/setup.sh; }} && '
        f"python3 {KIT}/run_bench.py --runs {runs} --no-unpinned --only {only}"
        + (" --quick" if quick else "")
    )
    env = os.environ | {"RESULTS": str(results)}
    log = (workdir / "peers.log").open("wb")
    runner = subprocess.Popen(
        ["bash", "-c", script],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        runner.wait(RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        # A peer that hangs costs its figures, not the run: the rows written so far still count.
        os.killpg(runner.pid, signal.SIGKILL)
        runner.wait(10)
    finally:
        log.close()
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            subprocess.run(
                ["bash", str(KIT / "apns_sink.sh"), "stop"], env=env, timeout=30, check=False
            )
    rates: dict[str, list[float]] = {}
    if results.exists():
        for line in results.read_text().splitlines():
            row = json.loads(line)
            name = CLIENTS.get(row.get("config", ""))
            if name and row.get("pinned") and not row.get("errors"):
                rates.setdefault(name, []).append(float(row["req_s"]))
    return {name: statistics.median(values) for name, values in rates.items()}
