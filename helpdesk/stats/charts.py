"""Server-rendered SVG charts: no JavaScript, no library, nothing from the internet.

Each function returns SVG markup built from numbers and escaped labels only;
colours come from classes styled in static/stats/stats.css (no style
attributes, so a strict Content-Security-Policy holds). Every chart is drawn
with role="img" and a title; the page puts the same figures in a table next
to it (templates/stats/dashboard.html), which is the accessible alternative.
Suppressed values (None) are left out of the drawing and shown as "–" in
the tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from django.utils.safestring import SafeString, mark_safe

WIDTH = 720
HEIGHT = 260
PAD_L, PAD_R, PAD_T, PAD_B = 56, 16, 16, 40


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10 ** len(str(int(value))) / 10
    # Multiples that split evenly into the four grid steps.
    for step in (1, 2, 4, 8, 10):
        if value <= step * magnitude:
            return step * magnitude
    return value


def _fmt(value: float) -> str:
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


def _open(title: str, chart_id: str, width: int = WIDTH, height: int = HEIGHT) -> list[str]:
    return [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{chart_id}-title" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
    ]


def _axes(parts: list[str], y_max: float, *, labels: Sequence[str], every: int) -> None:
    plot_h = HEIGHT - PAD_T - PAD_B
    for i in range(5):
        value = y_max * i / 4
        y = PAD_T + plot_h - plot_h * i / 4
        parts.append(
            f'<line class="grid" x1="{PAD_L}" x2="{WIDTH - PAD_R}" y1="{y:.1f}" y2="{y:.1f}"/>'
        )
        parts.append(
            f'<text class="tick" x="{PAD_L - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{_fmt(value)}</text>"
        )
    n = len(labels)
    plot_w = WIDTH - PAD_L - PAD_R
    for i, label in enumerate(labels):
        if i % every:
            continue
        x = PAD_L + plot_w * (i + 0.5) / max(n, 1)
        parts.append(
            f'<text class="tick" x="{x:.1f}" y="{HEIGHT - PAD_B + 16}" text-anchor="middle">'
            f"{escape(label)}</text>"
        )


def line_chart(
    *,
    title: str,
    chart_id: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[float | None]]],
    band: tuple[Sequence[float | None], Sequence[float | None]] | None = None,
    bars: bool = False,
) -> SafeString:
    """Lines (or bars for the first series) over labelled points.

    `series` holds (name, css class, values); `band` (lower, upper) draws a
    shaded interval behind them.
    """
    values = [v for _n, _c, vals in series for v in vals if v is not None]
    if band:
        values += [v for v in band[1] if v is not None]
    y_max = _nice_max(max(values, default=0))
    n = max(len(labels), 1)
    plot_w = WIDTH - PAD_L - PAD_R
    plot_h = HEIGHT - PAD_T - PAD_B

    def x(i: int) -> float:
        return PAD_L + plot_w * (i + 0.5) / n

    def y(v: float) -> float:
        return PAD_T + plot_h - plot_h * (v / y_max)

    parts = _open(title, chart_id)
    _axes(parts, y_max, labels=labels, every=max(1, n // 10))
    if band:
        lower, upper = band
        top = [(x(i), y(u)) for i, u in enumerate(upper) if u is not None]
        bottom = [(x(i), y(lo)) for i, lo in enumerate(lower) if lo is not None]
        if top and bottom:
            points = " ".join(f"{a:.1f},{b:.1f}" for a, b in top + bottom[::-1])
            parts.append(f'<polygon class="band" points="{points}"/>')
    for index, (_name, css, vals) in enumerate(series):
        if bars and index == 0:
            width = max(1.0, plot_w / n * 0.7)
            for i, v in enumerate(vals):
                if v is None:
                    continue
                parts.append(
                    f'<rect class="{escape(css)}" x="{x(i) - width / 2:.1f}" y="{y(v):.1f}" '
                    f'width="{width:.1f}" height="{PAD_T + plot_h - y(v):.1f}"/>'
                )
            continue
        run: list[str] = []
        for i, v in enumerate(list(vals) + [None]):
            if v is None:
                if len(run) > 1:
                    parts.append(f'<polyline class="{escape(css)}" points="{" ".join(run)}"/>')
                elif run:
                    cx, cy = run[0].split(",")
                    parts.append(f'<circle class="{escape(css)}" cx="{cx}" cy="{cy}" r="2"/>')
                run = []
            else:
                run.append(f"{x(i):.1f},{y(v):.1f}")
    legend_x = PAD_L
    for name, css, _vals in series:
        parts.append(
            f'<rect class="{escape(css)} legend-key" x="{legend_x}" y="{HEIGHT - 14}" '
            'width="10" height="10"/>'
        )
        parts.append(
            f'<text class="legend" x="{legend_x + 14}" y="{HEIGHT - 5}">{escape(name)}</text>'
        )
        legend_x += 24 + 8 * len(name)
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - numbers and escaped text only


def heatmap(
    *,
    title: str,
    chart_id: str,
    day_labels: Sequence[str],
    cells: Sequence[dict],
) -> SafeString:
    """A 7 x 24 grid of arrivals; darker is busier (five classes)."""
    cell_w, cell_h, left, top = 26, 24, 40, 18
    width, height = left + 24 * cell_w + 8, top + 7 * cell_h + 8
    peak = max((c["arrivals"] or 0 for c in cells), default=0)
    parts = _open(title, chart_id, width, height)
    for hour in range(0, 24, 2):
        parts.append(
            f'<text class="tick" x="{left + hour * cell_w + cell_w / 2}" y="12" '
            f'text-anchor="middle">{hour}</text>'
        )
    for weekday, label in enumerate(day_labels):
        parts.append(
            f'<text class="tick" x="{left - 6}" y="{top + weekday * cell_h + 16}" '
            f'text-anchor="end">{escape(label)}</text>'
        )
    for c in cells:
        value = c["arrivals"]
        if c["suppressed"]:
            level = "hidden"
        elif not value or not peak:
            level = "0"
        else:
            level = str(min(5, 1 + int(5 * value / (peak + 1))))
        parts.append(
            f'<rect class="heat heat-{level}" x="{left + c["hour"] * cell_w}" '
            f'y="{top + c["weekday"] * cell_h}" width="{cell_w - 2}" height="{cell_h - 2}"/>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - numbers and escaped text only


def bar_list(*, title: str, chart_id: str, rows: Sequence[tuple[str, float | None]]) -> SafeString:
    """Horizontal bars, one per labelled value (topic mix)."""
    rows = list(rows)[:15]
    bar_h, left = 20, 230
    height = max(40, len(rows) * bar_h + 10)
    peak = max((v or 0 for _l, v in rows), default=0) or 1
    parts = _open(title, chart_id, WIDTH, height)
    for i, (label, value) in enumerate(rows):
        y = 4 + i * bar_h
        short = label if len(label) <= 34 else label[:33] + "…"
        parts.append(
            f'<text class="tick" x="{left - 6}" y="{y + 14}" text-anchor="end">'
            f"{escape(short)}</text>"
        )
        if value is None:
            parts.append(f'<text class="tick" x="{left + 4}" y="{y + 14}">–</text>')
            continue
        w = (WIDTH - left - 60) * value / peak
        parts.append(
            f'<rect class="bar" x="{left}" y="{y + 3}" width="{w:.1f}" height="{bar_h - 6}"/>'
        )
        parts.append(f'<text class="tick" x="{left + w + 4:.1f}" y="{y + 14}">{_fmt(value)}</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - numbers and escaped text only
