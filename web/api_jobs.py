"""JSON API for jobs: create, inspect, list, cancel, retry. Every query is scoped to the workspace."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from common import audit, jobs
from common.errors import NotFound, ValidationError
from common.jobs import JobStatus, NewJob, job_to_json
from web import csrf
from web.permissions import Access, Route, workspace_of
from web.request_body import read_json
from web.state import AppState

MAX_PAGE = 200


def _job_id(request: Request) -> str:
    raw = request.path_params["job_id"]
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise NotFound(f"no job {raw!r}: job ids are UUIDs") from None


# Dedup keys the system makes itself ("export:<run>:pdf", ...): a raw API job may not take one over.
INTERNAL_DEDUP_PREFIXES = ("export:", "run:", "schedule:", "share:", "system:")


async def create_job(request: Request) -> JSONResponse:
    state: AppState = request.app.state.rg
    body = await read_json(request, state.settings.max_payload_bytes + 4096)
    new = NewJob.from_json(body, known_types=state.api_job_types, max_payload_bytes=state.settings.max_payload_bytes)
    if new.dedup_key is not None and new.dedup_key.lower().startswith(INTERNAL_DEDUP_PREFIXES):
        raise ValidationError("dedup_key: the prefixes " + ", ".join(INTERNAL_DEDUP_PREFIXES) + " are reserved",
                              details={"dedup_key": "reserved prefix"})
    async with state.connection() as conn:
        row, created = await jobs.enqueue(conn, workspace_of(request), new)
    return JSONResponse(job_to_json(row), status_code=201 if created else 200,
                        headers={"Location": f"/api/jobs/{row['id']}"})


async def get_job(request: Request) -> JSONResponse:
    state: AppState = request.app.state.rg
    async with state.connection() as conn:
        row = await jobs.get(conn, workspace_of(request), _job_id(request))
        history = await jobs.attempt_history(conn, str(row["id"]))
    return JSONResponse({**job_to_json(row), "attempt_history": history})


async def list_jobs(request: Request) -> JSONResponse:
    state: AppState = request.app.state.rg
    params = request.query_params
    errors: dict[str, str] = {}
    status = params.get("status") or None
    if status is not None and status not in JobStatus.__members__:
        errors["status"] = f"must be one of {', '.join(JobStatus)}"
    job_type = params.get("type") or None
    if job_type is not None and not jobs.TYPE_PATTERN.fullmatch(job_type):
        errors["type"] = "must be an upper-case job type such as PING"
    limit_raw = params.get("limit", "50")
    # ASCII digits only: str.isdigit() accepts "²" (int() refuses it) and int() refuses over 4,300 digits.
    limit = int(limit_raw) if limit_raw.isascii() and limit_raw.isdigit() and len(limit_raw) <= 6 else 0
    if not 1 <= limit <= MAX_PAGE:
        errors["limit"] = f"must be an integer from 1 to {MAX_PAGE}"
    before = _cursor(params.get("cursor"), errors)
    if errors:
        raise ValidationError("invalid query: " + "; ".join(f"{k}: {v}" for k, v in errors.items()),
                              details=errors)
    async with state.connection() as conn:
        rows = await jobs.list_jobs(conn, workspace_of(request), status=status, job_type=job_type, limit=limit,
                                    before=before)
    next_cursor = f"{rows[-1]['created_at'].isoformat()}_{rows[-1]['id']}" if len(rows) == limit else None
    return JSONResponse({"jobs": [job_to_json(r) for r in rows], "next_cursor": next_cursor})


def _cursor(raw: str | None, errors: dict[str, str]) -> tuple[datetime, str] | None:
    if not raw:
        return None
    try:
        created, job_id = raw.rsplit("_", 1)
        return datetime.fromisoformat(created), str(uuid.UUID(job_id))
    except ValueError:
        errors["cursor"] = "must be a next_cursor value from a previous page"
        return None


async def _check_action_request(request: Request) -> None:
    """Cancel and retry take no parameters: a JSON content type (CSRF), and a body, if any, that is {}."""
    await csrf.check_api_action(request)
    if request.headers.get("content-length", "0") != "0" or "transfer-encoding" in request.headers:
        body = await read_json(request, 4096)
        if not isinstance(body, dict):
            raise ValidationError("the body, if any, must be a JSON object")


async def record_job_action(conn: Any, request: Request, verb: str, row: dict[str, Any]) -> None:
    """The audit events of a cancel or retry (API and the jobs page); cancelling a run's START_RUN job
    cancels the run, so that is recorded as ``run.cancelled`` too."""
    run_id = (row.get("payload") or {}).get("run_id")
    detail = {"type": row["type"], "status": row["status"], **({"run_id": str(run_id)} if run_id else {})}
    await audit.record_request(conn, request, f"job.{verb}", str(row["id"]), detail)
    if verb == "cancelled" and row["type"] == "START_RUN" and run_id:
        await audit.record_request(conn, request, "run.cancelled", str(run_id), {"job_id": str(row["id"])})


async def cancel_job(request: Request) -> JSONResponse:
    state: AppState = request.app.state.rg
    await _check_action_request(request)
    async with state.connection() as conn:
        row = await jobs.cancel(conn, workspace_of(request), _job_id(request))
        await record_job_action(conn, request, "cancelled", row)
    return JSONResponse(job_to_json(row), status_code=202 if row["status"] == JobStatus.IN_PROGRESS else 200)


async def retry_job(request: Request) -> JSONResponse:
    state: AppState = request.app.state.rg
    await _check_action_request(request)
    async with state.connection() as conn:
        row = await jobs.retry(conn, workspace_of(request), _job_id(request))
        await record_job_action(conn, request, "retried", row)
    return JSONResponse(job_to_json(row))


ROUTES = [
    Route("/api/jobs", create_job, methods=["POST"], access=Access.ADMIN),
    Route("/api/jobs", list_jobs, methods=["GET"], access=Access.ADMIN),
    Route("/api/jobs/{job_id}", get_job, methods=["GET"], access=Access.ADMIN),
    Route("/api/jobs/{job_id}/cancel", cancel_job, methods=["POST"], access=Access.ADMIN),
    Route("/api/jobs/{job_id}/retry", retry_job, methods=["POST"], access=Access.ADMIN),
]
