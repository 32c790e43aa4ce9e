"""Schedules: what a create or an edit may say, the rows, and what one fire does.

A fire (the scheduler's, or "run now") records its fire time in ``schedule_fires`` (unique per schedule
and fire time: a second worker's insert of the same fire inserts nothing) and makes the run with its
START_RUN job in the same transaction (``runs.create``). A fire whose run cannot be made (template
archived, parameters no longer valid) is recorded FAILED and its recipients get a failure notice.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from common import db, runs
from common.errors import AppError, NotFound, QuotaExceeded, ValidationError
from common.quotas import Quotas
from common.rows import row_to_json
from common.schedule_times import cron_expression, next_fire, next_fires, zone
from common.sql import query

FORMATS = ("pdf", "html", "md", "csv")
MAX_RECIPIENTS = 50
EMAIL = re.compile(r"^[^@\s<>,;\"']{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$")
FIELDS = {"template_id", "parameters", "cron", "timezone", "emails", "webhooks", "formats", "enabled"}


@dataclass(frozen=True)
class ScheduleSpec:
    template_id: str
    parameters: dict[str, Any]
    cron: str
    timezone: str
    emails: list[str]
    webhooks: list[str]
    formats: list[str]
    enabled: bool


def _list(body: Mapping[str, Any], name: str, errors: dict[str, str]) -> list[str]:
    value = body.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        errors[name] = "must be a list of strings"
        return []
    if len(value) > MAX_RECIPIENTS:
        errors[name] = f"at most {MAX_RECIPIENTS}"
    return list(dict.fromkeys(v.strip() for v in value if v.strip()))


def _is_http_url(url: str) -> bool:
    """An http(s) URL a delivery can open: a host, and a port that is a number in range. (A regex alone
    let ``http://[::1`` or ``http://host:99999`` be stored, to fail at every delivery.)"""
    if len(url) > 2000 or not re.match(r"^https?://[^\s/?#]+", url):
        return False
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError when the port is not a number in range
    except ValueError:
        return False
    return bool(parts.hostname)


def parse_spec(body: object, base: ScheduleSpec | None = None) -> ScheduleSpec:
    """A create's body (``base`` None) or a PATCH's (fields missing keep ``base``'s values)."""
    if not isinstance(body, dict):
        raise ValidationError("the request body must be a JSON object")
    errors: dict[str, str] = {name: "unknown field" for name in sorted(set(body) - FIELDS)}
    if base is not None:
        errors.update({name: "cannot be changed" for name in ("template_id",) if name in body})
        body = {**base.__dict__, **body}
    template_id = body.get("template_id")
    try:
        template_id = str(uuid.UUID(str(template_id)))
    except ValueError:
        errors["template_id"] = "required: the id of a template"
    parameters = body.get("parameters", {})
    if not isinstance(parameters, dict):
        errors["parameters"] = "must be a JSON object"
    cron = ""
    try:
        cron = cron_expression(body.get("cron"))
    except ValidationError as exc:
        errors["cron"] = exc.message
    timezone = body.get("timezone", "UTC")
    try:
        zone(timezone)
    except ValidationError as exc:
        errors["timezone"] = exc.message
    emails = _list(body, "emails", errors)
    bad = [e for e in emails if not EMAIL.match(e)]
    if bad:
        errors["emails"] = f"not an e-mail address: {bad[0][:100]!r}"
    webhooks = _list(body, "webhooks", errors)
    bad = [w for w in webhooks if not _is_http_url(w)]
    if bad:
        errors["webhooks"] = f"not an http(s) URL: {bad[0][:100]!r}"
    formats = body.get("formats", ["pdf"])
    if not isinstance(formats, list) or any(f not in FORMATS for f in formats):
        errors["formats"] = f"a list of {', '.join(FORMATS)}"
        formats = []
    enabled = body.get("enabled", True)
    if not isinstance(enabled, bool):
        errors["enabled"] = "true or false"
    if not emails and not webhooks and "emails" not in errors and "webhooks" not in errors:
        errors["emails"] = "give at least one e-mail address or webhook URL"
    if errors:
        raise ValidationError("Some fields are invalid: " + "; ".join(f"{k}: {v}" for k, v in errors.items()),
                              details=errors)
    return ScheduleSpec(template_id=str(template_id), parameters=dict(parameters), cron=cron,
                        timezone=str(timezone), emails=emails, webhooks=webhooks,
                        formats=list(dict.fromkeys(formats)), enabled=bool(enabled))


def schedule_id(raw: str) -> str:
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise NotFound(f"no schedule {raw!r}: schedule ids are UUIDs") from None


async def _check_runnable(conn: AsyncConnection, workspace_id: str, spec: ScheduleSpec) -> None:
    """The parameters must make a run now, exactly as a fire would: try it and roll it back (exempt from
    the quotas: it makes nothing, and a full queue now says nothing about the schedule)."""
    async with conn.transaction(force_rollback=True):
        await runs.create(conn, workspace_id, spec.template_id, spec.parameters, quotas=None)


def _row_params(workspace_id: str, spec: ScheduleSpec, now: dt.datetime) -> dict[str, Any]:
    return {"workspace_id": workspace_id, "template_id": spec.template_id, "parameters": Jsonb(spec.parameters),
            "cron": spec.cron, "timezone": spec.timezone, "emails": spec.emails, "webhooks": spec.webhooks,
            "formats": spec.formats, "enabled": spec.enabled,
            "next_fire_at": next_fire(spec.cron, zone(spec.timezone), now)}


async def create(conn: AsyncConnection, workspace_id: str, owner_id: str | None, body: object) -> dict[str, Any]:
    spec = parse_spec(body)
    await _check_runnable(conn, workspace_id, spec)
    secret = "whsec_" + secrets.token_urlsafe(32)
    params = {**_row_params(workspace_id, spec, dt.datetime.now(dt.UTC)), "owner_id": owner_id,
              "webhook_secret": secret}
    cur = await conn.execute(query("schedule_insert"), params)
    row: Any = await cur.fetchone()
    assert row is not None
    return {**await get(conn, workspace_id, str(row["id"])), "webhook_secret": secret}


async def get(conn: AsyncConnection, workspace_id: str, ident: str) -> dict[str, Any]:
    return await db.fetch_in_workspace(conn, "schedule_get", schedule_id(ident), workspace_id, "schedule")


def spec_of(row: Mapping[str, Any]) -> ScheduleSpec:
    return ScheduleSpec(template_id=str(row["template_id"]), parameters=dict(row["parameters"]), cron=row["cron"],
                        timezone=row["timezone"], emails=list(row["emails"]), webhooks=list(row["webhooks"]),
                        formats=list(row["formats"]), enabled=row["enabled"])


async def update(conn: AsyncConnection, workspace_id: str, ident: str, body: object) -> dict[str, Any]:
    row = await get(conn, workspace_id, ident)
    spec = parse_spec(body, spec_of(row))
    if spec.parameters != row["parameters"]:
        await _check_runnable(conn, workspace_id, spec)
    params = {**_row_params(workspace_id, spec, dt.datetime.now(dt.UTC)), "id": row["id"]}
    await conn.execute(query("schedule_update"), params)
    return await get(conn, workspace_id, ident)


async def delete(conn: AsyncConnection, workspace_id: str, ident: str) -> None:
    cur = await conn.execute(query("schedule_delete"), {"id": schedule_id(ident), "workspace_id": workspace_id})
    if await cur.fetchone() is None:
        raise NotFound(f"no schedule {ident} in this workspace")


async def list_schedules(conn: AsyncConnection, workspace_id: str, template_id: str | None = None,
                         limit: int = 200) -> list[dict[str, Any]]:
    cur = await conn.execute(query("schedule_list"), {"workspace_id": workspace_id, "template_id": template_id,
                                                      "limit": limit})
    return await cur.fetchall()  # type: ignore[return-value]


def preview(cron: object, timezone: object, count: int = 5) -> dict[str, Any]:
    expr = cron_expression(cron)
    tz = zone(timezone if timezone not in (None, "") else "UTC")
    fires = next_fires(expr, tz, dt.datetime.now(dt.UTC), count)
    return {"cron": expr, "timezone": tz.key,
            "next": [{"utc": f.isoformat(), "local": f.astimezone(tz).isoformat(), "label": local_label(f, tz)}
                     for f in fires]}


def local_label(when: dt.datetime, tz: ZoneInfo) -> str:
    """How pages show a fire time: the schedule's wall clock with its zone's abbreviation (CET, CEST)."""
    return when.astimezone(tz).strftime("%a %Y-%m-%d %H:%M %Z")


async def fire(conn: AsyncConnection, row: Mapping[str, Any], fire_at: dt.datetime, *,
               quotas: Quotas | None, manual: bool = False) -> dict[str, Any] | None:
    """Record one fire and make its run (with its START_RUN job), in the caller's transaction.

    None: that fire time was recorded already (by another worker). A run that cannot be made is a FAILED
    fire, whose failure notices are enqueued here (a run that can be made gets its deliveries when it ends),
    except that a manual fire ("run now") over a quota raises ``QuotaExceeded`` (429, nothing recorded).
    """
    from common import deliveries  # deliveries imports this module's callers' rows, not the reverse

    workspace_id = str(row["workspace_id"])
    fire_row = {"schedule_id": row["id"], "workspace_id": workspace_id, "fire_at": fire_at, "manual": manual}
    try:
        async with conn.transaction():
            run = await runs.create(conn, workspace_id, str(row["template_id"]), row["parameters"],
                                    quotas=quotas)
            cur = await conn.execute(query("fire_insert"), {**fire_row, "outcome": "RUN", "run_id": run["id"],
                                                            "error": None})
            if await cur.fetchone() is None:
                raise _AlreadyFired
    except _AlreadyFired:
        return None
    except AppError as exc:
        if manual and isinstance(exc, QuotaExceeded):
            raise  # "run now" answers 429 and makes nothing; the scheduler's fire is recorded FAILED
        cur = await conn.execute(query("fire_insert"), {**fire_row, "outcome": "FAILED", "run_id": None,
                                                        "error": exc.message[:2000]})
        failed: Any = await cur.fetchone()
        if failed is None:
            return None
        await deliveries.enqueue_for_fire(conn, workspace_id, str(failed["id"]))
        return {"fire_id": str(failed["id"]), "outcome": "FAILED", "error": exc.message}
    return {"outcome": "RUN", "run_id": str(run["id"])}


async def record_skipped(conn: AsyncConnection, row: Mapping[str, Any], fire_times: tuple[dt.datetime, ...]) -> None:
    for fire_at in fire_times:
        await conn.execute(query("fire_insert"), {"schedule_id": row["id"], "workspace_id": row["workspace_id"],
                                                  "fire_at": fire_at, "outcome": "SKIPPED", "manual": False,
                                                  "run_id": None, "error": None})


class _AlreadyFired(Exception):
    """The fire row existed: roll back the run just made (its savepoint) and make nothing."""


async def list_fires(conn: AsyncConnection, workspace_id: str, ident: str, limit: int = 100) -> list[dict[str, Any]]:
    cur = await conn.execute(query("fire_list"), {"schedule_id": schedule_id(ident), "workspace_id": workspace_id,
                                                  "limit": limit})
    return await cur.fetchall()  # type: ignore[return-value]


def to_json(row: Mapping[str, Any]) -> dict[str, Any]:
    out = row_to_json(row)
    if "id" in out and "cron" in out:
        out["links"] = {"self": f"/api/schedules/{out['id']}", "page": f"/schedules/{out['id']}",
                        "deliveries": f"/api/schedules/{out['id']}/deliveries"}
    return out
