"""docs/metrics.md names every exported metric, and its alert rules use only real ones."""

from __future__ import annotations

import re

import httpx
import yaml

from tests.ops.markdown import ROOT, blocks

METRICS_DOC = ROOT / "docs" / "metrics.md"
_SUFFIXES = ("_bucket", "_count", "_sum", "_created")


def _base(name: str) -> str:
    for suffix in _SUFFIXES:
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    return name


async def test_every_exported_metric_is_documented_and_alerts_use_real_ones(
    client: httpx.AsyncClient,
) -> None:
    exported = await client.get("/metrics")
    names = {
        _base(line.split("{")[0].split(" ")[0])
        for line in exported.text.splitlines()
        if line.startswith("clarion_")
    }
    helps = set(re.findall(r"^# HELP (clarion_\w+)", exported.text, re.MULTILINE))
    names |= {_base(n) for n in helps}
    names = {n.removesuffix("_total") for n in names}
    doc = METRICS_DOC.read_text()
    documented = {n.removesuffix("_total") for n in re.findall(r"`(clarion_\w+)`", doc)}
    assert names - documented == set(), "exported but not documented"
    assert documented - names == set(), "documented but not exported"
    (rules,) = blocks(METRICS_DOC, "yaml")
    alerts = yaml.safe_load(rules)["groups"][0]["rules"]
    assert len(alerts) >= 5
    for alert in alerts:
        for used in re.findall(r"clarion_\w+", alert["expr"]):
            assert _base(used).removesuffix("_total") in names, (alert["alert"], used)
