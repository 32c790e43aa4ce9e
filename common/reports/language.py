"""The report language: Jinja2's immutable sandbox plus our data helpers, tables and charts.

The sandbox stops attribute escapes (``__class__``, ``__globals__``, mutation of our data); this
module adds cheap early refusals for the operators that build huge values in one step (``'a' *
10**10``, ``9 ** 9 ** 9``) so most abuse fails with a clear message before the process limits of
``sandbox.py`` (memory, CPU, wall clock) have to kill anything. Those limits remain the real bound.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from html import escape
from typing import Any

from jinja2 import StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from common.reports.charts import MAX_POINTS, bar_chart_svg, line_chart_svg
from common.reports.datasets import Dataset
from common.reports.errors import RenderError
from common.reports.filters import FILTERS

MAX_SEQUENCE = 1_000_000  # longest string/list one operator may build
MAX_EXPONENT = 256
MAX_CHARTS = 20


class Rows(list):  # type: ignore[type-arg]
    """A dataset as the template sees it: a list of row dicts that also knows its ``columns``."""

    def __init__(self, rows: Iterable[Mapping[str, Any]], columns: list[str]) -> None:
        super().__init__(dict(r) for r in rows)
        self.columns = list(columns)


@dataclass
class Chart:
    """A chart drawn during a render; ``token`` marks its place in the Markdown until it is inserted."""

    token: str
    title: str
    svg: str


@dataclass
class RenderState:
    """What helpers collect during one render (charts), keyed by a per-render random nonce."""

    nonce: str = field(default_factory=lambda: secrets.token_hex(8))
    charts: list[Chart] = field(default_factory=list)


class ReportEnvironment(ImmutableSandboxedEnvironment):
    """Immutable sandbox that refuses oversized ``*``, ``+`` and ``**`` results up front."""

    intercepted_binops = frozenset({"*", "+", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
            raise RenderError(f"exponent {right} is larger than {MAX_EXPONENT}", kind="limit")
        if operator == "*":
            seq, times = (left, right) if isinstance(right, int) else (right, left)
            if isinstance(seq, str | list | tuple) and isinstance(times, int) and \
                    len(seq) * times > MAX_SEQUENCE:
                raise RenderError(f"repeating a value {times} times is over the size limit", kind="limit")
        sequences = str | list | tuple
        if operator == "+" and isinstance(left, sequences) and isinstance(right, sequences) \
                and len(left) + len(right) > MAX_SEQUENCE:
            raise RenderError("joining these values is over the size limit", kind="limit")
        return super().call_binop(context, operator, left, right)


def build_environment(state: RenderState) -> ReportEnvironment:
    """A fresh environment per render: helpers close over ``state`` so renders never share charts."""
    env = ReportEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
    env.globals.pop("lipsum", None)  # not a reporting helper, and a cheap way to burn memory
    env.filters.update(FILTERS)
    env.globals.update(
        table=table,
        bar_chart=lambda rows, x, y, title="": _chart(state, bar_chart_svg, rows, x, y, title),
        line_chart=lambda rows, x, y, title="": _chart(state, line_chart_svg, rows, x, y, title),
        today=dt.date.today,
    )
    return env


def to_template_value(value: Any) -> Any:
    """Template-facing form of a validated parameter: datasets become ``Rows``."""
    if isinstance(value, Dataset):
        return Rows(value.rows, value.columns)
    return value


def table(rows: Iterable[Mapping[str, Any]], columns: Iterable[str] | None = None,
          labels: Iterable[str] | None = None) -> str:
    """A Markdown table of ``rows``: ``columns`` picks and orders keys, ``labels`` renames headers.

    Numbers are formatted with thousands separators (2 decimals for fractions) and right-aligned.
    """
    items = list(rows)
    cols = list(columns) if columns is not None else (list(items[0]) if items else [])
    if not cols:
        return ""
    heads = list(labels) if labels is not None else cols
    if len(heads) != len(cols):
        raise RenderError("table(): labels and columns differ in length", kind="error")
    numeric = [any(_is_number(_cell(r, c)) for r in items) for c in cols]
    lines = ["| " + " | ".join(_md_cell(h) for h in heads) + " |",
             "|" + "|".join("---:" if n else "---" for n in numeric) + "|"]
    lines += ["| " + " | ".join(_md_cell(_format_cell(_cell(r, c))) for c in cols) + " |" for r in items]
    return "\n" + "\n".join(lines) + "\n"


def _cell(row: Mapping[str, Any], column: str) -> Any:
    if not isinstance(row, Mapping):
        raise RenderError("table(): each row must be a mapping (a dataset row)", kind="error")
    if column not in row:
        raise RenderError(f"table(): no column named {column!r}", kind="error")
    return row[column]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _format_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if value.is_integer() and abs(value) >= 1e15 else f"{value:,.2f}"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _md_cell(text: str) -> str:
    """Text that stays one literal cell: HTML-escaped, Markdown punctuation and pipes backslashed."""
    text = escape(str(text).replace("\n", " "), quote=False)
    for char in "\\`*_[]|#":
        text = text.replace(char, "\\" + char)
    return text


def _chart(state: RenderState, draw: Any, rows: Iterable[Mapping[str, Any]], x: str,
           y: str | Iterable[str], title: str) -> str:
    items = list(rows)
    keys = [y] if isinstance(y, str) else list(y)
    if len(state.charts) >= MAX_CHARTS:
        raise RenderError(f"a report may hold at most {MAX_CHARTS} charts", kind="limit")
    if len(items) > MAX_POINTS:
        raise RenderError(f"a chart may show at most {MAX_POINTS} points, this one has {len(items)}; "
                          "aggregate the rows first", kind="limit")
    labels = [_format_cell(_cell(r, x)) for r in items]
    series = [(k, [float(v) if _is_number(v := _cell(r, k)) else 0.0 for r in items]) for k in keys]
    token = f"RGCHART{state.nonce}N{len(state.charts)}"
    state.charts.append(Chart(token=token, title=str(title), svg=draw(labels, series, str(title))))
    return token
