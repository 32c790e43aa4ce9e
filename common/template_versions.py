"""A template's history: every saved version with its author, one version's text, and "restore".

Versions are immutable (``report_templates``): restoring version n inserts a new version whose body and
parameters are version n's and records ``restored_from = n``, so history only ever grows and a run keeps
pointing at the exact text it rendered.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from psycopg import AsyncConnection

from common import report_templates
from common.errors import Conflict, NotFound
from common.rows import row_to_json
from common.sql import query

MAX_VERSION = 2**31 - 1


def parse_version(raw: object) -> int | None:
    """A version number from a path or a form (1 … 2³¹−1), or None when ``raw`` is not one."""
    if not isinstance(raw, str) or not raw.isascii() or not raw.isdigit() or len(raw) > 10:
        return None
    number = int(raw)
    return number if 1 <= number <= MAX_VERSION else None


async def history(conn: AsyncConnection, workspace_id: str, template_id: str) -> list[dict[str, Any]]:
    """Every version, newest first (404 when the template is not this workspace's)."""
    await report_templates.get(conn, workspace_id, template_id)
    return await report_templates.versions(conn, workspace_id, template_id)


async def restore(conn: AsyncConnection, workspace_id: str, template_id: str, version: int,
                  author_id: str | None) -> int:
    """Make a new version equal to ``version``; returns its number. 404 for an unknown template or
    version (or an archived template), 409 when ``version`` is already the current one."""
    current = await report_templates.get(conn, workspace_id, template_id)
    await report_templates.get(conn, workspace_id, template_id, version)  # 404 names the missing version
    if current["archived_at"] is not None:
        raise NotFound(f"template {template_id} is archived")
    if current["current_version"] == version:
        raise Conflict(f"version {version} is the current version already: nothing to restore")
    cur = await conn.execute(query("template_version_restore"), {
        "id": template_id, "workspace_id": workspace_id, "version": version, "author_id": author_id})
    row = await cur.fetchone()
    if row is None:  # archived between the two statements
        raise NotFound(f"template {template_id} is archived")
    return int(row["version"])  # type: ignore[call-overload]


def summary_json(template_id: str, row: Mapping[str, Any]) -> dict[str, Any]:
    """One line of the history as the API shows it, with its links."""
    out = row_to_json(row)
    out["links"] = {"self": f"/api/templates/{template_id}/versions/{row['version']}",
                    "page": f"/templates/{template_id}/versions/{row['version']}"}
    return out


def version_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """One version (body and parameters) of a template, as the API shows it."""
    keys = ("version", "body", "parameters", "author_id", "author_email", "restored_from")
    out = row_to_json({key: row[key] for key in keys})
    out["template_id"] = str(row["id"])
    out["name"] = row["name"]
    out["current_version"] = row["current_version"]
    out["created_at"] = row["version_created_at"].isoformat()
    out["links"] = {"self": f"/api/templates/{row['id']}/versions/{row['version']}",
                    "page": f"/templates/{row['id']}/versions/{row['version']}",
                    "restore": f"/api/templates/{row['id']}/versions/{row['version']}/restore"}
    return out
