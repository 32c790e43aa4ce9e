"""Templates and schedules in the state a scheduler or delivery test needs."""

from __future__ import annotations

import datetime as dt
from typing import Any

from psycopg.types.json import Jsonb

from common.report_templates import TemplateInput, create
from tests.support.databases import WORKSPACE, connect
from tests.support.factories import run

BODY = "# Sales for {{ region }}\n\nTotal: {{ 6 * 7 }} units in {{ region }}.\n"
PARAMS = [{"name": "region", "type": "text", "default": "north"}]


def make_template(url: str, body: str = BODY, parameters: list[dict[str, Any]] | None = None,
                  name: str = "Weekly sales", workspace: str = WORKSPACE) -> str:
    from common import db

    async def go() -> str:
        async with await db.connect_async(url) as conn:
            made = await create(conn, workspace, TemplateInput(name=name, description="", body=body,
                                                               parameters=parameters or PARAMS))
            assert made is not None
            return made
    return run(go())


def make_schedule(url: str, template_id: str, *, cron: str = "* * * * *", timezone: str = "UTC",
                  next_fire_at: dt.datetime, emails: list[str] | None = None, webhooks: list[str] | None = None,
                  parameters: dict[str, Any] | None = None, secret: str = "whsec_test", enabled: bool = True,
                  workspace: str = WORKSPACE, owner_id: str | None = None) -> str:
    with connect(url) as conn:
        row = conn.execute(
            "INSERT INTO schedules (workspace_id, template_id, parameters, cron, timezone, emails, webhooks, "
            "enabled, webhook_secret, next_fire_at, owner_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "RETURNING id",
            (workspace, template_id, Jsonb(parameters or {"region": "west"}), cron, timezone,
             emails if emails is not None else ["a@example.com"], webhooks or [], enabled, secret,
             next_fire_at, owner_id)).fetchone()
    assert row is not None
    return str(row["id"])


def fires_of(url: str, schedule_id: str) -> list[dict[str, Any]]:
    with connect(url) as conn:
        return conn.execute("SELECT * FROM schedule_fires WHERE schedule_id = %s ORDER BY fire_at",
                            (schedule_id,)).fetchall()


def make_workspace(url: str, name: str = "Elsewhere") -> str:
    with connect(url) as conn:
        row = conn.execute("INSERT INTO workspaces (name) VALUES (%s) RETURNING id", (name,)).fetchone()
    assert row is not None
    return str(row["id"])
