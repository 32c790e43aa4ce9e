"""The PDF's page features, read back with pypdf: a long table repeats its header on every page, every
page says "page N of M", and the first page prints the run's parameter values (and only the first).
Made by the limited PDF child (``make_pdf_async``), as the worker makes it."""

from __future__ import annotations

import asyncio
import io

import pypdf

from common.reports.pdf import PdfLimits, make_pdf_async
from common.reports.render import render_in_process

ROWS = 200
BODY = ("# Long table\n\n| Invoice number | Customer name |\n|---:|---|\n"
        "{% for i in range(ROWS) %}| INV-{{ '%05d' % i }} | cust-{{ i }} |\n{% endfor %}\n").replace("ROWS", str(ROWS))
PARAMETERS = {"region": "Nord-Ost", "since": "2026-11-01"}


def _pages() -> list[str]:
    html = render_in_process(BODY, {}, max_output_chars=1_000_000).html
    data = asyncio.run(make_pdf_async(html, "Billing", PARAMETERS, PdfLimits(wall_seconds=60)))
    return [page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages]


def test_a_long_table_paginates_with_headers_page_numbers_and_parameters_first() -> None:
    pages = _pages()
    assert len(pages) >= 3, [len(p) for p in pages]
    for number, text in enumerate(pages, start=1):
        assert "Invoice number" in text and "Customer name" in text, f"page {number} lacks the table header"
        assert f"page {number} of {len(pages)}" in text, text[-200:]
    assert "Nord-Ost" in pages[0] and "2026-11-01" in pages[0] and "region" in pages[0]
    assert all("Nord-Ost" not in text for text in pages[1:])
    rows = [f"INV-{i:05d}" for i in range(ROWS)]
    printed = "\n".join(pages)
    assert all(row in printed for row in rows)  # nothing lost at the page breaks
    assert sum(text.count("INV-") for text in pages) == ROWS  # and nothing printed twice
