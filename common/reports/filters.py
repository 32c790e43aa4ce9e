"""Data and formatting filters of the report language.

They take the rows of a dataset (a list of dicts) and a column name, which is how report authors
think ("sum of amount"), instead of Jinja's attribute paths. Empty cells (None) and text are
skipped by the numeric filters so one blank cell does not fail a whole report.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

from common.reports.errors import RenderError

MAX_FORMAT_LENGTH = 64


def _numbers(rows: Iterable[Any], key: str | None) -> list[float]:
    values = (_get(row, key) for row in rows) if key is not None else rows
    return [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]


def _get(row: Any, key: str) -> Any:
    if isinstance(row, dict):
        if key not in row:
            raise RenderError(f"no column named {key!r} (columns: {', '.join(map(str, row))})", kind="error")
        return row[key]
    raise RenderError(f"cannot read {key!r} from a {type(row).__name__}; expected a row", kind="error")


def f_sum(rows: Iterable[Any], key: str | None = None) -> float:
    """Sum of column ``key`` (or of the values themselves when no key)."""
    return sum(_numbers(rows, key))


def f_mean(rows: Iterable[Any], key: str | None = None) -> float | None:
    """Arithmetic mean; None (shown as empty) when there are no numbers."""
    values = _numbers(rows, key)
    return sum(values) / len(values) if values else None


def f_min(rows: Iterable[Any], key: str | None = None) -> Any:
    """Smallest value of column ``key`` (numbers, or text/dates when the column holds those)."""
    values = _column(rows, key)
    return min(values) if values else None


def f_max(rows: Iterable[Any], key: str | None = None) -> Any:
    """Largest value of column ``key``."""
    values = _column(rows, key)
    return max(values) if values else None


def _column(rows: Iterable[Any], key: str | None) -> list[Any]:
    values = [v for v in ((_get(r, key) for r in rows) if key is not None else rows) if v is not None]
    numbers = [v for v in values if isinstance(v, int | float)]
    return numbers if numbers else [str(v) for v in values]


def f_count(rows: Iterable[Any], key: str | None = None) -> int:
    """Number of rows, or of rows whose ``key`` is not empty."""
    items = list(rows)
    return len(items) if key is None else sum(1 for r in items if _get(r, key) not in (None, ""))


def f_where(rows: Iterable[Any], key: str, value: Any) -> list[Any]:
    """Rows whose ``key`` equals ``value`` (compared as text, so a form's "2024" matches 2024)."""
    return [r for r in rows if str(_get(r, key)) == str(value)]


def f_group_by(rows: Iterable[Any], key: str) -> list[dict[str, Any]]:
    """Groups in first-seen order, each ``{"key": value, "rows": [...]}``."""
    groups: dict[Any, list[Any]] = {}
    for row in rows:
        groups.setdefault(_get(row, key), []).append(row)
    return [{"key": k, "rows": v} for k, v in groups.items()]


def f_aggregate(rows: Iterable[Any], by: str, value: str, op: str = "sum") -> list[dict[str, Any]]:
    """One row per distinct ``by`` with ``value`` aggregated by ``op`` (sum/mean/min/max/count).

    The shape table() and the charts take, so ``sales | aggregate('month', 'amount')`` charts directly.
    """
    ops: dict[str, Callable[..., Any]] = {"sum": f_sum, "mean": f_mean, "min": f_min, "max": f_max,
                                          "count": f_count}
    if op not in ops:
        raise RenderError(f"aggregate: op must be one of {', '.join(ops)}, not {op!r}", kind="error")
    return [{by: g["key"], value: ops[op](g["rows"], value)} for g in f_group_by(rows, by)]


def f_sort_by(rows: Iterable[Any], key: str, reverse: bool = False) -> list[Any]:
    """Rows sorted by column ``key``; empty cells sort last whatever the direction."""
    items = list(rows)
    present = [r for r in items if _get(r, key) is not None]
    missing = [r for r in items if _get(r, key) is None]
    try:
        ordered = sorted(present, key=lambda r: _get(r, key), reverse=reverse)
    except TypeError:
        ordered = sorted(present, key=lambda r: str(_get(r, key)), reverse=reverse)
    return ordered + missing


def f_number(value: Any, decimals: int = 2, thousands: str = ",") -> str:
    """``1234.5 | number`` → ``1,234.50``; ``| number(0)`` → ``1,235``; empty for None/text."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "" if value is None else str(value)
    decimals = max(0, min(int(decimals), 10))
    text = f"{value:,.{decimals}f}"
    return text.replace(",", thousands) if thousands != "," else text


def f_percent(value: Any, decimals: int = 1) -> str:
    """``0.153 | percent`` → ``15.3%``."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "" if value is None else str(value)
    return f"{value * 100:.{max(0, min(int(decimals), 10))}f}%"


def f_date(value: Any, fmt: str = "%Y-%m-%d") -> str:
    """Format a date (or an ISO ``YYYY-MM-DD[...]`` text) with strftime codes, e.g. ``'%d %b %Y'``."""
    if len(fmt) > MAX_FORMAT_LENGTH:
        raise RenderError(f"date format longer than {MAX_FORMAT_LENGTH} characters", kind="limit")
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip()) if "T" in value or " " in value.strip() \
                else dt.date.fromisoformat(value.strip())
        except ValueError:
            raise RenderError(f"date: {value!r} is not an ISO date (YYYY-MM-DD)", kind="error") from None
    if not isinstance(value, dt.date):
        return "" if value is None else str(value)
    return value.strftime(fmt)


FILTERS: dict[str, Callable[..., Any]] = {
    "sum": f_sum, "mean": f_mean, "avg": f_mean, "min": f_min, "max": f_max, "count": f_count,
    "where": f_where, "group_by": f_group_by, "aggregate": f_aggregate, "sort_by": f_sort_by,
    "number": f_number, "percent": f_percent, "date": f_date,
}
