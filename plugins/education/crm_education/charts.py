"""Server-rendered SVG charts for the metrics screen: no script, no CDN, the numbers in the HTML.

Two shapes are enough for the school's figures: horizontal bars in groups (the funnel: one
group per consultant or campus, a bar per stage) and vertical columns per month in series
(revenue; attendance and renewal rates). Every bar carries ``data-series``, ``data-category``
and ``data-value`` and a ``<title>`` (the tooltip), so a screen reader and a test read the same
numbers the eye does; labels are escaped.
"""

from __future__ import annotations

from decimal import Decimal

from markupsafe import Markup, escape

PALETTE = ("#3b82f6", "#f59e0b", "#10b981", "#8b5cf6", "#ef4444", "#06b6d4", "#84cc16", "#ec4899")


def _num(value) -> float:
    return float(Decimal(str(value))) if value is not None else 0.0


def _legend(series: list[str], y: int, width: int) -> list[str]:
    parts, x = [], 0
    for i, name in enumerate(series):
        parts.append(
            f'<rect x="{x}" y="{y}" width="12" height="12" fill="{PALETTE[i % len(PALETTE)]}"/>'
            f'<text x="{x + 16}" y="{y + 11}">{escape(name)}</text>'
        )
        x += 28 + 8 * len(str(name)) + (8 * sum(ord(c) > 0x2E80 for c in str(name)))  # CJK is wider
        if x > width - 80:
            break
    return parts


def hbars(chart_id: str, label: str, groups: list[tuple[str, list]], series: list[str], fmt=str) -> Markup:
    """Grouped horizontal bars: ``groups`` is ``[(group label, [value per series])]``."""
    bar, gap, left, width = 18, 14, 150, 640
    top = 24
    height = top + sum(len(series) * bar + gap for _ in groups) + 8
    peak = max((_num(v) for _, values in groups for v in values), default=0) or 1
    parts = _legend(series, 0, width)
    y = top
    for group, values in groups:
        parts.append(
            f'<text x="0" y="{y + bar * len(series) / 2 + 4:.0f}" class="group">{escape(group)}</text>'
        )
        for i, value in enumerate(values):
            w = (width - left - 60) * _num(value) / peak
            shown = escape(fmt(value))
            parts.append(
                f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar - 3}" fill="{PALETTE[i % len(PALETTE)]}" '
                f'data-series="{escape(series[i])}" data-category="{escape(group)}" data-value="{escape(value)}">'
                f"<title>{escape(group)} · {escape(series[i])}: {shown}</title></rect>"
                f'<text x="{left + w + 4:.1f}" y="{y + bar - 6}">{shown}</text>'
            )
            y += bar
        y += gap
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" id="{chart_id}" class="education-chart" role="img" '
        f'aria-label="{escape(label)}" viewBox="0 0 {width} {height}">{"".join(parts)}</svg>'
    )


def columns(
    chart_id: str, label: str, categories: list[str], series: list[tuple[str, list]], fmt=str, peak=None
) -> Markup:
    """Grouped vertical columns: a column per series in each category (a month)."""
    width, height, left, bottom, top = 640, 240, 56, 28, 24
    plot_h = height - top - bottom
    values = [_num(v) for _, vs in series for v in vs]
    peak = peak or max(values, default=0) or 1
    slot = (width - left) / max(len(categories), 1)
    col = max(4.0, min(28.0, (slot - 10) / max(len(series), 1)))
    parts = _legend([name for name, _ in series], 0, width)
    parts.append(f'<line class="axis" x1="{left}" y1="{top + plot_h}" x2="{width}" y2="{top + plot_h}"/>')
    for tick in (0.5, 1.0):
        y = top + plot_h * (1 - tick)
        parts.append(
            f'<line class="axis" x1="{left}" y1="{y:.1f}" x2="{width}" y2="{y:.1f}" stroke-dasharray="3 3"/>'
            f'<text x="0" y="{y + 4:.1f}">{escape(fmt(peak * tick))}</text>'
        )
    for c, category in enumerate(categories):
        x0 = left + c * slot + (slot - col * len(series)) / 2
        parts.append(f'<text x="{x0:.1f}" y="{height - 8}">{escape(category)}</text>')
        for s, (name, vs) in enumerate(series):
            value = vs[c]
            h = plot_h * _num(value) / peak
            parts.append(
                f'<rect x="{x0 + s * col:.1f}" y="{top + plot_h - h:.1f}" width="{col - 2:.1f}" height="{h:.1f}" '
                f'fill="{PALETTE[s % len(PALETTE)]}" data-series="{escape(name)}" data-category="{escape(category)}" '
                f'data-value="{escape(value if value is not None else "")}">'
                f"<title>{escape(category)} · {escape(name)}: {escape(fmt(value) if value is not None else '—')}</title></rect>"
            )
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" id="{chart_id}" class="education-chart" role="img" '
        f'aria-label="{escape(label)}" viewBox="0 0 {width} {height}">{"".join(parts)}</svg>'
    )
