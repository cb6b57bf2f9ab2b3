"""Charts drawn on the server as SVG: labelled axes, no script, an empty state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from markupsafe import Markup, escape

#: Series colours with AA contrast against the white chart background.
COLOURS = ("#1f5fad", "#1d7a3a", "#b3261e", "#7a4bb3")


@dataclass(frozen=True)
class Chart:
    """An SVG chart and the text that says the same to a screen reader."""

    svg: Markup
    summary: str
    empty: bool


def _tick_step(top: int, ticks: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten that covers `top` in `ticks` steps."""
    needed = max(-(-top // ticks), 1)
    magnitude = 1
    while True:
        for step in (1, 2, 5):
            if step * magnitude >= needed:
                return step * magnitude
        magnitude *= 10


def funnel_chart(stages: list[tuple[str, int]]) -> Chart:
    """Horizontal bars: targeted, sent, opened, clicked, each with its count and share."""
    top = max((count for _, count in stages), default=0)
    summary = ", ".join(f"{name} {count}" for name, count in stages)
    if top == 0:
        return Chart(Markup(""), "No device was targeted yet.", True)
    width, bar_left, row = 560, 90, 34
    height = row * len(stages) + 10
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape("Funnel: " + summary)}">'
    ]
    for index, (name, count) in enumerate(stages):
        y = 5 + index * row
        span = int((width - bar_left - 120) * count / top)
        share = f"{count * 100 // top} %"
        colour = COLOURS[index % len(COLOURS)]
        parts.append(
            f'<text x="{bar_left - 8}" y="{y + 20}" text-anchor="end">{escape(name)}</text>'
            f'<rect x="{bar_left}" y="{y + 4}" width="{max(span, 1)}" height="22" '
            f'fill="{colour}"></rect>'
            f'<text x="{bar_left + span + 6}" y="{y + 20}">{count} ({share})</text>'
        )
    parts.append("</svg>")
    return Chart(Markup("".join(parts)), summary, False)


def period_chart(
    days: list[tuple[datetime, dict[str, int]]],
    series: tuple[str, ...],
    label_format: str,
    title: str,
) -> Chart:
    """Grouped columns per period for each series, with a y axis and period labels."""
    top = max((values[name] for _, values in days for name in series), default=0)
    if top == 0:
        return Chart(Markup(""), "No sends in this period.", True)
    step = _tick_step(top, 4)
    scale = step * 4
    width, height, left, bottom, top_pad = 640, 220, 48, 36, 12
    plot_h = height - bottom - top_pad
    slot = (width - left - 10) / max(len(days), 1)
    bar = max(min(slot / (len(series) + 1), 18), 2)
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title + ": " + ", ".join(series))}">'
    ]
    every = max(len(days) // 12, 1)
    for tick in range(5):
        value = step * tick
        y = top_pad + plot_h - plot_h * tick / 4
        parts.append(
            f'<line x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" class="grid"></line>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{value}</text>'
        )
    for index, (day, values) in enumerate(days):
        x0 = left + index * slot + bar / 2
        for number, name in enumerate(series):
            value = values[name]
            h = plot_h * value / scale
            parts.append(
                f'<rect x="{x0 + number * bar:.1f}" y="{top_pad + plot_h - h:.1f}" '
                f'width="{bar - 1:.1f}" height="{h:.1f}" fill="{COLOURS[number]}">'
                f"<title>{escape(f'{day.strftime(label_format)} {name}: {value}')}</title></rect>"
            )
        if index % every:
            continue
        label = day.strftime(label_format)
        parts.append(
            f'<text x="{left + index * slot + slot / 2:.1f}" y="{height - bottom + 18}" '
            f'text-anchor="middle">{escape(label)}</text>'
        )
    parts.append(
        f'<line x1="{left}" x2="{left}" y1="{top_pad}" y2="{top_pad + plot_h}" class="axis"></line>'
        f'<line x1="{left}" x2="{width - 10}" y1="{top_pad + plot_h}" y2="{top_pad + plot_h}" '
        'class="axis"></line></svg>'
    )
    summary = "; ".join(
        f"{day.strftime(label_format)}: " + ", ".join(f"{name} {values[name]}" for name in series)
        for day, values in days
        if any(values.values())
    )
    return Chart(Markup("".join(parts)), summary, False)
