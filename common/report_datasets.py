"""Datasets: CSV uploads checked once at upload (``parse_csv``) and stored as the bytes that were sent.

The bytes are kept rather than the parsed rows so that a run re-parses exactly what the user uploaded
with the engine of the day; parsing is linear and cheap next to a render. Uploads have a size limit
(``DatasetLimits.max_bytes``) and a type limit: a ``.csv``/``.tsv``/``.txt`` name and UTF-8 CSV content.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from psycopg import AsyncConnection, pq

from common import quotas as quota
from common.errors import AppError, NotFound, ValidationError
from common.reports import Dataset, DatasetLimits, parse_csv
from common.sql import query

LIMITS = DatasetLimits()
ALLOWED_SUFFIXES = (".csv", ".tsv", ".txt")
ALLOWED_MEDIA_TYPES = frozenset({"text/csv", "text/plain", "text/tab-separated-values", "application/csv",
                                 "application/vnd.ms-excel", "application/octet-stream", ""})


class UnsupportedUpload(AppError):
    status = 415
    code = "unsupported_media_type"


def clean_filename(name: str | None) -> str:
    """A display name without directories or control characters (browsers may send full paths)."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = re.sub(r"[\x00-\x1f\x7f]", "", base).strip()[:200]
    return base or "upload.csv"


def check_upload(filename: str | None, media_type: str | None, data: bytes) -> tuple[str, Dataset]:
    """Refuse what is not a CSV; returns the clean file name and the parsed rows."""
    name = clean_filename(filename)
    media = (media_type or "").split(";")[0].strip().lower()
    if not name.lower().endswith(ALLOWED_SUFFIXES) or media not in ALLOWED_MEDIA_TYPES:
        raise UnsupportedUpload(f"{name}: upload a CSV file (.csv, .tsv or .txt, UTF-8 text)")
    return name, parse_csv(data, limits=LIMITS)


async def insert(conn: AsyncConnection, workspace_id: str, filename: str, data: bytes,
                 parsed: Dataset | None = None, *, quotas: quota.Quotas | None) -> dict[str, Any]:
    """Store an upload; ``parsed`` (its rows, when the caller parsed it) records columns and row count.
    With ``quotas`` (None: exempt, the shipped examples' samples) the workspace's dataset storage is
    checked first, under its quota lock, in the caller's transaction."""
    if quotas is not None:
        if conn.info.transaction_status != pq.TransactionStatus.INTRANS:
            raise RuntimeError("a dataset insert checked against quotas must run inside a transaction")
        await quota.lock(conn, workspace_id)
        await quota.check_dataset(conn, workspace_id, quotas, len(data))
    cur = await conn.execute(query("dataset_insert"), {
        "workspace_id": workspace_id, "filename": filename, "content": data, "size_bytes": len(data),
        "columns": None if parsed is None else list(parsed.columns),
        "row_count": None if parsed is None else len(parsed.rows)})
    row = await cur.fetchone()
    assert row is not None
    return row  # type: ignore[return-value]


def dataset_id(raw: object) -> str | None:
    """The canonical text of a dataset id, or None when ``raw`` is not one."""
    if not isinstance(raw, str):
        return None
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        return None


async def load(conn: AsyncConnection, workspace_id: str, ids: Iterable[str]) -> dict[str, bytes]:
    """Contents by id for the ids that exist in this workspace (missing ones are simply absent)."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    cur = await conn.execute(query("dataset_get_many"), {"workspace_id": workspace_id, "ids": wanted})
    return {str(r["id"]): bytes(r["content"]) for r in await cur.fetchall()}  # type: ignore[call-overload]


async def parse_many(contents: Mapping[str, bytes]) -> dict[str, Dataset]:
    """Each distinct dataset parsed once, in a thread (off the event loop: a 5 MB CSV is seconds of CPU).
    Parameters that name the same dataset then share one ``Dataset`` object: no copy per parameter."""
    if not contents:
        return {}
    items = dict(contents)

    def parse_all() -> dict[str, Dataset]:
        return {ident: parse_csv(data, limits=LIMITS) for ident, data in items.items()}

    return await asyncio.to_thread(parse_all)


async def check_upload_async(filename: str | None, media_type: str | None, data: bytes) -> tuple[str, Dataset]:
    """``check_upload`` in a thread, so that parsing an upload never stalls the web's event loop."""
    return await asyncio.to_thread(check_upload, filename, media_type, data)


async def describe(conn: AsyncConnection, workspace_id: str, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    wanted = sorted({i for i in ids if dataset_id(i)})
    if not wanted:
        return {}
    cur = await conn.execute(query("dataset_describe_many"), {"workspace_id": workspace_id, "ids": wanted})
    return {str(r["id"]): r for r in await cur.fetchall()}  # type: ignore[call-overload,misc]


async def load_one(conn: AsyncConnection, workspace_id: str, ident: str) -> bytes:
    found = await load(conn, workspace_id, [ident])
    if ident not in found:
        raise NotFound(f"no dataset {ident} in this workspace")
    return found[ident]


def to_json(row: dict[str, Any], parsed: Dataset | None = None) -> dict[str, Any]:
    out = {"id": str(row["id"]), "filename": row["filename"], "size_bytes": row["size_bytes"],
           "created_at": row["created_at"].isoformat()}
    if parsed is not None:
        out["columns"] = parsed.columns
        out["rows"] = len(parsed.rows)
    return out


def validation_error(field: str, message: str) -> ValidationError:
    return ValidationError(f"{field}: {message}", details={field: message})
