"""Named SQL queries, parsed once from ``sql/queries/*.sql``.

A query starts at a line ``-- name --`` and runs to the next one; the comment lines right after the name
describe it. Python code refers to queries by name (``query("job_claim")``) and never builds SQL text.
"""

from __future__ import annotations

import os
import re
from functools import cache
from pathlib import Path

from common.config import PROJECT_ROOT

_NAME_LINE = re.compile(r"^-- ([a-z][a-z0-9_]*) --$", re.MULTILINE)


def sql_dir() -> Path:
    """``sql/`` of the checkout, or ``REPORTGEN_SQL_DIR`` when the code runs from an installed wheel."""
    override = os.environ.get("REPORTGEN_SQL_DIR")
    return Path(override) if override else PROJECT_ROOT / "sql"


def parse_queries(text: str) -> dict[str, str]:
    parts = _NAME_LINE.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        lines = [line for line in body.strip().splitlines() if not line.startswith("--")]
        statement = "\n".join(lines).strip().rstrip(";")
        if name in queries:
            raise ValueError(f"query {name!r} is defined twice")
        queries[name] = statement
    return queries


@cache
def queries() -> dict[str, str]:
    found: dict[str, str] = {}
    for path in sorted((sql_dir() / "queries").glob("*.sql")):
        for name, statement in parse_queries(path.read_text()).items():
            if name in found:
                raise ValueError(f"query {name!r} is defined twice (again in {path.name})")
            found[name] = statement
    return found


def query(name: str) -> str:
    """The SQL text of a named query; a KeyError names the missing query."""
    try:
        return queries()[name]
    except KeyError:
        raise KeyError(f"no SQL query named {name!r} in {sql_dir() / 'queries'}") from None
