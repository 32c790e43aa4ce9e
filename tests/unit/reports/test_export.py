"""Downloads: CSV is one file for one table and a zip for several; unknown formats are refused."""

from __future__ import annotations

import io
import zipfile

import pytest

from common.reports.export import export_report
from common.reports.markdown import ReportTable
from common.reports.render import RenderResult


def _result(tables: list[ReportTable]) -> RenderResult:
    return RenderResult(html="<p>x</p>", markdown="x", tables=tables)


def test_one_table_is_one_csv() -> None:
    out = export_report(_result([ReportTable(["a", "b"], [["1,5", "x"]])]), "csv", "Q3 Sales!")
    assert (out.media_type, out.filename) == ("text/csv; charset=utf-8", "q3-sales.csv")
    assert out.data.decode("utf-8-sig") == 'a,b\r\n"1,5",x\r\n'


def test_several_tables_are_a_zip() -> None:
    tables = [ReportTable(["a"], [["1"]]), ReportTable(["b"], [["2"], ["3"]])]
    out = export_report(_result(tables), "csv", "r")
    assert out.media_type == "application/zip"
    with zipfile.ZipFile(io.BytesIO(out.data)) as archive:
        assert archive.namelist() == ["table-1.csv", "table-2.csv"]
        assert archive.read("table-2.csv").decode("utf-8-sig") == "b\r\n2\r\n3\r\n"


def test_no_table_is_an_empty_csv() -> None:
    out = export_report(_result([]), "csv", "r")
    assert out.filename == "r.csv" and out.data.decode("utf-8-sig") == ""


def test_pdf_prints_glyphs_outside_latin_1() -> None:
    import pypdf

    result = RenderResult(html="<h1>Łódź € café</h1><p>Zażółć gęślą jaźń</p>", markdown="", tables=[])
    text = pypdf.PdfReader(io.BytesIO(export_report(result, "pdf", "t").data)).pages[0].extract_text()
    assert "Łódź € café" in text and "Zażółć gęślą jaźń" in text


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown export format"):
        export_report(_result([]), "docx", "r")
