"""A side-by-side line diff of two texts (template bodies, parameter lists), computed on the server.

``difflib.SequenceMatcher`` (no junk heuristic: template lines repeat, and "popular" lines must still
match) grouped with a few lines of context; the unchanged stretches between groups become one "gap" row
that says how many lines it hides. The rows carry plain text only: the page's Jinja autoescaping is what
makes them safe to show, so a body full of ``<script>`` is displayed, never run.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Any, Literal

CONTEXT_LINES = 3
Kind = Literal["same", "changed", "removed", "added", "gap"]


@dataclass(frozen=True)
class Side:
    number: int  # 1-based line number in its text
    text: str


@dataclass(frozen=True)
class Row:
    kind: Kind
    left: Side | None = None
    right: Side | None = None
    hidden: int = 0  # for a gap: how many unchanged lines it stands for


@dataclass(frozen=True)
class Diff:
    rows: list[Row]
    added: int
    removed: int

    @property
    def identical(self) -> bool:
        return self.added == 0 and self.removed == 0


def parameters_text(parameters: Any) -> str:
    """Parameters as the diff compares them: the JSON view of the editor (declared order kept)."""
    return json.dumps(parameters, indent=2, ensure_ascii=False)


def side_by_side(old: str, new: str, context: int = CONTEXT_LINES) -> Diff:
    a, b = old.splitlines(), new.splitlines()
    if a == b:
        return Diff([], 0, 0)
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    rows: list[Row] = []
    added = removed = 0
    shown_to = 0  # lines of ``a`` accounted for so far
    for group in matcher.get_grouped_opcodes(context):
        if group[0][1] > shown_to:
            rows.append(Row("gap", hidden=group[0][1] - shown_to))
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                rows.extend(Row("same", Side(i + 1, a[i]), Side(j + 1, b[j]))
                            for i, j in zip(range(i1, i2), range(j1, j2), strict=True))
            else:
                removed += i2 - i1
                added += j2 - j1
                rows.extend(_paired(a, b, i1, i2, j1, j2))
            shown_to = i2
    if len(a) > shown_to:
        rows.append(Row("gap", hidden=len(a) - shown_to))
    return Diff(rows, added, removed)


def _paired(a: list[str], b: list[str], i1: int, i2: int, j1: int, j2: int) -> list[Row]:
    """A replaced block line by line: pairs first (changed), then what one side has more of."""
    rows: list[Row] = []
    for k in range(max(i2 - i1, j2 - j1)):
        left = Side(i1 + k + 1, a[i1 + k]) if i1 + k < i2 else None
        right = Side(j1 + k + 1, b[j1 + k]) if j1 + k < j2 else None
        kind: Kind = "changed" if left and right else ("removed" if left else "added")
        rows.append(Row(kind, left, right))
    return rows
