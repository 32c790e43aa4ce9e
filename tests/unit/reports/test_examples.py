"""Each shipped example renders; its HTML and PDF hold numbers computed here from the sample CSV."""

from __future__ import annotations

import csv
import io
from collections import defaultdict

import pypdf
import pytest

from common.reports.examples import ExampleTemplate, load_examples
from common.reports.export import export_report
from common.reports.parameters import validate_parameters
from common.reports.render import RenderResult
from common.reports.sandbox import render_report

EXAMPLES = {example.slug: example for example in load_examples()}


def _rows(example: ExampleTemplate, param: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(example.datasets[param][1].decode())))


def _render(example: ExampleTemplate, **values: object) -> RenderResult:
    uploads = {name: data for name, (_, data) in example.datasets.items()}
    return render_report(example.body, validate_parameters(example.parameters, {**uploads, **values}))


def _pdf(result: RenderResult, title: str) -> tuple[str, bytes]:
    reader = pypdf.PdfReader(io.BytesIO(export_report(result, "pdf", title).data))
    text = "\n".join(page.extract_text() for page in reader.pages)
    streams = [page.get_contents() for page in reader.pages]
    content = b"".join(stream.get_data() for stream in streams if stream is not None)
    return text, content


def _pdf_fill(hex_color: str) -> bytes:
    """How reportlab writes a fill colour, e.g. ``.184314 .427451 .709804 rg`` for #2f6db5."""
    parts = [int(hex_color[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    return " ".join(f"{p:.6f}".rstrip("0").lstrip("0") or "0" for p in parts).encode() + b" rg"


def test_three_examples_with_names_descriptions_and_csvs() -> None:
    assert sorted(EXAMPLES) == ["monthly_sales", "support_tickets", "web_traffic"]
    for example in EXAMPLES.values():
        assert example.name and example.description and example.body
        assert example.datasets, example.slug


def test_monthly_sales_numbers_and_chart() -> None:
    example = EXAMPLES["monthly_sales"]
    rows = _rows(example, "sales")
    total = sum(float(r["revenue"]) for r in rows)
    units = sum(int(r["units"]) for r in rows)
    by_month: dict[str, float] = defaultdict(float)
    for r in rows:
        by_month[r["month"]] += float(r["revenue"])
    expected = [f"{total:,.2f}", f"{units:,}"] + [f"{v:,.2f}" for v in by_month.values()]
    best = max(by_month, key=lambda m: by_month[m])

    result = _render(example)
    for number in expected:
        assert number in result.html, number
    assert f"The best month was <strong>{best}</strong>" in result.html
    assert '<figure class="chart"><svg' in result.html and "Revenue by month" in result.html
    assert [t.columns for t in result.tables][1] == ["Month", "Revenue"]

    text, content = _pdf(result, example.name)
    for number in expected:
        assert number in text, number
    assert "Revenue by month" in text  # the chart's title: only the chart draws it
    assert _pdf_fill("#2f6db5") in content  # the bars' colour


def test_monthly_sales_region_choice_filters_rows() -> None:
    example = EXAMPLES["monthly_sales"]
    north = sum(float(r["revenue"]) for r in _rows(example, "sales") if r["region"] == "North")
    result = _render(example, region="North", show_products=False)
    assert f"{north:,.2f}" in result.html
    assert "Revenue by product" not in result.html


def test_web_traffic_numbers_and_line_chart() -> None:
    example = EXAMPLES["web_traffic"]
    rows = [r for r in _rows(example, "traffic") if "2026-09-05" <= r["date"] <= "2026-09-20"]
    visits = sum(int(r["visits"]) for r in rows)
    signups = sum(int(r["signups"]) for r in rows)
    expected = [f"{visits:,}", f"{signups:,}", f"{signups / visits * 100:.2f}%"]

    result = _render(example, start="2026-09-05", end="2026-09-20")
    for number in expected:
        assert number in result.html, number
    assert f"Over <strong>{len(rows)} days</strong>" in result.html
    assert "<polyline" in result.html
    assert len(result.tables[0].rows) == len(rows)

    text, content = _pdf(result, example.name)
    for number in expected:
        assert number in text, number
    assert "Daily visits and sign-ups" in text
    assert b" RG" in content and b" l" in content  # stroked lines of the chart


def test_support_tickets_grouping_and_chart() -> None:
    example = EXAMPLES["support_tickets"]
    rows = [r for r in _rows(example, "tickets") if r["team"] == "Platform" and r["opened"] >= "2026-10-10"]
    by_status: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        by_status[r["status"]].append(float(r["hours"]))

    result = _render(example, team="Platform", since="2026-10-10", group_field="status", list_tickets=True)
    assert f"<strong>{len(rows)}</strong>" in result.html
    summary = result.tables[0]
    assert summary.columns == ["Status", "Tickets", "Open", "Hours", "Average hours"]
    expected_rows = [[s, str(len(h)), str(len(h) if s == "open" else 0), f"{sum(h):,.1f}",
                      f"{sum(h) / len(h):,.1f}"] for s, h in sorted(by_status.items())]
    assert summary.rows == expected_rows
    assert sum(len(t.rows) for t in result.tables[1:]) == len(rows)
    assert "Tickets by status" in result.html and "<svg" in result.html

    text, _ = _pdf(result, example.name)
    for row in expected_rows:
        assert row[3] in text, row
    assert "Tickets by status" in text


@pytest.mark.parametrize("slug", sorted(EXAMPLES))
def test_markdown_and_csv_exports(slug: str) -> None:
    example = EXAMPLES[slug]
    result = _render(example)
    md = export_report(result, "md", example.name)
    assert md.filename.endswith(".md")
    assert b"data:image/svg+xml;base64," in md.data and b"RGCHART" not in md.data
    exported = export_report(result, "csv", example.name)
    assert exported.media_type.startswith("application/zip" if len(result.tables) > 1 else "text/csv")
    html = export_report(result, "html", example.name).data.decode()
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html
