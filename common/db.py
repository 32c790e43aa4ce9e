"""Database access: connection settings, pools, and translation of driver errors.

psycopg errors stop here: operational failures (server gone, connection broken, too many clients)
become ``DatabaseUnavailable`` so that callers in ``web/`` and ``worker/`` handle one error type.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

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

# Port of Supabase's transaction-mode pooler (Supavisor); a URL on it is treated as transaction mode
# unless it says ``pool_mode=session``.
TRANSACTION_POOLER_PORT = 6543
POOL_MODES = ("transaction", "session")

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


def pool_mode(url: str) -> str | None:
    """``transaction``, ``session`` or None (a direct connection, as far as the URL says).

    The mode comes from the URL's ``pool_mode`` query parameter (which ``resolve_database_url`` adds
    from ``DATABASE_POOL_MODE``, and ``libpq_url`` strips again: libpq refuses unknown parameters),
    else from the port: 6543 is Supabase's transaction pooler.
    """
    parts = urlsplit(url)
    mode = dict(parse_qsl(parts.query)).get("pool_mode", "").strip().lower()
    if mode in POOL_MODES:
        return mode
    try:
        port = parts.port
    except ValueError:
        return None
    return "transaction" if port == TRANSACTION_POOLER_PORT else None


def is_transaction_pooler(url: str) -> bool:
    """Behind a transaction-mode pooler LISTEN hears nothing, and a prepared statement made on one
    server connection is gone on the next transaction's (``prepared statement "_pg3_0" does not exist``)."""
    return pool_mode(url) == "transaction"


def with_pool_mode(url: str, mode: str | None) -> str:
    """``url`` with ``pool_mode=<mode>`` in its query (replacing one already there); None leaves it."""
    if mode is None:
        return url
    parts = urlsplit(url)
    query_items = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "pool_mode"]
    return urlunsplit(parts._replace(query=urlencode([*query_items, ("pool_mode", mode)])))


def libpq_url(url: str) -> str:
    """The URL without our ``pool_mode`` parameter, as libpq accepts it."""
    parts = urlsplit(url)
    items = parse_qsl(parts.query, keep_blank_values=True)
    if not any(k == "pool_mode" for k, _ in items):
        return url
    return urlunsplit(parts._replace(query=urlencode([(k, v) for k, v in items if k != "pool_mode"])))


def connection_kwargs(url: str, application_name: str) -> dict[str, Any]:
    """Connection options for ``url``: never prepare server-side statements through a transaction pooler
    (psycopg prepares a query after its 5th execution by default; ``prepare_threshold=None`` turns it off)."""
    kwargs: dict[str, Any] = {**CONNECT_KWARGS, "application_name": application_name}
    if is_transaction_pooler(url):
        kwargs["prepare_threshold"] = None
    return kwargs


def connect(url: str, *, autocommit: bool = True, application_name: str = "report-generator") -> psycopg.Connection:
    with translate_errors():
        return psycopg.connect(libpq_url(url), autocommit=autocommit,  # type: ignore[return-value]
                               row_factory=dict_row, **connection_kwargs(url, application_name))


async def connect_async(url: str, *, autocommit: bool = True,
                        application_name: str = "report-generator") -> psycopg.AsyncConnection:
    async with translate_errors_async():
        return await psycopg.AsyncConnection.connect(  # type: ignore[return-value]
            libpq_url(url), autocommit=autocommit, row_factory=dict_row,
            **connection_kwargs(url, application_name))


def make_pool(url: str, *, min_size: int, max_size: int, name: str, check: bool = True,
              wait_seconds: float = 5.0) -> AsyncConnectionPool:
    """An async pool that is opened by the caller (``await pool.open()``), never at construction.

    Broken connections are discarded by the pool when returned. With ``check`` a connection is tested
    before it is handed out, so that after a database restart a web request does not fail on a dead
    connection; the worker's hot path skips that round trip and retries instead.
    """
    return AsyncConnectionPool(
        libpq_url(url), min_size=min_size, max_size=max_size, open=False, name=name,
        kwargs={"autocommit": True, "row_factory": dict_row, **connection_kwargs(url, name)},
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
