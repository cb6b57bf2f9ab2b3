"""`python -m bench`: Clarion's scenarios against the native sink, and the peers, in one run.

    python -m bench [--quick] [--runs N] [--only NAME ...] [--no-peers] [--no-write]
                    [--broadcast DEVICES]

`--quick` runs each scenario once at smaller sizes (a few minutes); the full mode runs
them `--runs` times (3 by default), interleaved, and reports medians.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench import peers, report, sink
from bench.procs import median
from bench.scenarios import (
    Figures,
    Rig,
    accept_rate,
    big_send,
    broadcast,
    one_token_sends,
    steady_latency,
)
from clarion import eventloop
from clarion.emulators.tls import ensure_tls_files

QUICK = {"big": 10_000, "one": 500, "accept": 5, "steady": 10, "broadcast": 100_000}
FULL = {"big": 10_000, "one": 5_000, "accept": 10, "steady": 20, "broadcast": 1_000_000}
Scenario = Callable[[Rig, dict[str, int]], Awaitable[Figures]]

SCENARIOS: dict[str, Scenario] = {
    "big_sqlite": lambda rig, s: big_send(rig, "sqlite", s["big"]),
    "big_postgresql": lambda rig, s: big_send(rig, "postgresql", s["big"]),
    "big_pg_two_workers": lambda rig, s: big_send(rig, "postgresql", 2 * s["big"], 2),
    "one_sqlite": lambda rig, s: one_token_sends(rig, "sqlite", s["one"]),
    "one_postgresql": lambda rig, s: one_token_sends(rig, "postgresql", s["one"]),
    "accept_off": lambda rig, s: accept_rate(rig, False, s["accept"]),
    "accept_on": lambda rig, s: accept_rate(rig, True, s["accept"]),
    "steady": lambda rig, s: steady_latency(rig, 200, s["steady"]),
    "broadcast": lambda rig, s: broadcast(rig, s["broadcast"], 1_800),
}


def _options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="one run, smaller sizes")
    parser.add_argument("--runs", type=int, default=None, help="interleaved runs (full: 3)")
    parser.add_argument("--only", nargs="*", choices=sorted(SCENARIOS), default=None)
    parser.add_argument("--no-peers", action="store_true", help="skip the peer clients")
    parser.add_argument("--no-write", action="store_true", help="leave BENCHMARKS.md alone")
    parser.add_argument(
        "--broadcast", type=int, default=None, metavar="DEVICES", help="audience of `broadcast`"
    )
    return parser.parse_args()


def _sizes(options: argparse.Namespace) -> dict[str, int]:
    sizes = dict(QUICK if options.quick else FULL)
    if options.broadcast is not None:
        sizes["broadcast"] = options.broadcast
    return sizes


async def _run(options: argparse.Namespace, workdir: Path) -> dict[str, Figures]:
    sizes = _sizes(options)
    runs = options.runs or (1 if options.quick else 3)
    rig = Rig(workdir, sink.build(workdir), ensure_tls_files(workdir / "tls"))
    names = options.only or list(SCENARIOS)
    collected: dict[str, list[Figures]] = {name: [] for name in names}
    for run in range(runs):
        for name in names:
            started = time.perf_counter()
            try:
                figures = await SCENARIOS[name](rig, sizes)
            except Exception:
                # One failing scenario must not cost the others their figures.
                traceback.print_exc()
                print(f"run {run + 1} {name}: failed", flush=True)
                continue
            collected[name].append(figures)
            shown = ", ".join(f"{key} {value:,.2f}" for key, value in figures.items())
            took = time.perf_counter() - started
            print(f"run {run + 1} {name} ({took:.0f} s): {shown}", flush=True)
    return {
        name: {key: median([f[key] for f in runs_of]) for key in runs_of[0]}
        for name, runs_of in collected.items()
        if runs_of
    }


def main() -> None:
    """Run the peers, then every scenario, and write the table."""
    options = _options()
    sizes = _sizes(options)
    runs = options.runs or (1 if options.quick else 3)
    mode = f"{'quick' if options.quick else 'full'} mode, " + (
        "1 run" if runs == 1 else f"medians of {runs} interleaved runs"
    )
    load = report.machine()
    if os.cpu_count() == 2:
        # The harness and its load generator share CPU 1 with the sink, away from Clarion.
        os.sched_setaffinity(0, {1})
    with tempfile.TemporaryDirectory(prefix="clarion-bench-") as scratch:
        workdir = Path(scratch)
        peer_rates: dict[str, float] = {}
        if not options.no_peers:
            peer_rates = peers.measure(workdir, runs, options.quick)
            print(f"peers: {peer_rates or 'skipped (kit not found or failed)'}", flush=True)
        results = eventloop.run(_run(options, workdir))
    if not options.no_write and results:
        print(report.write(results, peer_rates, sizes, mode, load))
    if not results:
        sys.exit("no scenario finished")


if __name__ == "__main__":
    main()
