"""The in-page help: every filter and helper of the report language, with a one-line summary and an example.

The list is read from the registries themselves (``filters.FILTERS`` and the globals that
``language.build_environment`` installs), so nothing can be added to the language without appearing
here: ``tests/unit/reports/test_reference.py`` fails on a registered name without an ``EXAMPLES`` entry.
Summaries are the first line of each function's docstring; Jinja's own filters are listed after ours.
"""

from __future__ import annotations

import inspect
from dataclasses import asdict, dataclass
from typing import Any

from jinja2.defaults import DEFAULT_FILTERS, DEFAULT_NAMESPACE

from common.reports.filters import FILTERS
from common.reports.language import RenderState, build_environment

# Insertable examples for our own filters and helpers (the test requires one per registered name).
EXAMPLES: dict[str, str] = {
    "sum": '{{ sales | sum("revenue") | number }}',
    "mean": '{{ sales | mean("revenue") | number }}',
    "avg": '{{ sales | avg("revenue") | number }}',
    "min": '{{ sales | min("month") }}',
    "max": '{{ sales | max("month") }}',
    "count": "{{ sales | count }}",
    "where": '{% for row in sales | where("region", "North") %}{{ row.month }} {% endfor %}',
    "group_by": '{% for g in sales | group_by("region") %}- {{ g.key }}: {{ g.rows | count }}\n{% endfor %}',
    "aggregate": '{{ table(sales | aggregate("month", "revenue")) }}',
    "sort_by": '{{ table(sales | sort_by("revenue", reverse=true)) }}',
    "number": "{{ 1234.5 | number(0) }}",
    "percent": "{{ 0.153 | percent }}",
    "date": "{{ today() | date('%d %b %Y') }}",
    "table": '{{ table(sales, columns=["month", "revenue"], labels=["Month", "Revenue"]) }}',
    "bar_chart": '{{ bar_chart(sales | aggregate("month", "revenue"), "month", "revenue", title="Revenue") }}',
    "line_chart": '{{ line_chart(sales | aggregate("month", "units"), "month", "units", title="Units") }}',
    "today": "{{ today() }}",
}
HELPER_SUMMARIES = {
    "bar_chart": "A bar chart (SVG) of rows: x column, y column or list of columns, optional title.",
    "line_chart": "A line chart (SVG) of rows: x column, y column or list of columns, optional title.",
    "today": "The date of the render.",
}


@dataclass(frozen=True)
class Entry:
    name: str
    kind: str  # "filter" | "helper" | "jinja filter" | "jinja helper"
    summary: str
    example: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _summary(func: Any) -> str:
    doc = inspect.getdoc(func) or ""
    return doc.strip().split("\n\n")[0].replace("\n", " ").replace("``", "").strip()


def our_helpers() -> dict[str, Any]:
    """The globals our environment adds beyond Jinja's (table, charts, today)."""
    env = build_environment(RenderState())
    return {k: v for k, v in env.globals.items() if k not in DEFAULT_NAMESPACE}


def reference() -> list[Entry]:
    env = build_environment(RenderState())
    entries = [Entry(name, "filter", _summary(func), EXAMPLES.get(name, "")) for name, func in FILTERS.items()]
    entries += [Entry(name, "helper", HELPER_SUMMARIES.get(name) or _summary(func), EXAMPLES.get(name, ""))
                for name, func in our_helpers().items()]
    entries += [Entry(name, "jinja filter", _summary(func), f"{{{{ value | {name} }}}}")
                for name, func in sorted(env.filters.items()) if name in DEFAULT_FILTERS and name not in FILTERS]
    return entries
