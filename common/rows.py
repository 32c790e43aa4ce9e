"""A database row as the JSON API shows it: times as ISO 8601, UUIDs as strings, the workspace left out
(a caller only ever sees its own workspace's rows, so the id says nothing and need not leak)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any


def row_to_json(row: Mapping[str, Any], *, omit: tuple[str, ...] = ("workspace_id",)) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key in omit:
            continue
        if isinstance(value, dt.datetime):
            value = value.isoformat()
        elif isinstance(value, uuid.UUID):
            value = str(value)
        out[key] = value
    return out
