"""Liveness and readiness, the same on both services.

``/healthz`` answers while the process runs (Cloud Run restarts it otherwise); ``/readyz`` also needs the
database reachable and the schema current, and says which is missing.
"""

from __future__ import annotations

import hmac
from typing import Any

from psycopg_pool import AsyncConnectionPool
from starlette.responses import JSONResponse

from common import db
from common.errors import DatabaseUnavailable
from common.migrate import expected_versions


async def readiness(pool: AsyncConnectionPool) -> tuple[bool, dict[str, Any]]:
    try:
        async with db.translate_errors_async(), pool.connection(timeout=2.0) as conn:
            rows = await (await conn.execute("SELECT version FROM schema_migrations")).fetchall()
    except (DatabaseUnavailable, TimeoutError, *db.TRANSIENT_ERRORS) as exc:
        return False, {"status": "unavailable", "database": "unreachable", "detail": str(exc)[:200]}
    except Exception as exc:  # e.g. schema_migrations missing: reachable but not migrated
        return False, {"status": "unavailable", "database": "ok", "schema": "missing",
                       "detail": type(exc).__name__}
    have = {r["version"] for r in rows}  # type: ignore[call-overload]
    missing = sorted(expected_versions() - have)
    if missing:
        return False, {"status": "unavailable", "database": "ok", "schema": "outdated", "missing": missing}
    return True, {"status": "ok", "database": "ok", "schema": "current"}


def metrics_token_ok(authorization: str, expected: str | None) -> bool:
    """Whether a ``/metrics`` request may be answered: always without ``METRICS_TOKEN``, else only for
    ``Authorization: Bearer <that token>`` (compared in constant time). Both services' /metrics use it."""
    if expected is None:
        return True
    scheme, _, value = authorization.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), expected.encode())


def metrics_refused() -> JSONResponse:
    """The worker's answer to a /metrics request without the token (the web's comes from web/auth.py)."""
    return JSONResponse({"error": {"code": "unauthenticated",
                                   "message": "/metrics needs the bearer token METRICS_TOKEN"}},
                        status_code=401, headers={"WWW-Authenticate": 'Bearer realm="report-generator"'})
