"""Every output is capped in its final form: a chart token repeated many times (even hidden in an HTML
comment, where the HTML drops it) costs one copy of the chart in the Markdown download, not one per token."""

from __future__ import annotations

import pytest

from common.reports.errors import RenderError
from common.reports.render import render_in_process

ROWS = {"rows": [{"x": i, "y": i} for i in range(500)]}  # a 500-point chart, as in the review


def _template(copies: int) -> str:
    return ("{% set c = bar_chart(rows, 'x', 'y', title='t') %}<!-- "
            + "{{ c }}" * copies + " -->\n\n{{ c }}\n")


def test_a_repeated_chart_token_stores_the_chart_once() -> None:
    result = render_in_process(_template(1000), ROWS, max_output_chars=200_000)
    assert result.markdown.count("data:image/svg+xml;base64,") == 1
    assert result.markdown.count("][chart-1]") == 1001
    assert len(result.markdown) < 200_000 * 4


@pytest.mark.parametrize("copies", [1, 100])
def test_outputs_are_capped_after_the_charts_are_inserted(copies: int) -> None:
    """A few characters of template output, but the charts put in afterwards pass the final cap."""
    with pytest.raises(RenderError) as caught:
        render_in_process(_template(copies), ROWS, max_output_chars=5_000)
    assert caught.value.kind == "limit" and "larger than 20,000" in caught.value.message
