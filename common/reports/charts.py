"""Bar and line charts as inline SVG, drawn on the server by trusted code.

Charts are produced here, not by the template, so that the sanitiser can strip every ``<svg>`` a
template writes while ours survive (see ``markdown.py``). Every label that comes from data is
escaped; coordinates are numbers we compute. No JavaScript, so the SVG is inert in a browser and
converts to an image for the PDF.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

PALETTE = ("#2f6db5", "#e07b39", "#3a9d5d", "#c0392b", "#8e6bbf", "#7f8c8d")
MAX_POINTS = 500
_W, _H = 640, 320
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 16, 36, 56


def bar_chart_svg(labels: Sequence[str], series: Sequence[tuple[str, Sequence[float]]], title: str) -> str:
    """Grouped vertical bars: one group per label, one bar per series."""
    top = _nice_max(v for _, values in series for v in values)
    plot_w = _W - _LEFT - _RIGHT
    group_w = plot_w / max(len(labels), 1)
    bar_w = group_w * 0.8 / max(len(series), 1)
    parts = [_frame(title, top, series)]
    for i, label in enumerate(labels):
        x0 = _LEFT + i * group_w + group_w * 0.1
        for s, (_, values) in enumerate(series):
            h = _scale(values[i], top)
            parts.append(
                f'<rect x="{x0 + s * bar_w:.1f}" y="{_TOP + _plot_h() - h:.1f}" width="{bar_w * 0.92:.1f}" '
                f'height="{h:.1f}" fill="{PALETTE[s % len(PALETTE)]}"><title>{escape(label)}: '
                f"{values[i]:g}</title></rect>"
            )
        parts.append(_x_label(x0 + group_w * 0.4, label, len(labels)))
    return _svg(title, parts)


def line_chart_svg(labels: Sequence[str], series: Sequence[tuple[str, Sequence[float]]], title: str) -> str:
    """One polyline per series over evenly spaced labels (time order is the caller's order)."""
    top = _nice_max(v for _, values in series for v in values)
    plot_w = _W - _LEFT - _RIGHT
    step = plot_w / max(len(labels) - 1, 1)
    parts = [_frame(title, top, series)]
    for s, (_, values) in enumerate(series):
        color = PALETTE[s % len(PALETTE)]
        points = " ".join(
            f"{_LEFT + i * step:.1f},{_TOP + _plot_h() - _scale(v, top):.1f}" for i, v in enumerate(values)
        )
        parts.append(f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="2"/>')
        for i, v in enumerate(values):
            parts.append(
                f'<circle cx="{_LEFT + i * step:.1f}" cy="{_TOP + _plot_h() - _scale(v, top):.1f}" r="2.5" '
                f'fill="{color}"/>'
            )
    every = max(1, len(labels) // 12)
    parts += [_x_label(_LEFT + i * step, lab, len(labels)) for i, lab in enumerate(labels) if i % every == 0]
    return _svg(title, parts)


def _plot_h() -> int:
    return _H - _TOP - _BOTTOM


def _scale(value: float, top: float) -> float:
    return max(0.0, value) / top * _plot_h() if top else 0.0


def _nice_max(values: object) -> float:
    """Round the largest value up to 1, 2 or 5 × 10ⁿ so the axis ticks are readable."""
    largest = max([v for v in values if isinstance(v, int | float)] + [0.0])  # type: ignore[attr-defined]
    if largest <= 0:
        return 1.0
    magnitude = 10 ** (len(str(int(largest))) - 1)
    for factor in (1, 2, 2.5, 5, 10):
        if largest <= factor * magnitude:
            return float(factor * magnitude)
    return float(10 * magnitude)


def _frame(title: str, top: float, series: Sequence[tuple[str, Sequence[float]]]) -> str:
    """Title, horizontal grid with value ticks, axes and (for several series) a legend."""
    parts = [f'<text x="{_W / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">'
             f"{escape(title)}</text>"] if title else []
    for k in range(5):
        value = top * k / 4
        y = _TOP + _plot_h() - _plot_h() * k / 4
        parts.append(f'<line x1="{_LEFT}" y1="{y:.1f}" x2="{_W - _RIGHT}" y2="{y:.1f}" stroke="#e3e3e3"/>')
        parts.append(f'<text x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="10" fill="#555">'
                     f"{_tick(value)}</text>")
    parts.append(f'<line x1="{_LEFT}" y1="{_TOP + _plot_h()}" x2="{_W - _RIGHT}" y2="{_TOP + _plot_h()}" '
                 'stroke="#888"/>')
    if len(series) > 1:
        for s, (name, _) in enumerate(series):
            x = _LEFT + s * 120
            color = PALETTE[s % len(PALETTE)]
            parts.append(f'<rect x="{x}" y="{_H - 14}" width="10" height="10" fill="{color}"/>'
                         f'<text x="{x + 14}" y="{_H - 5}" font-size="10">{escape(name)}</text>')
    return "".join(parts)


def _x_label(x: float, label: str, count: int) -> str:
    text = label if len(label) <= 14 else label[:13] + "…"
    y = _TOP + _plot_h() + 14
    rotate = f' transform="rotate(-30 {x:.1f} {y})"' if count > 8 else ""
    anchor = "end" if count > 8 else "middle"
    return (f'<text x="{x:.1f}" y="{y}" text-anchor="{anchor}" font-size="10" fill="#333"{rotate}>'
            f"{escape(text)}</text>")


def _tick(value: float) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:g}M"
    if value >= 1_000:
        return f"{value / 1_000:g}k"
    return f"{value:g}"


def _svg(title: str, parts: list[str]) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_W} {_H}" width="{_W}" height="{_H}" '
            f'role="img" aria-label="{escape(title or "chart")}" font-family="DejaVu Sans, sans-serif">'
            + "".join(parts) + "</svg>")
