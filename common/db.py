"""Database access: connection settings, pools, and translation of driver errors.

psycopg errors stop here: operational failures (server gone, connection broken, too many clients)
become ``DatabaseUnavailable`` so that callers in ``web/`` and ``worker/`` handle one error type.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from common.errors import DatabaseUnavailable, NotFound
from common.sql import query

# TCP keepalives so that a silently dropped connection (NAT, failover) is noticed within about a minute.
CONNECT_KWARGS: dict[str, Any] = {
    "connect_timeout": 5,
    "keepalives": 1,
    "keepalives_idle": 15,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "application_name": "report-generator",
}

RECONNECT_TIMEOUT_SECONDS = 2.0

# Errors that mean "the database is not there right now", as opposed to a bug in a query.
TRANSIENT_ERRORS = (psycopg.OperationalError, psycopg.errors.AdminShutdown, psycopg.errors.CannotConnectNow,
                    psycopg.InterfaceError)


@contextlib.contextmanager
def translate_errors() -> Iterator[None]:
    """Re-raise driver errors that mean "unreachable" as DatabaseUnavailable."""
    try:
        yield
    except TRANSIENT_ERRORS as exc:
        raise DatabaseUnavailable(_one_line(exc)) from exc


@contextlib.asynccontextmanager
async def translate_errors_async() -> AsyncIterator[None]:
    try:
        yield
    except TRANSIENT_ERRORS as exc:
        raise DatabaseUnavailable(_one_line(exc)) from exc


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def connect(url: str, *, autocommit: bool = True, application_name: str = "report-generator") -> psycopg.Connection:
    with translate_errors():
        return psycopg.connect(url, autocommit=autocommit, row_factory=dict_row,  # type: ignore[return-value]
                               **{**CONNECT_KWARGS, "application_name": application_name})


async def connect_async(url: str, *, autocommit: bool = True,
                        application_name: str = "report-generator") -> psycopg.AsyncConnection:
    async with translate_errors_async():
        return await psycopg.AsyncConnection.connect(  # type: ignore[return-value]
            url, autocommit=autocommit, row_factory=dict_row,
            **{**CONNECT_KWARGS, "application_name": application_name})


def make_pool(url: str, *, min_size: int, max_size: int, name: str, check: bool = True,
              wait_seconds: float = 5.0) -> AsyncConnectionPool:
    """An async pool that is opened by the caller (``await pool.open()``), never at construction.

    Broken connections are discarded by the pool when returned. With ``check`` a connection is tested
    before it is handed out, so that after a database restart a web request does not fail on a dead
    connection; the worker's hot path skips that round trip and retries instead.
    """
    return AsyncConnectionPool(
        url, min_size=min_size, max_size=max_size, open=False, name=name,
        kwargs={"autocommit": True, "row_factory": dict_row, **CONNECT_KWARGS, "application_name": name},
        check=AsyncConnectionPool.check_connection if check else None,
        # How long a caller waits for a connection. Short, because while the database is away a waiting
        # caller starts no new connection attempt; failing fast and retrying does.
        timeout=wait_seconds,
        # The pool's own reconnect backoff doubles without bound (1, 2, 4, 16 s...): after a 20 s outage
        # a worker waited 14 s more. Giving up after 2 s lets the next getconn() start a fresh attempt at
        # once, so our callers' capped retry (≤ 1 s) sets the pace of reconnection instead.
        reconnect_timeout=RECONNECT_TIMEOUT_SECONDS,
    )


async def fetch_in_workspace(conn: psycopg.AsyncConnection, query_name: str, row_id: str, workspace_id: str,
                             what: str) -> dict[str, Any]:
    """One row by id, scoped to the workspace: a named query taking %(id)s and %(workspace_id)s, or 404."""
    cur = await conn.execute(query(query_name), {"id": row_id, "workspace_id": workspace_id})
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"no {what} {row_id} in this workspace")
    return row  # type: ignore[return-value]
