"""Quotas per workspace (issue 9, item 8): what one workspace may hold or start, checked where rows are made.

- ``active_runs``: queued + running runs (``QUOTA_ACTIVE_RUNS``, default 50); a workspace cannot fill every
  worker slot of the deployment.
- ``runs_per_minute``: runs made in the last 60 s (``QUOTA_RUNS_PER_MINUTE``, default 60).
- ``dataset_bytes``: bytes of stored CSV datasets (``QUOTA_DATASET_BYTES``, default 500 MiB).
- ``streams_per_user``: open live-status streams per user (``QUOTA_STREAMS_PER_USER``, default 20),
  counted per web instance in memory (``web/sse.py``): a stream holds that instance's connection.

Each is answered ``429 quota_exceeded`` with ``Retry-After`` and ``details`` naming the limit. 0 turns a
quota off. The run and dataset checks count in the transaction that inserts, after taking the workspace's
advisory lock (``workspace_quota_lock``), so concurrent requests cannot both take the last place.

Every path that makes a run passes its ``Quotas`` to ``runs.create`` (the API, the pages, a schedule's
run-now), or ``None`` when exempt: the dry run that checks a schedule's parameters (rolled back). The
scheduler's own fires are checked against ``active_runs`` only (``for_scheduler``): a fire over it is
recorded FAILED with the quota's message and its recipients get the failure notice; they are exempt from
``runs_per_minute`` (cron already bounds a schedule to one fire a minute) but are counted in it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from psycopg import AsyncConnection

from common.config import Settings
from common.errors import QuotaExceeded
from common.sql import query

WINDOW_SECONDS = 60
ACTIVE_RETRY_SECONDS = 10  # a render takes seconds; ask again soon
STORAGE_RETRY_SECONDS = 3600  # nothing frees space by itself: deleting datasets (/datasets) or an operator


@dataclass(frozen=True)
class Quotas:
    active_runs: int = 50
    runs_per_minute: int = 60
    dataset_bytes: int = 500 * 1024 * 1024
    streams_per_user: int = 20

    @classmethod
    def of(cls, settings: Settings) -> Quotas:
        return cls(active_runs=settings.quota_active_runs, runs_per_minute=settings.quota_runs_per_minute,
                   dataset_bytes=settings.quota_dataset_bytes, streams_per_user=settings.quota_streams_per_user)

    def for_scheduler(self) -> Quotas:
        """The scheduler's fires: checked against active runs only (see the module's docstring)."""
        return dataclasses.replace(self, runs_per_minute=0)


def _exceeded(limit: str, setting: str, maximum: int, current: int, message: str, retry_after: int) -> QuotaExceeded:
    return QuotaExceeded(message, retry_after=retry_after,
                         details={"limit": limit, "setting": setting, "max": maximum, "current": current})


async def lock(conn: AsyncConnection, workspace_id: str) -> None:
    """The workspace's quota lock, to the end of the caller's transaction (call inside one)."""
    await conn.execute(query("workspace_quota_lock"), {"workspace_id": workspace_id})


async def check_run(conn: AsyncConnection, workspace_id: str, quotas: Quotas) -> None:
    """Raise ``QuotaExceeded`` when one more run would break ``active_runs`` or ``runs_per_minute``.
    Call under ``lock`` in the transaction that inserts the run."""
    if not quotas.active_runs and not quotas.runs_per_minute:
        return
    cur = await conn.execute(query("workspace_run_usage"), {
        "workspace_id": workspace_id, "active_max": quotas.active_runs, "recent_max": quotas.runs_per_minute,
        "window_seconds": WINDOW_SECONDS})
    usage = await cur.fetchone()
    assert usage is not None
    active, recent = int(usage["active"]), int(usage["recent"])  # type: ignore[call-overload]
    if quotas.active_runs and active >= quotas.active_runs:
        raise _exceeded("active_runs", "QUOTA_ACTIVE_RUNS", quotas.active_runs, active,
                        f"this workspace has {active} runs queued or running, its limit; "
                        "wait for some to finish (or cancel some)", ACTIVE_RETRY_SECONDS)
    if quotas.runs_per_minute and recent >= quotas.runs_per_minute:
        wait = usage["frees_in_seconds"] or WINDOW_SECONDS  # type: ignore[call-overload]
        raise _exceeded("runs_per_minute", "QUOTA_RUNS_PER_MINUTE", quotas.runs_per_minute, recent,
                        f"this workspace started {recent} runs in the last minute, its limit; "
                        f"try again in {wait} s", int(wait))


async def check_dataset(conn: AsyncConnection, workspace_id: str, quotas: Quotas | None, size: int) -> None:
    """Raise ``QuotaExceeded`` when storing ``size`` more bytes would break ``dataset_bytes``.
    Call under ``lock`` in the transaction that inserts the dataset."""
    if quotas is None or not quotas.dataset_bytes:
        return
    cur = await conn.execute(query("workspace_dataset_bytes"), {"workspace_id": workspace_id})
    row = await cur.fetchone()
    stored = int(row["bytes"]) if row else 0  # type: ignore[call-overload]
    if stored + size > quotas.dataset_bytes:
        raise _exceeded("dataset_bytes", "QUOTA_DATASET_BYTES", quotas.dataset_bytes, stored,
                        f"this workspace stores {stored} bytes of datasets; {size} more would pass its limit "
                        f"of {quotas.dataset_bytes} bytes: delete datasets it no longer needs (/datasets)",
                        STORAGE_RETRY_SECONDS)
