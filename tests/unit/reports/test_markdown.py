"""Rendered reports cannot run script; our charts and tables survive sanitising."""

from __future__ import annotations

import pytest

from common.reports.markdown import markdown_to_html
from common.reports.render import render_in_process

ATTACKS = [
    "<script>alert(1)</script>",
    '<img src="x" onerror="alert(1)">',
    "[click](javascript:alert(1))",
    '<a href="javascript:alert(1)">click</a>',
    '<a href="https://example.com" onclick="alert(1)">x</a>',
    '<svg onload="alert(1)"><script>alert(1)</script></svg>',
    '<iframe src="https://evil.example"></iframe>',
    '<p style="background:url(javascript:alert(1))">x</p>',
    '<object data="x.swf"></object><embed src="x.swf">',
    '<form action="https://evil.example"><input name="q"></form>',
]


@pytest.mark.parametrize("attack", ATTACKS)
def test_script_vectors_are_removed(attack: str) -> None:
    html, _ = markdown_to_html(f"# Report\n\n{attack}\n\nafter")
    lowered = html.lower()
    for needle in ("<script", "onerror", "onload", "onclick", 'href="javascript:', "<iframe", "<svg",
                   "<object", "<embed", "<form", "url(javascript"):
        assert needle not in lowered, (needle, html)
    assert "<p>after</p>" in html


def test_template_output_is_sanitised_but_charts_survive() -> None:
    body = (
        "{{ evil }}\n\n"
        "{{ bar_chart([{'k': '<b>a</b>', 'v': 1}], 'k', 'v', title='<script>t</script>') }}\n"
    )
    result = render_in_process(body, {"evil": "<script>alert(1)</script>"}, max_output_chars=100_000)
    assert "<script>alert" not in result.html
    assert '<figure class="chart"><svg' in result.html
    assert "&lt;script&gt;t&lt;/script&gt;" in result.html  # chart labels are escaped
    assert "&lt;b&gt;a&lt;/b&gt;" in result.html


def test_a_forged_chart_token_cannot_smuggle_markup() -> None:
    result = render_in_process("RGCHART0000N0 <svg onload=alert(1)></svg>", {}, max_output_chars=1000)
    assert "<svg" not in result.html


def test_tables_are_rendered_aligned_and_extracted() -> None:
    html, tables = markdown_to_html("| Name | Amount |\n|---|---:|\n| A \\| B | **1,200.50** |\n")
    assert '<td class="align-right"><strong>1,200.50</strong></td>' in html
    assert "style=" not in html  # the pages' CSP allows no inline style: alignment is a class
    assert tables[0].columns == ["Name", "Amount"]
    assert tables[0].rows == [["A | B", "1,200.50"]]
