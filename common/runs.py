"""Runs of a template: created (parameters checked, run + START_RUN job in one transaction) and read back.

Parameter values are stored JSON-safe (dates as ISO text, datasets as dataset ids) and validated again by
the worker against the template version the run keeps, so the render sees the same typed values the
API accepted. Run states mirror the jobs' (QUEUED → IN_PROGRESS → COMPLETED | FAILED, or CANCELLED);
``run_get`` reads the START_RUN job too, so a job that failed or was cancelled without the handler
recording it still ends the run as users see it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from common import db, jobs, report_datasets, report_templates
from common import quotas as quota
from common.config import Settings
from common.errors import Conflict, NotFound, ValidationError
from common.jobs import NewJob
from common.reports import Dataset, Parameter, validate_declarations, validate_parameters
from common.rows import row_to_json
from common.sql import query

FINAL = ("COMPLETED", "FAILED", "CANCELLED")


@dataclass(frozen=True)
class Upload:
    """A CSV file sent with a run (multipart), for one dataset parameter."""

    filename: str | None
    media_type: str | None
    data: bytes


async def create(conn: AsyncConnection, workspace_id: str, template_id: str, values: Mapping[str, Any],
                 uploads: Mapping[str, Upload] | None = None, *, quotas: quota.Quotas | None) -> dict[str, Any]:
    """Check ``values`` against the template's current version, then insert the run and its job.

    ``quotas``: the workspace's run and dataset quotas, checked in the inserting transaction under the
    workspace's quota lock (``QuotaExceeded``, and nothing is made); None only where a run is exempt
    (common/quotas.py says which)."""
    template = await report_templates.get(conn, workspace_id, template_id)
    if template["archived_at"] is not None:
        raise Conflict(f"template {template_id} is archived; restore or copy it to run it")
    declarations = validate_declarations(template["parameters"])
    uploads = uploads or {}
    errors: dict[str, str] = {}
    given: dict[str, Any] = dict(values)
    ids: dict[str, str] = {}  # dataset parameter → id of an existing dataset
    new_files: dict[str, tuple[str, bytes]] = {}  # dataset parameter → upload to store with the run
    for param in declarations:
        if param.type != "dataset":
            continue
        raw = given.pop(param.name, None)
        if param.name in uploads:
            upload = uploads[param.name]
            try:
                filename, parsed = await report_datasets.check_upload_async(upload.filename, upload.media_type,
                                                                            upload.data)
            except (ValidationError, report_datasets.UnsupportedUpload) as exc:
                errors[param.name] = exc.message
                continue
            new_files[param.name] = (filename, upload.data)
            given[param.name] = parsed
        elif raw not in (None, ""):
            ident = report_datasets.dataset_id(raw)
            if ident is None:
                errors[param.name] = "No such dataset: give the id of an uploaded CSV, or upload one."
                continue
            ids[param.name] = ident
    # Datasets named by id: loaded and parsed once per distinct dataset (in a thread), however many
    # parameters name it; those parameters share the one parsed object.
    found = await report_datasets.load(conn, workspace_id, ids.values())
    try:
        parsed_by_id = await report_datasets.parse_many(found)
    except ValidationError as exc:
        parsed_by_id = {}
        errors.update({name: exc.message for name in ids})
    for name, ident in list(ids.items()):
        if ident not in found:
            errors[name] = "No such dataset: give the id of an uploaded CSV, or upload one."
            del ids[name]
        elif ident in parsed_by_id:
            given[name] = parsed_by_id[ident]
    for name in uploads:
        if name not in {p.name for p in declarations if p.type == "dataset"}:
            errors[name] = "This template has no dataset parameter of that name."
    try:
        typed = validate_parameters(declarations, {k: v for k, v in given.items() if k not in errors},
                                    dataset_limits=report_datasets.LIMITS)
    except ValidationError as exc:
        errors = {**(exc.details if isinstance(exc.details, dict) else {}), **errors}
        typed = {}
    if errors:
        raise ValidationError("Some parameters are invalid: " + "; ".join(f"{k}: {v}" for k, v in errors.items()),
                              details=errors)
    run_id = str(uuid.uuid4())
    async with conn.transaction():
        if quotas is not None:
            await quota.lock(conn, workspace_id)
            await quota.check_run(conn, workspace_id, quotas)
        for name, (filename, data) in new_files.items():
            shape = typed.get(name)
            row = await report_datasets.insert(conn, workspace_id, filename, data,
                                               shape if isinstance(shape, Dataset) else None, quotas=quotas)
            ids[name] = str(row["id"])
        stored = stored_values(declarations, typed, ids)
        job, _ = await jobs.enqueue(conn, workspace_id, NewJob(type="START_RUN", payload={"run_id": run_id}))
        await conn.execute(query("run_insert"), {
            "id": run_id, "workspace_id": workspace_id, "template_id": template_id,
            "template_version": template["version"], "parameters": Jsonb(stored), "job_id": job["id"]})
        if ids:  # for the datasets page: which runs used which dataset
            await conn.execute(query("run_datasets_insert"), {"run_id": run_id, "workspace_id": workspace_id,
                                                              "dataset_ids": sorted(set(ids.values()))})
    return await get(conn, workspace_id, run_id)


def stored_values(declarations: list[Parameter], typed: Mapping[str, Any], ids: Mapping[str, str]
                  ) -> dict[str, Any]:
    """JSON-safe values: what the run row keeps and what the worker validates again."""
    out: dict[str, Any] = {}
    for param in declarations:
        value = typed.get(param.name)
        if param.type == "dataset":
            out[param.name] = ids.get(param.name)
        elif isinstance(value, dt.date):
            out[param.name] = value.isoformat()
        elif not isinstance(value, Dataset):
            out[param.name] = value
    return out


async def typed_values(conn: AsyncConnection, workspace_id: str, declarations: list[dict[str, Any]],
                       stored: Mapping[str, Any]) -> dict[str, Any]:
    """The worker's side: stored values → typed values (datasets parsed); ValidationError if no longer valid."""
    params = validate_declarations(declarations)
    ids = {p.name: stored.get(p.name) for p in params if p.type == "dataset" and stored.get(p.name)}
    contents = await report_datasets.load(conn, workspace_id, [str(v) for v in ids.values()])
    for name, ident in ids.items():
        if str(ident) not in contents:
            raise ValidationError(f"{name}: the dataset {ident} no longer exists", details={name: "missing dataset"})
    parsed = await report_datasets.parse_many(contents)  # once per distinct dataset, off the event loop
    values = dict(stored)
    for name, ident in ids.items():
        values[name] = parsed[str(ident)]
    return validate_parameters(params, values, dataset_limits=report_datasets.LIMITS)


async def get(conn: AsyncConnection, workspace_id: str, run_id: str) -> dict[str, Any]:
    return await db.fetch_in_workspace(conn, "run_get", run_id, workspace_id, "run")


async def get_report(conn: AsyncConnection, workspace_id: str, run_id: str, *, markdown: bool = False
                     ) -> dict[str, Any]:
    """The run's stored render: HTML and tables, and the Markdown download only when ``markdown``
    (that column can be large and nothing but the md download reads it)."""
    row = await db.fetch_in_workspace(conn, "run_get_report", run_id, workspace_id, "run")
    row["report_markdown"] = ""
    if markdown:
        md = await db.fetch_in_workspace(conn, "run_get_markdown", run_id, workspace_id, "run")
        row["report_markdown"] = md["report_markdown"] or ""
    return row


async def list_recent(conn: AsyncConnection, workspace_id: str, limit: int = 20) -> list[dict[str, Any]]:
    cur = await conn.execute(query("run_list_recent"), {"workspace_id": workspace_id, "limit": limit})
    return await cur.fetchall()  # type: ignore[return-value]


def run_id(raw: str) -> str:
    """A path's run id, canonical; 404 (not 422) for anything that is not a UUID, as for unknown ids."""
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise NotFound(f"no run {raw!r}: run ids are UUIDs") from None


def to_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """The API's view of a run, with links to its report in every format."""
    out = row_to_json(row)
    out["exports"] = list(row.get("exports") or [])
    out["links"] = {"self": f"/api/runs/{out['id']}", "events": f"/api/runs/{out['id']}/events",
                    "page": f"/runs/{out['id']}"}
    if out.get("template_id") and out.get("template_version"):  # the exact version this run rendered
        version = f"/templates/{out['template_id']}/versions/{out['template_version']}"
        out["links"]["version"] = "/api" + version
        out["links"]["version_page"] = version
    if row.get("status") == "COMPLETED":
        out["links"]["report"] = {fmt: f"/api/runs/{out['id']}/report?format={fmt}"
                                  for fmt in ("html", "pdf", "md", "csv")}
    return out


def export_job(run_id: str, fmt: str, settings: Settings) -> NewJob:
    """The EXPORT job of a run's download, deduplicated per run and format, with a timeout a little
    over the PDF child's own deadline (so the attempt ends even if the child's parent hangs)."""
    return NewJob(type="EXPORT", payload={"run_id": run_id, "format": fmt}, dedup_key=f"export:{run_id}:{fmt}",
                  timeout_seconds=settings.pdf_timeout_seconds + 30.0)
