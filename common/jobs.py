"""Jobs as the web, the CLI and the worker see them: states, validation of new jobs, queue operations.

The state machine (documented with a diagram in docs/jobs.md, enforced by CHECK constraints in
sql/schema.sql):

    QUEUED ──claim──► IN_PROGRESS ──► COMPLETED
      ▲  │                │  │
      │  └──cancel──► CANCELLED ◄──cancel (owner confirms)
      │                   │  │
      └──retry/backoff/rescue/give-back──┘  └──► FAILED (attempts used up, or lease expired at the last one)

Delivery is at-least-once: a job is never run by two workers *at once*, but a worker that dies after
its handler's side effects and before recording completion means the next attempt runs it again.
Handlers must therefore be idempotent.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from common import db
from common.errors import Conflict, PayloadTooLarge, ValidationError
from common.sql import query


class JobStatus(StrEnum):
    QUEUED = "QUEUED"  # waiting for run_at; claimed by a worker
    IN_PROGRESS = "IN_PROGRESS"  # leased by locked_by until lease_expires_at (heartbeated)
    COMPLETED = "COMPLETED"  # final: result is set
    FAILED = "FAILED"  # final: attempts used up; error is set; can be retried
    CANCELLED = "CANCELLED"  # final: cancelled by a user; can be retried


FINISHED = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)
TYPE_PATTERN = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")
DEDUP_KEY_MAX = 200
TIMEOUT_MIN_SECONDS = 0.001
RUN_AT_RANGE = (datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC))


@dataclass(frozen=True)
class NewJob:
    """A validated request to enqueue a job."""

    type: str
    payload: dict[str, Any]
    max_attempts: int = 3
    priority: int = 0
    run_at: datetime | None = None
    timeout_seconds: float | None = None
    dedup_key: str | None = None

    @classmethod
    def from_json(cls, body: object, *, known_types: frozenset[str], max_payload_bytes: int) -> NewJob:
        """Validate an API body; every problem is named per field in ``ValidationError.details``."""
        if not isinstance(body, dict):
            raise ValidationError("the request body must be a JSON object")
        errors: dict[str, str] = {}
        unknown = set(body) - {"type", "payload", "max_attempts", "priority", "run_at", "timeout_seconds",
                               "dedup_key"}
        for name in sorted(unknown):
            errors[name] = "unknown field"
        job_type = body.get("type")
        if not isinstance(job_type, str) or not TYPE_PATTERN.match(job_type):
            errors["type"] = "required: an upper-case job type such as PING"
        elif job_type not in known_types:
            errors["type"] = f"unknown job type {job_type!r}; known: {', '.join(sorted(known_types))}"
        payload = body.get("payload", {})
        if not isinstance(payload, dict):
            errors["payload"] = "must be a JSON object"
        elif len(json.dumps(payload)) > max_payload_bytes:
            raise PayloadTooLarge(f"payload is larger than {max_payload_bytes} bytes")
        max_attempts = _int_field(body, "max_attempts", 3, 1, 100, errors)
        priority = _int_field(body, "priority", 0, -100, 100, errors)
        timeout = body.get("timeout_seconds")
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float)
                                    or not TIMEOUT_MIN_SECONDS <= timeout <= 86400):  # tinier underflows real
            errors["timeout_seconds"] = f"must be a number of seconds from {TIMEOUT_MIN_SECONDS} to 86400"
        run_at = _datetime_field(body.get("run_at"), errors)
        dedup_key = body.get("dedup_key")
        if dedup_key is not None and (not isinstance(dedup_key, str) or not 0 < len(dedup_key) <= DEDUP_KEY_MAX):
            errors["dedup_key"] = f"must be a string of 1 to {DEDUP_KEY_MAX} characters"
        if errors:
            raise ValidationError("invalid job: " + "; ".join(f"{k}: {v}" for k, v in errors.items()),
                                  details=errors)
        return cls(type=str(job_type), payload=dict(payload), max_attempts=max_attempts, priority=priority,
                   run_at=run_at, timeout_seconds=float(timeout) if timeout is not None else None,
                   dedup_key=dedup_key)


def _int_field(body: dict[str, Any], name: str, default: int, low: int, high: int, errors: dict[str, str]) -> int:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        errors[name] = f"must be an integer from {low} to {high}"
        return default
    return value


def _datetime_field(value: object, errors: dict[str, str]) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        parsed = None
    if not isinstance(value, str) or parsed is None or parsed.tzinfo is None:
        errors["run_at"] = "must be an ISO 8601 date-time with a time zone, e.g. 2030-01-01T00:00:00Z"
        return None
    if not RUN_AT_RANGE[0] <= parsed < RUN_AT_RANGE[1]:  # outside it, a stored run_at could not be read back
        errors["run_at"] = "must be between 1970-01-01T00:00:00Z and 9999-01-01T00:00:00Z"
        return None
    return parsed


def job_to_json(row: dict[str, Any]) -> dict[str, Any]:
    """The API's view of a job row: ISO dates, no internal lease columns hidden from operators."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        out[key] = value.isoformat() if isinstance(value, datetime) else (str(value) if key in (
            "id", "workspace_id") else value)
    return out


async def enqueue(conn: AsyncConnection, workspace_id: str, job: NewJob) -> tuple[dict[str, Any], bool]:
    """Insert a job; returns (row, created). With a known dedup_key, the existing job and False."""
    params = {"workspace_id": workspace_id, "type": job.type, "payload": Jsonb(job.payload),
              "max_attempts": job.max_attempts, "run_at": job.run_at, "priority": job.priority,
              "timeout_seconds": job.timeout_seconds, "dedup_key": job.dedup_key}
    cur = await conn.execute(query("job_insert"), params)
    row = await cur.fetchone()
    if row is not None:
        if job.run_at is not None and job.run_at > datetime.now(UTC):
            # The insert trigger stays quiet for future jobs; wake idle workers so that they re-arm their
            # timer for this run_at instead of sleeping out a whole poll interval past it.
            await conn.execute(query("jobs_queued_notify"))
        return row, True  # type: ignore[return-value]
    cur = await conn.execute(query("job_get_by_dedup_key"), params)
    existing = await cur.fetchone()
    if existing is None:  # the first job with this key was deleted between the two statements
        raise ValidationError("dedup_key conflicts with a job that is being deleted; try again")
    return existing, False  # type: ignore[return-value]


async def get(conn: AsyncConnection, workspace_id: str, job_id: str) -> dict[str, Any]:
    return await db.fetch_in_workspace(conn, "job_get", job_id, workspace_id, "job")


async def attempt_history(conn: AsyncConnection, job_id: str) -> list[dict[str, Any]]:
    """Every finished attempt of a job, oldest first: worker, start, end, outcome, error (type, message,
    frames). The attempt running now is not in it yet (the job row says who runs it)."""
    cur = await conn.execute(query("job_attempt_list"), {"id": job_id})
    rows: list[dict[str, Any]] = await cur.fetchall()  # type: ignore[assignment]
    return [{**row, "started_at": row["started_at"].isoformat() if row["started_at"] else None,
             "finished_at": row["finished_at"].isoformat()} for row in rows]


async def handled_types(conn: AsyncConnection) -> set[str]:
    """The job types some live worker has a handler for (from the workers registry)."""
    cur = await conn.execute(query("worker_handled_types"))
    return {row["type"] for row in await cur.fetchall()}  # type: ignore[call-overload]


def list_query(status: str | None, job_type: str | None) -> str:
    """The named list query for these filters (one per shape, so that each plan reads its index)."""
    return "job_list" + ("_status" if status is not None else "") + ("_type" if job_type is not None else "")


async def list_jobs(conn: AsyncConnection, workspace_id: str, *, status: str | None = None,
                    job_type: str | None = None, limit: int = 50,
                    before: tuple[datetime, str] | None = None) -> list[dict[str, Any]]:
    cur = await conn.execute(query(list_query(status, job_type)), {
        "workspace_id": workspace_id, "status": status, "type": job_type, "limit": limit,
        "before_created_at": before[0] if before else None, "before_id": before[1] if before else None})
    return await cur.fetchall()  # type: ignore[return-value]


async def cancel(conn: AsyncConnection, workspace_id: str, job_id: str) -> dict[str, Any]:
    """QUEUED → CANCELLED now; IN_PROGRESS → flagged, its worker stops the handler and confirms."""
    row = await _transition(conn, "job_cancel", workspace_id, job_id, "is {status} and cannot be cancelled")
    await conn.execute(query("jobs_cancel_notify"), {"id": job_id})
    return row


async def retry(conn: AsyncConnection, workspace_id: str, job_id: str) -> dict[str, Any]:
    row = await _transition(conn, "job_retry", workspace_id, job_id,
                            "is {status}; only FAILED or CANCELLED jobs can be retried")
    await conn.execute(query("jobs_queued_notify"))
    return row


async def _transition(conn: AsyncConnection, name: str, workspace_id: str, job_id: str,
                      refusal: str) -> dict[str, Any]:
    """Run a state-guarded update; when it matches nothing, say why (404 unknown, 409 wrong state)."""
    row = await (await conn.execute(query(name), {"id": job_id, "workspace_id": workspace_id})).fetchone()
    if row is None:
        current = await get(conn, workspace_id, job_id)
        raise Conflict(f"job {job_id} " + refusal.format(status=current["status"]))
    return row  # type: ignore[return-value]
