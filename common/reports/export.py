"""Downloads of a finished report: PDF, standalone HTML, Markdown, CSV of its tables.

The PDF uses xhtml2pdf (pure pip, no system libraries). It cannot draw inline ``<svg>``, so each
chart becomes an ``<img>`` with an SVG data URI; fonts are the DejaVu TTFs shipped in ``fonts/``
(licence beside them) so every glyph (€, Ł, accents) prints. The HTML given here is the render's
sanitised HTML, whose only ``<svg>`` elements are our charts; the converter is allowed to load our
fonts and data URIs and nothing else, so a report cannot make the worker fetch a URL.

CSV: one table → one ``.csv``; several → a ``.zip`` with ``table-1.csv``, ``table-2.csv``, …;
none → a ``.csv`` with no rows. Cells are the text the reader sees (numbers as formatted).
A cell that a spreadsheet would run as a formula (it starts with ``=``, ``+``, ``-``, ``@``, tab or
carriage return; OWASP "CSV Injection") gets a leading ``'``, unless it is a plain number such as
``-12.5`` or ``+1,234``, which stays a number.
These functions are CPU-bound and synchronous: from asyncio, call them via ``asyncio.to_thread``.
"""

from __future__ import annotations

import base64
import csv
import io
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: the PDF child imports this module and must not import Jinja2 and Markdown
    from common.reports.render import RenderResult

_HERE = Path(__file__).resolve().parent
FONTS = _HERE / "fonts"
FONT_REGULAR = FONTS / "DejaVuSans.ttf"
FONT_BOLD = FONTS / "DejaVuSans-Bold.ttf"
# A 1x1 transparent GIF: what every URI but ours resolves to.
BLANK_IMAGE = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"
_SVG = re.compile(r"<svg\b.*?</svg>", re.DOTALL)
_TABLE_WITH_HEAD = re.compile(r"<table>(?=\s*<thead>)")
FORMATS = ("html", "pdf", "md", "csv")


@dataclass(frozen=True)
class ExportFile:
    """A download: bytes, its media type and a file name built from the report title."""

    data: bytes
    media_type: str
    filename: str


def export_report(result: RenderResult, fmt: str, title: str = "report") -> ExportFile:
    """The download of ``result`` in ``fmt`` (one of ``FORMATS``); ValueError for others."""
    stem = _slug(title)
    if fmt == "pdf":  # in this process: for trusted input and tests; the worker uses common.reports.pdf
        return ExportFile(html_to_pdf(result.html, title), "application/pdf", f"{stem}.pdf")
    if fmt == "html":
        return ExportFile(standalone_html(result.html, title).encode(), "text/html; charset=utf-8",
                          f"{stem}.html")
    if fmt == "md":
        return ExportFile(result.markdown.encode(), "text/markdown; charset=utf-8", f"{stem}.md")
    if fmt == "csv":
        return tables_to_csv(result, stem)
    raise ValueError(f"unknown export format {fmt!r}; expected one of {', '.join(FORMATS)}")


def stylesheet() -> str:
    """The report stylesheet (also useful to the web page that shows a report inline)."""
    return (_HERE / "report.css").read_text(encoding="utf-8")


def standalone_html(html: str, title: str) -> str:
    """A complete HTML document with the stylesheet inlined, for the HTML download."""
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>{stylesheet()}</style></head><body>{html}</body></html>")


def html_to_pdf(html: str, title: str, parameters: Mapping[str, str] | None = None, *,
                policy: object | None = None) -> bytes:
    """Lay out the report HTML as PDF, in this process: only ``pdf_child`` (limited) should call this
    with a user's report. Raises RuntimeError if xhtml2pdf reports errors.

    Fetching: xhtml2pdf keeps the original URI when the link callback returns something falsy, so
    ``_link_callback`` never does: our fonts resolve to their absolute paths, ``data:`` URIs stay, and
    everything else becomes a blank image. Behind it, an explicit resource policy: no network at all,
    local reads only under the bundled fonts' directory (by absolute path, so any working directory
    works: the container runs from /app with the package elsewhere). ``policy`` replaces that policy
    (tests use a permissive one to show that the link callback alone lets nothing out)."""
    from xhtml2pdf import pisa  # heavy import (reportlab); only the export path pays for it

    document = (f'<html><head><meta charset="utf-8"><title>{escape(title)}</title>'
                f"<style>{_font_faces()}\n{stylesheet()}</style></head><body>"
                f'<div id="page-footer">{escape(title)} · page <pdf:pagenumber/> of <pdf:pagecount/></div>'
                f"{_parameter_block(parameters or {})}{_repeat_headers(_svg_to_img(html))}</body></html>")
    out = io.BytesIO()
    # capacity=-1: buffers stay in memory (the PDF child may write no file at all).
    status = pisa.CreatePDF(document, dest=out, encoding="utf-8", link_callback=_link_callback,
                            resource_policy=policy or resource_policy(), capacity=-1)
    if status.err:
        raise RuntimeError(f"PDF conversion failed with {status.err} error(s)")
    return out.getvalue()


def resource_policy() -> object:
    """What the PDF layout may read: the bundled fonts, by absolute path; no network."""
    from xhtml2pdf.config.resources import ResourceAccessPolicy

    return ResourceAccessPolicy.server(FONTS, allow_remote=False, allow_private_networks=False,
                                       max_document_bytes=64 * 1024 * 1024, max_render_seconds=None)


def _font_faces() -> str:
    faces = []
    for font, weight in ((FONT_REGULAR, "normal"), (FONT_BOLD, "bold")):
        faces.append(f'@font-face {{ font-family: "DejaVu Sans"; font-weight: {weight}; '
                     f'src: url("{font.as_uri()}"); }}')
    return "\n".join(faces)


def _parameter_block(parameters: Mapping[str, str]) -> str:
    """The run's parameter values, printed on the first page (what the reader needs to trust a PDF)."""
    if not parameters:
        return ""
    rows = "".join(f"<tr><th>{escape(name)}</th><td>{escape(value)}</td></tr>"
                   for name, value in parameters.items())
    return f'<table class="run-parameters">{rows}</table>'


def _repeat_headers(html: str) -> str:
    """xhtml2pdf repeats a table's first row on every page only when told: ``<table repeat="1">``."""
    return _TABLE_WITH_HEAD.sub('<table repeat="1">', html)


def _svg_to_img(html: str) -> str:
    def replace(match: re.Match[str]) -> str:
        data = base64.b64encode(match.group(0).encode()).decode()
        return f'<img src="data:image/svg+xml;base64,{data}" width="600" height="300" alt="chart">'

    return _SVG.sub(replace, html)


def _link_callback(uri: str, rel: str) -> str:
    """Our fonts by absolute path, ``data:`` URIs as they are, and a blank image for anything else
    (never a falsy value: xhtml2pdf would then fetch the original URI)."""
    if uri.startswith("data:"):
        return uri
    for font in (FONT_REGULAR, FONT_BOLD):
        if uri in (font.as_uri(), str(font)):
            return str(font)
    return BLANK_IMAGE


def tables_to_csv(result: RenderResult, stem: str = "report") -> ExportFile:
    """The report's tables as CSV (one table) or a zip of CSVs (several); see the module docstring."""
    files = [_csv_bytes(t.columns, t.rows) for t in result.tables] or [_csv_bytes([], [])]
    if len(files) == 1:
        return ExportFile(files[0], "text/csv; charset=utf-8", f"{stem}.csv")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for number, data in enumerate(files, start=1):
            archive.writestr(f"table-{number}.csv", data)
    return ExportFile(buffer.getvalue(), "application/zip", f"{stem}-tables.zip")


def _csv_bytes(columns: list[str], rows: list[list[str]]) -> bytes:
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    if columns:
        writer.writerow([neutralise_cell(c) for c in columns])
    writer.writerows([neutralise_cell(c) for c in row] for row in rows)
    return text.getvalue().encode("utf-8-sig")  # the BOM makes spreadsheet apps read UTF-8


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(?=[.\d])\d{0,3}(?:,?\d{3})*\d*(?:\.\d+)?(?:[eE][+-]?\d+)?%?")


def neutralise_cell(cell: object) -> str:
    """The cell's text, with a leading ``'`` when a spreadsheet would read it as a formula."""
    text = "" if cell is None else str(cell)
    if text.startswith(_FORMULA_START) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def _slug(title: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", title).strip("-").lower()
    return slug[:60] or "report"
