"""Bar-chart geometry for the operations page, drawn by the template as inline SVG (no script, no CDN).

Pure: values in, rectangles and axis ticks out, in the SVG's own coordinates (the viewBox scales it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

WIDTH, HEIGHT = 720.0, 240.0
# A wide left margin: on a phone the stylesheet doubles the axis font (the SVG is scaled down ~0.5).
LEFT, RIGHT, TOP, BOTTOM = 110.0, 8.0, 16.0, 36.0


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    value: float | None
    series: int  # 0 = first series (behind), 1 = second (in front, narrower)


@dataclass(frozen=True)
class Tick:
    at: float  # y (value ticks) or x (label ticks)
    text: str
    minor: bool = False  # a label a narrow screen leaves out


@dataclass(frozen=True)
class Chart:
    width: float
    height: float
    bars: tuple[Bar, ...]
    y_ticks: tuple[Tick, ...]
    x_ticks: tuple[Tick, ...]
    baseline: float
    plot_left: float
    plot_right: float
    empty: bool


def nice_max(value: float) -> float:
    """The smallest 1, 2 or 5 × 10^n at or above value (at least 1)."""
    if value <= 1:
        return 1.0
    exp = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * exp >= value:
            return float(step * exp)
    return float(10 * exp)


TIME_STEPS = (1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800, 86400)


def nice_seconds(value: float) -> float:
    """A duration axis ends on a round time (its half is one too): 10 s, 1 min, 5 min, 1 h …"""
    return float(next((step for step in TIME_STEPS if step >= value), nice_max(value)))


def seconds_text(value: float) -> str:
    """Seconds as s, min or h, to three significant digits (1202 s: "20 min", not "20.0333 min")."""
    if value < 120:
        return f"{value:.3g} s"
    if value < 7200:
        return f"{value / 60:.3g} min"
    hours = value / 3600
    return f"{hours:.3g} h" if hours < 100 else f"{hours:.0f} h"


def bar_chart(series: Sequence[Sequence[float | None]], labels: Sequence[str], *, unit: str = "",
              label_every: int = 3) -> Chart:
    """One or two series over the same slots; the second is drawn narrower, in front of the first."""
    slots = len(labels)
    peak = max((v for s in series for v in s if v is not None), default=0.0)
    top = nice_seconds(peak) if unit == "s" else nice_max(peak)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot_w = plot_w / max(1, slots)
    baseline = TOP + plot_h
    bars: list[Bar] = []
    for index, values in enumerate(series):
        width = slot_w * (0.8 if index == 0 else 0.4)
        for i, value in enumerate(values):
            if value is None or value <= 0:
                continue
            h = plot_h * value / top
            bars.append(Bar(round(LEFT + i * slot_w + (slot_w - width) / 2, 2), round(baseline - h, 2),
                            round(width, 2), round(h, 2), value, index))
    fmt = seconds_text if unit == "s" else (lambda v: f"{v:g}")
    fractions = (0.0, 0.5, 1.0) if unit == "s" or top % 2 == 0 else (0.0, 1.0)  # counts: whole numbers only
    y_ticks = tuple(Tick(round(baseline - plot_h * f, 2), fmt(top * f)) for f in fractions)
    x_ticks = tuple(Tick(round(LEFT + (i + 0.5) * slot_w, 2), labels[i], minor=(i // label_every) % 2 == 1)
                    for i in range(0, slots, label_every))
    return Chart(WIDTH, HEIGHT, tuple(bars), y_ticks, x_ticks, baseline, LEFT, WIDTH - RIGHT, not bars)
