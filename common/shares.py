"""Share links (issue 9, item 9): a read-only link to one finished run, its page and its downloads.

An editor makes one (``POST /api/runs/{id}/shares``); the link is ``/s/<token>``, where the token is 256
random bits (``secrets.token_urlsafe(32)``) of which only the sha256 is stored, like an API token's. A
link is revocable and may expire; revoked, expired and unknown tokens all look the same (404). A link
opens exactly its run, in the run's workspace, whoever holds it: no account, no other page.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import uuid
from collections.abc import Mapping
from typing import Any

from psycopg import AsyncConnection

from common import runs
from common.accounts import secret_hash
from common.errors import Conflict, NotFound, ValidationError
from common.rows import row_to_json
from common.sql import query

MAX_EXPIRES_DAYS = 3650
TOKEN = re.compile(r"^[A-Za-z0-9_-]{32,100}$")


def new_token() -> str:
    return secrets.token_urlsafe(32)  # 256 bits


def share_id(raw: str) -> str:
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise NotFound(f"no share link {raw!r}: share link ids are UUIDs") from None


def expires_days(body: Mapping[str, Any]) -> int | None:
    """The optional ``expires_days`` of a create's body (a whole number of days, 1 to 3650, or null)."""
    unknown = sorted(set(body) - {"expires_days"})
    if unknown:
        raise ValidationError(f"unknown field(s): {', '.join(unknown)}",
                              details=dict.fromkeys(unknown, "unknown field"))
    days = body.get("expires_days")
    if days is None:
        return None
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_EXPIRES_DAYS:
        raise ValidationError(f"expires_days: a whole number of days from 1 to {MAX_EXPIRES_DAYS}, or null",
                              details={"expires_days": f"a whole number from 1 to {MAX_EXPIRES_DAYS}, or null"})
    return days


async def create(conn: AsyncConnection, workspace_id: str, run_id: str, created_by: str | None,
                 days: int | None) -> tuple[str, dict[str, Any]]:
    """A new link to a COMPLETED run of the workspace: (its token, shown once; its row)."""
    run = await runs.get(conn, workspace_id, run_id)  # NotFound for another workspace's run
    if run["status"] != "COMPLETED":
        raise Conflict(f"run {run_id} is {run['status']}: only a finished (COMPLETED) run can be shared")
    token = new_token()
    expires_at = dt.datetime.now(dt.UTC) + dt.timedelta(days=days) if days else None
    cur = await conn.execute(query("share_create"), {"token_hash": secret_hash(token), "workspace_id": workspace_id,
                                                      "run_id": run_id, "created_by": created_by,
                                                      "expires_at": expires_at})
    row = await cur.fetchone()
    if row is None:  # the run went away between the two statements
        raise NotFound(f"no run {run_id} in this workspace")
    return token, row  # type: ignore[return-value]


async def list_for_run(conn: AsyncConnection, workspace_id: str, run_id: str) -> list[dict[str, Any]]:
    await runs.get(conn, workspace_id, run_id)  # 404 for another workspace's run, not an empty list
    cur = await conn.execute(query("share_list_for_run"), {"workspace_id": workspace_id, "run_id": run_id})
    return await cur.fetchall()  # type: ignore[return-value]


async def revoke(conn: AsyncConnection, workspace_id: str, ident: str) -> dict[str, Any]:
    cur = await conn.execute(query("share_revoke"), {"id": share_id(ident), "workspace_id": workspace_id})
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"no share link {ident} in this workspace")
    return row  # type: ignore[return-value]


async def resolve(conn: AsyncConnection, token: str) -> dict[str, Any] | None:
    """The live link behind ``token`` (its ``run_id`` and ``workspace_id``), or None."""
    if not TOKEN.match(token):
        return None
    cur = await conn.execute(query("share_resolve"), {"token_hash": secret_hash(token)})
    return await cur.fetchone()  # type: ignore[return-value]


def path(token: str) -> str:
    return f"/s/{token}"


def to_json(row: Mapping[str, Any]) -> dict[str, Any]:
    out = row_to_json(row)
    if "active" not in out:
        now = dt.datetime.now(dt.UTC)
        out["active"] = row.get("revoked_at") is None and (row.get("expires_at") is None or row["expires_at"] > now)
    out["links"] = {"self": f"/api/shares/{out['id']}", "run": f"/api/runs/{out['run_id']}"}
    return out
