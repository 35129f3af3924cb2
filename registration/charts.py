"""Small bar charts as inline SVG, drawn on the server, with a table beside them.

No JavaScript and no chart library: a page with counts (a location's visits, the
operator's overview) gets an SVG that needs nothing but the HTML it arrives in, which
keeps the strict Content-Security-Policy and works without JavaScript. The SVG is
a picture for sighted users (`role="img"` with a short summary); the same numbers
follow in a real table, so screen readers and keyboard users get every value.

The module knows no language: callers pass the translated caption and headers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 640
HEIGHT = 220
TOP = 16
BOTTOM = 28  # room for the labels under the bars
LEFT = 36  # room for the scale on the left
RIGHT = 8
BAR_COLOUR = "#1f5f8b"  # 6.9:1 against white (WCAG non-text contrast needs 3:1)
TEXT_COLOUR = "#333333"
GRID_COLOUR = "#767676"


@dataclass(frozen=True)
class Bar:
    """One bar: its short axis label, the full name for the table, its value."""

    label: str
    name: str
    value: int


@dataclass(frozen=True)
class Chart:
    """Bars in order; every `label_every`-th bar gets its label under the axis."""

    bars: Sequence[Bar]
    label_every: int = 1

    @property
    def total(self) -> int:
        return sum(bar.value for bar in self.bars)

    @property
    def peak(self) -> int:
        return max((bar.value for bar in self.bars), default=0)


def _scale_top(peak: int) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50 … at or above the peak: a scale that reads well."""
    magnitude = 1
    while True:
        for step in (1, 2, 5):
            if step * magnitude >= peak:
                return step * magnitude
        magnitude *= 10


def svg(chart: Chart, *, summary: str, element_id: str) -> Markup:
    """The chart as an inline SVG element; `summary` is its accessible name."""
    bars = list(chart.bars)
    top = _scale_top(chart.peak)
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    slot = plot_width / max(len(bars), 1)
    gap = min(4.0, slot * 0.2)
    parts = [
        f'<svg id="{escape(element_id)}" class="chart" role="img" width="100%" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" aria-labelledby="{escape(element_id)}-title" '
        f'xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{escape(element_id)}-title">{escape(summary)}</title>',
        f'<g font-family="sans-serif" font-size="13" fill="{TEXT_COLOUR}">',
        f'<line x1="{LEFT}" y1="{TOP + plot_height}" x2="{WIDTH - RIGHT}" '
        f'y2="{TOP + plot_height}" stroke="{GRID_COLOUR}" stroke-width="1"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{WIDTH - RIGHT}" y2="{TOP}" '
        f'stroke="{GRID_COLOUR}" stroke-width="0.5" stroke-dasharray="3 3"/>',
        f'<text x="{LEFT - 4}" y="{TOP + 4}" text-anchor="end">{top}</text>',
        f'<text x="{LEFT - 4}" y="{TOP + plot_height + 4}" text-anchor="end">0</text>',
    ]
    for number, bar in enumerate(bars):
        height = plot_height * bar.value / top if top else 0
        x = LEFT + number * slot + gap / 2
        y = TOP + plot_height - height
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot - gap:.1f}" height="{height:.1f}" '
            f'fill="{BAR_COLOUR}"><title>{escape(bar.name)}: {bar.value}</title></rect>'
        )
        if number % max(chart.label_every, 1) == 0:
            parts.append(
                f'<text x="{x + (slot - gap) / 2:.1f}" y="{HEIGHT - 10}" '
                f'text-anchor="middle">{escape(bar.label)}</text>'
            )
    parts.append("</g></svg>")
    return Markup("".join(parts))  # noqa: S704 - every value above is escaped or a number


def figure(
    chart: Chart,
    *,
    element_id: str,
    caption: str,
    summary: str,
    table_toggle: str,
    label_header: str,
    value_header: str,
) -> Markup:
    """The SVG under its caption, and the same numbers as a table (in a `<details>`)."""
    rows = "".join(
        f'<tr><th scope="row">{escape(bar.name)}</th><td class="number">{bar.value}</td></tr>'
        for bar in chart.bars
    )
    return Markup(  # noqa: S704 - texts escaped, numbers formatted as integers
        f'<figure class="chart-figure" aria-labelledby="{escape(element_id)}-caption">'
        f'<figcaption id="{escape(element_id)}-caption">{escape(caption)}</figcaption>'
        f"{svg(chart, summary=summary, element_id=element_id)}"
        f"<details><summary>{escape(table_toggle)}</summary>"
        f'<div class="table-wrap" tabindex="0" role="region" '
        f'aria-labelledby="{escape(element_id)}-caption"><table><caption class="visually-hidden">{escape(caption)}'
        f'</caption><thead><tr><th scope="col">{escape(label_header)}</th>'
        f'<th scope="col">{escape(value_header)}</th></tr></thead><tbody>{rows}</tbody>'
        f"</table></div></details></figure>"
    )
