"""The benchmark table of BENCHMARKS.md: the earlier figures, today's, and the peers'."""

from __future__ import annotations

import math
import os
import platform
import subprocess
import time
from collections.abc import Mapping

from bench.harness import replace_section

SECTION = "## Clarion against the native HTTP/2 sink"
Results = Mapping[str, Mapping[str, float]]

# Figures measured before the fast paths, with the same method (pinned, native sink).
BEFORE = {
    "big": "2,093/s, 0.48 ms CPU each",
    "big_pg": "1,066/s",
    "big_pg2": "not measured",
    "one": "53/s SQLite, 66/s PostgreSQL; 12-16 ms CPU each",
    "accept": "330-360 / 270-310 per s; p50 105-155 ms, p99 0.9-1.4 s",
    "steady": "at 100/s: p50 14 s, p99 20 s (falls behind); at 25/s: p50 16 ms, p99 33 ms",
    "broadcast": "1,000,000: plan 187 s + deliver 421 s (2,376/s), peak RSS 256 MB",
}
TARGET = {
    "big": "≥ 11,000/s",
    "big_pg": "",
    "big_pg2": "≥ 15,000/s",
    "one": "≥ 1,500/s on SQLite",
    "accept": "off ≥ 3,000/s",
    "steady": "p99 < 50 ms",
    "broadcast": "1,000,000 in < 100 s, RSS < 300 MB, flat",
}


def _get(results: Results, name: str, key: str) -> float | None:
    return results.get(name, {}).get(key)


def _fmt(value: float | None, pattern: str) -> str:
    return "not measured" if value is None else pattern.format(value)


def _now_cells(r: Results, sizes: Mapping[str, int]) -> dict[str, str]:
    def rate(name: str) -> str:
        per_s, cpu = _get(r, name, "per_s"), _get(r, name, "cpu_ms")
        if per_s is None or cpu is None:
            return "not measured"
        return f"{per_s:,.0f}/s, {cpu:.2f} ms CPU each"

    def accept(name: str) -> str:
        per_s = _get(r, name, "per_s")
        if per_s is None:
            return "not measured"
        p50, p99 = _get(r, name, "p50_ms"), _get(r, name, "p99_ms")
        return f"{per_s:,.0f}/s (p50 {p50:,.0f} ms, p99 {p99:,.0f} ms)"

    steady = (
        _fmt(_get(r, "steady", "p50_ms"), "p50 {:,.0f} ms")
        + ", "
        + _fmt(_get(r, "steady", "p99_ms"), "p99 {:,.0f} ms")
    )
    reached = _get(r, "steady", "reached_per_s")
    if reached is not None:
        steady += f"; the provider was reached at {reached:,.0f}/s"
    missing = _get(r, "steady", "missing")
    if missing:
        steady += f" ({missing:.0f} not delivered in time)"
    b = r.get("broadcast", {})
    broadcast = (
        f"{sizes['broadcast']:,}: plan {b['plan_s']:.1f} s + deliver {b['deliver_s']:.1f} s "
        f"({b['per_s']:,.0f}/s), peak RSS {b['peak_rss_mb']:.0f} MB "
        f"({b['rss_before_mb']:.0f} MB before the send)"
        + (
            f"; sends accepted while it was planned: p99 {b['p99_ms']:.0f} ms"
            if not math.isnan(b.get("p99_ms", math.nan))
            else ""
        )
        if b
        else "not measured"
    )
    return {
        "big": rate("big_sqlite"),
        "big_pg": rate("big_postgresql"),
        "big_pg2": rate("big_pg_two_workers"),
        "one": f"SQLite {rate('one_sqlite')}; PostgreSQL {rate('one_postgresql')}",
        "accept": f"off {accept('accept_off')}; on {accept('accept_on')}",
        "steady": steady,
        "broadcast": broadcast,
    }


def machine() -> str:
    """The machine, commit, time and load line of the report."""
    load = os.getloadavg()[0]
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"commit {commit or 'unknown'}, measured {time.strftime('%Y-%m-%d %H:%M %Z')}, "
        f"load average (1 min) at the start {load:.2f}"
    )


def write(
    results: Results, peers: Mapping[str, float], sizes: Mapping[str, int], mode: str, load: str
) -> str:
    """Write the table into BENCHMARKS.md and return it."""
    now = _now_cells(results, sizes)
    peer_text = ", ".join(f"{name} {rate:,.0f}" for name, rate in peers.items())
    rows = [
        ("big", f"one send to {sizes['big']:,} iOS tokens, SQLite"),
        ("big_pg", "same on PostgreSQL"),
        ("big_pg2", f"one send to {2 * sizes['big']:,} tokens, PostgreSQL, 2 worker processes"),
        ("one", f"{sizes['one']:,} one-token sends, 100 clients, end to end"),
        ("accept", "accept rate, 50 clients, workers off / on"),
        ("steady", f"accept → provider at a steady 200 sends/s for {sizes['steady']} s"),
        ("broadcast", "broadcast to every device, SQLite"),
    ]
    # Other work on the machine slows Clarion and the peers alike: say how busy it was.
    load += f", at the end {os.getloadavg()[0]:.2f}"
    lines = [
        "",
        f"`make bench` ({mode}). {load}. `clarion serve` (uvloop) runs pinned to CPU 0, "
        "configured through its API, its APNs app pointed at the native sink "
        "(`bench/sink/h2sink.c`) pinned to CPU 1; the load comes from the harness on CPU 1. "
        "Installations are bulk-inserted with SQL. Rates run from the first request to the "
        "last outcome recorded; CPU is Clarion's own process. The per-key rate limit is off. "
        "Peers: the same sink kind, each client pinned to CPU 0, 1 connection with 100 "
        "streams, requests/s.",
        "",
        "| what | before | now | target | peers on the same core (req/s) |",
        "|---|---|---|---|---|",
    ]
    for key, label in rows:
        peer_cell = (peer_text or "not run") if key == "big" else ""
        lines.append(f"| {label} | {BEFORE[key]} | {now[key]} | {TARGET[key]} | {peer_cell} |")
    replace_section(SECTION, lines)
    return "\n".join([SECTION, *lines])
