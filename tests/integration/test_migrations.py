"""Migrations: idempotent, recorded, safe when two processes start at once."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import psycopg

from common.db import libpq_url
from common.migrate import MIGRATION_LOCK_ID, expected_versions, migrate
from tests.support.databases import WORKSPACE, connect
from tests.support.pgbouncer import PgBouncer
from tests.support.processes import ROOT, wait_for

CATALOG = {
    "columns": """SELECT table_name, column_name, data_type, is_nullable, column_default
                  FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1, 2""",
    "indexes": "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1",
    "constraints": """SELECT conrelid::regclass::text AS tbl, conname, pg_get_constraintdef(oid) AS def
                      FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2""",
    "triggers": """SELECT tgrelid::regclass::text AS tbl, tgname, pg_get_triggerdef(oid) AS def FROM pg_trigger
                   WHERE NOT tgisinternal ORDER BY 1, 2""",
    "functions": """SELECT proname, md5(prosrc) AS src FROM pg_proc
                    WHERE pronamespace = 'public'::regnamespace ORDER BY 1""",
}


def schema_of(url: str) -> dict[str, list[dict]]:
    with connect(url) as conn:
        return {name: conn.execute(sql).fetchall() for name, sql in CATALOG.items()}


def test_a_fresh_database_gets_every_migration_recorded_and_the_default_workspace(empty_database_url):
    applied = migrate(empty_database_url, WORKSPACE)
    assert set(applied) == expected_versions()
    with connect(empty_database_url) as conn:
        recorded = {r["version"] for r in conn.execute("SELECT version FROM schema_migrations")}
        workspace = conn.execute("SELECT id FROM workspaces WHERE id = %s", (WORKSPACE,)).fetchone()
    assert recorded == expected_versions()
    assert workspace is not None


def test_migrating_twice_changes_nothing(empty_database_url):
    migrate(empty_database_url, WORKSPACE)
    before = schema_of(empty_database_url)
    assert migrate(empty_database_url, WORKSPACE) == []
    assert schema_of(empty_database_url) == before


def test_two_processes_migrating_at_the_same_moment_leave_one_correct_schema(empty_database_url, database_url):
    command = [sys.executable, "-m", "common.migrate"]
    env = {"DATABASE_URL": empty_database_url, "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: run(), range(2)))
    assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
    # Exactly one of them applied the schema; the other waited on the advisory lock and found it done.
    assert sorted(r.stdout.split("(")[1].split()[0] for r in results) == ["0", str(len(expected_versions()))]
    # The same schema as the template every other test uses.
    assert schema_of(empty_database_url) == _without_test_tables(schema_of(database_url))


def _without_test_tables(schema: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """The per-test fixture adds a handler_calls table; leave it out of the comparison."""
    return {name: [row for row in rows if "handler_calls" not in str(row)] for name, rows in schema.items()}


def test_edited_baseline_files_are_applied_again(empty_database_url, monkeypatch, tmp_path):
    migrate(empty_database_url, WORKSPACE)
    sql_dir = tmp_path / "sql"
    (sql_dir / "queries").mkdir(parents=True)
    for name in ("schema.sql", "triggers.sql"):
        (sql_dir / name).write_text((ROOT / "sql" / name).read_text())
    (sql_dir / "triggers.sql").write_text((sql_dir / "triggers.sql").read_text() + "\n-- a later edit\n")
    (sql_dir / "schema.sql").write_text((sql_dir / "schema.sql").read_text()
                                        + "\nCREATE TABLE IF NOT EXISTS added_later (id int);\n")
    monkeypatch.setenv("REPORTGEN_SQL_DIR", str(sql_dir))
    assert migrate(empty_database_url, WORKSPACE) == ["0000_schema", "0000_triggers"]
    with connect(empty_database_url) as conn:
        assert conn.execute("SELECT to_regclass('added_later') AS t").fetchone()["t"] is not None


def _advisory_locks(url: str) -> list[dict]:
    with connect(url) as conn:
        return conn.execute("SELECT granted FROM pg_locks WHERE locktype = 'advisory'").fetchall()


def test_migrations_through_a_transaction_pooler_serialise(empty_database_url, database_url, pgbouncer: PgBouncer):
    """Through PgBouncer in transaction mode a session advisory lock is taken on whichever server
    connection the statement lands on and never released on it; the migration's lock is the
    transaction-level kind, held by the one migration transaction, which the pooler keeps on one server
    connection from BEGIN to COMMIT."""
    pooled = pgbouncer.url_for(empty_database_url)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: migrate(pooled, WORKSPACE), range(4)))
    assert sorted(len(applied) for applied in results) == [0, 0, 0, len(expected_versions())]
    assert schema_of(empty_database_url) == _without_test_tables(schema_of(database_url))
    assert _advisory_locks(empty_database_url) == [], "no lock is left behind on a pooled server connection"


def test_a_migration_through_a_transaction_pooler_waits_for_the_lock_holder(empty_database_url,
                                                                            pgbouncer: PgBouncer):
    pooled = pgbouncer.url_for(empty_database_url)
    with psycopg.connect(libpq_url(pooled), prepare_threshold=None) as holder, ThreadPoolExecutor(1) as pool:
        holder.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_ID,))  # in an open transaction
        waiting = pool.submit(migrate, pooled, WORKSPACE)
        wait_for(lambda: any(not r["granted"] for r in _advisory_locks(empty_database_url)), timeout=15,
                 message="the migration to wait on the lock held through the pooler")
        assert not waiting.done()
        holder.rollback()
        assert set(waiting.result(timeout=60)) == expected_versions()
    assert _advisory_locks(empty_database_url) == []
