"""Deliveries: one per (fire, recipient), each carried by a DELIVER job made in the same transaction.

``enqueue_for_run`` is called by START_RUN in the transaction that finishes a run (COMPLETED or FAILED);
a run that is not a schedule's inserts nothing. The DELIVER job's dedup key is the delivery's id, so a
repeated call (a retried attempt) makes no second job, and the unique (fire, channel, recipient) makes no
second delivery. Retries use the queue's own backoff (``RETRY_BACKOFF_SECONDS``, common/backoff.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from psycopg import AsyncConnection

from common import jobs
from common.jobs import NewJob
from common.rows import row_to_json
from common.sql import query

DELIVER_ATTEMPTS = 5  # 1 + 4 retries: with the default 2 s base, about a minute of backoff in all


async def _enqueue(conn: AsyncConnection, workspace_id: str, rows: list[dict[str, Any]]) -> list[str]:
    ids = []
    for row in rows:
        delivery_id = str(row["id"])
        job, _ = await jobs.enqueue(conn, workspace_id, NewJob(
            type="DELIVER", payload={"delivery_id": delivery_id}, max_attempts=DELIVER_ATTEMPTS,
            dedup_key=f"deliver:{delivery_id}"))
        await conn.execute(query("delivery_set_job"), {"id": delivery_id, "job_id": job["id"]})
        ids.append(delivery_id)
    return ids


async def enqueue_for_run(conn: AsyncConnection, workspace_id: str, run_id: str) -> list[str]:
    """The deliveries of a finished scheduled run, with their jobs (in the caller's transaction)."""
    cur = await conn.execute(query("delivery_insert_for_run"), {"run_id": run_id, "workspace_id": workspace_id})
    return await _enqueue(conn, workspace_id, await cur.fetchall())  # type: ignore[arg-type]


async def enqueue_for_fire(conn: AsyncConnection, workspace_id: str, fire_id: str) -> list[str]:
    """Failure notices of a fire that made no run."""
    cur = await conn.execute(query("delivery_insert_for_fire"), {"fire_id": fire_id})
    return await _enqueue(conn, workspace_id, await cur.fetchall())  # type: ignore[arg-type]


async def enqueue_owner_notice(conn: AsyncConnection, workspace_id: str, delivery_id: str, email: str) -> list[str]:
    cur = await conn.execute(query("delivery_insert_owner_notice"), {"id": delivery_id, "email": email})
    return await _enqueue(conn, workspace_id, await cur.fetchall())  # type: ignore[arg-type]


async def list_for_schedule(conn: AsyncConnection, workspace_id: str, schedule_id: str,
                            limit: int = 200) -> list[dict[str, Any]]:
    cur = await conn.execute(query("delivery_list"), {"schedule_id": schedule_id, "workspace_id": workspace_id,
                                                      "limit": limit})
    return await cur.fetchall()  # type: ignore[return-value]


def to_json(row: Mapping[str, Any]) -> dict[str, Any]:
    return row_to_json(row, omit=())
