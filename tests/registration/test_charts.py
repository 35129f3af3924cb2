"""The inline SVG charts: bars scaled to a round top, every value in the table, text escaped."""

from __future__ import annotations

import re

from registration import charts


def _figure(chart: charts.Chart) -> str:
    return str(
        charts.figure(
            chart,
            element_id="c",
            caption="Caption <b>",
            summary="Summary",
            table_toggle="Table",
            label_header="Day",
            value_header="Count",
        )
    )


def test_bars_scale_to_a_round_top_and_the_table_holds_every_value() -> None:
    chart = charts.Chart([charts.Bar("1", "one", 3), charts.Bar("2", "two", 7)])
    html = _figure(chart)
    heights = [float(h) for h in re.findall(r'<rect [^>]*height="([\d.]+)"', html)]
    assert heights[1] / heights[0] == 7 / 3
    assert ">10</text>" in html  # the scale's top: the round number above the peak
    assert re.findall(r'<td class="number">(\d+)</td>', html) == ["3", "7"]
    assert 'role="img"' in html and 'aria-labelledby="c-title"' in html


def test_an_empty_chart_draws_no_bar_of_height() -> None:
    html = _figure(charts.Chart([charts.Bar("1", "one", 0)]))
    assert 'height="0.0"' in html and ">1</text>" in html


def test_texts_are_escaped() -> None:
    html = _figure(charts.Chart([charts.Bar("<i>", '"><script>x</script>', 1)]))
    assert "<script>" not in html and "<i>" not in html and "<b>" not in html
    assert "&lt;script&gt;" in html
