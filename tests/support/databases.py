"""Small helpers for tests that talk to PostgreSQL directly."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg.rows import dict_row

WORKSPACE = "c8e2bd7a-abe8-4ae2-9d77-720fabab07e4"
SEED_INSERT = "INSERT INTO jobs (workspace_id, type, status, payload) VALUES (%s, %s, 'QUEUED', %s) RETURNING id"


# Where test handlers record each invocation (tests/support/handlers.py), to count real executions.
# ``stopped_at`` is when the handler ended, however it ended (returned, raised, or was cancelled).
CALLS_DDL = """CREATE TABLE IF NOT EXISTS handler_calls (
    id bigint GENERATED ALWAYS AS IDENTITY, job_id uuid NOT NULL, attempt integer NOT NULL, pid integer NOT NULL,
    called_at timestamptz NOT NULL DEFAULT clock_timestamp(), stopped_at timestamptz)"""


def database_url_for(server_url: str, name: str) -> str:
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def connect(url: str) -> psycopg.Connection[dict[str, Any]]:
    """A test's own connection; through a transaction pooler too (no prepared statements there)."""
    from common.db import is_transaction_pooler, libpq_url

    return psycopg.connect(libpq_url(url), autocommit=True, row_factory=dict_row,
                           prepare_threshold=None if is_transaction_pooler(url) else 5)


def insert_job(url: str, job_type: str = "PING", payload: str = "{}") -> str:
    """Enqueue with the seed's SQL contract, as any client may."""
    with connect(url) as conn:
        row = conn.execute(SEED_INSERT, (WORKSPACE, job_type, payload)).fetchone()
    assert row is not None
    return str(row["id"])


def job(url: str, job_id: str) -> dict[str, Any]:
    with connect(url) as conn:
        row = conn.execute("SELECT * FROM jobs WHERE id = %s", (job_id,)).fetchone()
    assert row is not None, f"job {job_id} does not exist"
    return row


def status_counts(url: str) -> dict[str, int]:
    with connect(url) as conn:
        rows = conn.execute("SELECT status, count(*) AS n FROM jobs GROUP BY status").fetchall()
    return {r["status"]: r["n"] for r in rows}


def handler_calls(url: str, job_id: str | None = None) -> list[dict[str, Any]]:
    with connect(url) as conn:
        if job_id is None:
            return conn.execute("SELECT * FROM handler_calls ORDER BY called_at").fetchall()
        return conn.execute("SELECT * FROM handler_calls WHERE job_id = %s ORDER BY called_at", (job_id,)).fetchall()


def wait_status(url: str, job_id: str, *statuses: str, timeout: float = 20) -> dict[str, Any]:
    from tests.support.processes import wait_for

    return wait_for(lambda: (row := job(url, job_id))["status"] in statuses and row,
                    timeout=timeout, message=f"job {job_id} to reach {'/'.join(statuses)}")
