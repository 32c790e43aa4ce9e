"""Markdown → safe HTML, and the tables a report shows.

Order matters: the template's output is user content, so it is parsed (markdown-it-py, CommonMark
plus tables) and then sanitised (nh3, an allow-list: no script, no event handlers, no
``javascript:`` URLs, no ``<svg>``/``<img>``, no styles but text alignment). Only after that are our
own charts put in place of their random tokens, so trusted SVG survives and forged SVG cannot.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token

from common.reports.language import Chart

_TAGS = (set(nh3.ALLOWED_TAGS) - {"img", "area", "map"}) | {"tfoot"}
_ATTRIBUTES = {tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items() if tag in _TAGS}
_ATTRIBUTES["th"] = _ATTRIBUTES.get("th", set()) | {"style"}
_ATTRIBUTES["td"] = _ATTRIBUTES.get("td", set()) | {"style"}
_ALIGN_STYLE = re.compile(r' style="text-align:\s*(left|center|right);?\s*"')
_ANY_STYLE = re.compile(r' style="[^"]*"')


@dataclass
class ReportTable:
    """A table as the reader sees it (cell text), for the CSV export."""

    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {"columns": self.columns, "rows": self.rows}


def _parser() -> MarkdownIt:
    # html=True lets authors use simple tags (<br>, <sub>); the sanitiser decides what stays.
    return MarkdownIt("commonmark", {"html": True}).enable("table")


def sanitize_html(html: str) -> str:
    """Allow-list sanitising of user HTML (the template's Markdown output)."""
    return nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        filter_style_properties={"text-align"},
        link_rel="noopener noreferrer nofollow",
    )


def _align_classes(html: str) -> str:
    """Cell alignment as classes (``align-right``), not ``style`` attributes: the pages' CSP allows no
    inline style, and the sanitiser has already reduced every style to a text-align (or nothing)."""
    html = _ALIGN_STYLE.sub(r' class="align-\1"', html)
    return _ANY_STYLE.sub("", html)


def markdown_to_html(markdown: str, charts: Sequence[Chart] = ()) -> tuple[str, list[ReportTable]]:
    """Render, sanitise, then insert ``charts``; returns the HTML and the tables found."""
    parser = _parser()
    tokens = parser.parse(markdown)
    html = _align_classes(sanitize_html(parser.renderer.render(tokens, parser.options, {})))
    for chart in charts:
        figure = f'<figure class="chart">{chart.svg}</figure>'
        html = html.replace(f"<p>{chart.token}</p>", figure).replace(chart.token, chart.svg)
    return html, extract_tables(tokens)


def markdown_with_images(markdown: str, charts: Sequence[Chart]) -> str:
    """The Markdown download: each chart token becomes a reference image (``![title][chart-1]``) and
    each chart's data-URI SVG is written once, as a link definition at the end: a token repeated a
    thousand times costs a thousand short references, not a thousand copies of the SVG."""
    definitions: list[str] = []
    for number, chart in enumerate(charts, start=1):
        if chart.token not in markdown:
            continue
        label = f"chart-{number}"
        data = base64.b64encode(chart.svg.encode()).decode()
        alt = chart.title.replace("[", "(").replace("]", ")") or "chart"
        markdown = markdown.replace(chart.token, f"![{alt}][{label}]")
        definitions.append(f"[{label}]: <data:image/svg+xml;base64,{data}>")
    if definitions:
        markdown = markdown.rstrip("\n") + "\n\n" + "\n".join(definitions) + "\n"
    return markdown


def extract_tables(tokens: list[Token]) -> list[ReportTable]:
    """Every Markdown table in document order, as header texts and rows of cell texts."""
    tables: list[ReportTable] = []
    current: ReportTable | None = None
    row: list[str] | None = None
    in_head = False
    for token in tokens:
        if token.type == "table_open":
            current = ReportTable(columns=[])
        elif token.type == "thead_open":
            in_head = True
        elif token.type == "thead_close":
            in_head = False
        elif token.type == "tr_open":
            row = []
        elif token.type == "inline" and row is not None:
            row.append(_plain_text(token))
        elif token.type == "tr_close" and current is not None and row is not None:
            if in_head:
                current.columns = row
            else:
                current.rows.append(row)
            row = None
        elif token.type == "table_close" and current is not None:
            tables.append(current)
            current = None
    return tables


def _plain_text(token: Token) -> str:
    parts = [child.content for child in token.children or [] if child.type in {"text", "code_inline"}]
    return "".join(parts).strip()
