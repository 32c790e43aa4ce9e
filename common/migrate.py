"""Schema migrations: idempotent, recorded, and serialised by an advisory lock.

``sql/schema.sql`` and ``sql/triggers.sql`` build a fresh database; ``sql/migrations/NNNN_name.sql``
upgrade an existing one (a test builds one database each way and compares them). Every file is recorded
in ``schema_migrations`` with its checksum. A web and a worker starting at the same moment both call
``migrate()``: the advisory lock makes the second wait, then find nothing left to do.

The lock is transaction-level (``pg_advisory_xact_lock``) and every migration runs inside that one
transaction, so it holds through a transaction-mode pooler (PgBouncer, Supabase's port 6543) too: the
pooler keeps a transaction on one server connection from BEGIN to COMMIT. A session lock there would be
taken on whichever server connection the statement landed on and never released on it
(``tests/integration/test_migrations.py`` runs concurrent migrations through a real PgBouncer).

Run it with ``python -m common.migrate`` or ``reportgen migrate``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import psycopg

from common import backoff, db
from common.config import Settings
from common.errors import ConfigError, DatabaseUnavailable, ReportGenError
from common.sql import query, sql_dir

log = logging.getLogger(__name__)

# An arbitrary constant naming "the schema migration" among advisory locks.
MIGRATION_LOCK_ID = 7_262_032_017


@dataclass(frozen=True)
class Migration:
    version: str
    path: Path
    reapply_on_change: bool = False

    @property
    def sql(self) -> str:
        return self.path.read_text()

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def baseline() -> list[Migration]:
    # Both files are idempotent throughout (IF NOT EXISTS, OR REPLACE), so an edited file is applied
    # again: new tables, indexes, functions and triggers reach existing databases. A change that needs
    # more (a column added to an existing table, a data fix) goes in sql/migrations/NNNN_name.sql.
    return [Migration("0000_schema", sql_dir() / "schema.sql", reapply_on_change=True),
            Migration("0000_triggers", sql_dir() / "triggers.sql", reapply_on_change=True)]


def upgrades() -> list[Migration]:
    return [Migration(p.stem, p) for p in sorted((sql_dir() / "migrations").glob("[0-9][0-9][0-9][0-9]_*.sql"))]


def expected_versions() -> set[str]:
    return {m.version for m in baseline() + upgrades()}


def migrate(url: str, default_workspace_id: str | None = None) -> list[str]:
    """Bring the database at ``url`` to the current schema; returns the versions applied now."""
    with db.connect(url, autocommit=False, application_name="report-generator-migrate") as conn, \
            db.translate_errors():
        # Transaction-level: released by the COMMIT below, on the server connection that took it.
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_ID,))
        conn.execute("""CREATE TABLE IF NOT EXISTS schema_migrations (
                            version text PRIMARY KEY, checksum text NOT NULL,
                            applied_at timestamptz NOT NULL DEFAULT now())""")
        rows = conn.execute("SELECT version, checksum FROM schema_migrations").fetchall()
        done = {r["version"]: r["checksum"] for r in rows}  # type: ignore[call-overload]
        fresh = "0000_schema" not in done
        applied: list[str] = []
        for migration in baseline() + upgrades():
            recorded = done.get(migration.version)
            if recorded == migration.checksum:
                continue
            if recorded is not None and not migration.reapply_on_change:
                log.warning("migration %s changed after it was applied; not applying it again", migration.version)
                continue
            if fresh and migration in upgrades():
                pass  # a fresh database gets the baseline, which already includes every upgrade
            else:
                conn.execute(migration.sql)  # type: ignore[call-overload]
            conn.execute("""INSERT INTO schema_migrations (version, checksum) VALUES (%s, %s)
                            ON CONFLICT (version) DO UPDATE SET checksum = excluded.checksum, applied_at = now()""",
                         (migration.version, migration.checksum))
            applied.append(migration.version)
        if default_workspace_id:
            conn.execute(query("workspace_ensure"), {"id": default_workspace_id, "name": "Default workspace"})
        conn.commit()
    for version in applied:
        log.info("applied migration %s", version)
    return applied


def schema_is_current(conn: psycopg.Connection) -> bool:
    try:
        rows = conn.execute("SELECT version FROM schema_migrations").fetchall()
    except psycopg.errors.UndefinedTable:
        return False
    return expected_versions() <= {r["version"] if isinstance(r, dict) else r[0] for r in rows}


async def migrate_when_reachable(url: str, workspace_id: str, stop: asyncio.Event) -> bool:
    """Apply migrations, waiting (with capped backoff) for a database that is not up yet.

    Returns False when asked to stop before the database answered.
    """
    failures = 0
    while not stop.is_set():
        try:
            await asyncio.to_thread(migrate, url, workspace_id)
            return True
        except DatabaseUnavailable as exc:
            failures += 1
            delay = backoff.reconnect_delay(failures, first=0.2, cap=5.0)
            log.warning("database not reachable yet (%s); retrying in %.1f s", exc, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
    return False


def main(argv: list[str] | None = None) -> int:
    """The one migrate entry point: ``python -m common.migrate`` and ``reportgen migrate``."""
    from common.logs import configure_logging
    from common.runtime import resolve_database_url

    try:
        settings = Settings.from_env()
        configure_logging(settings)
        url = resolve_database_url(settings)
        applied = migrate(url, settings.default_workspace_id)
    except ReportGenError as exc:
        print(f"reportgen migrate: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ConfigError) else 1
    print(f"schema current ({len(applied)} migration(s) applied)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
