"""The bench's own PostgreSQL: the embedded server with durable settings, one database per system."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from common.embedded_pg import EmbeddedPostgres

# Durable like production (fsync on), commit timestamps on for the one-clock pickup latency.
BENCH_SETTINGS = {
    "fsync": "on",
    "synchronous_commit": "on",
    "full_page_writes": "on",
    "track_commit_timestamp": "on",
    "shared_buffers": "256MB",
    "max_wal_size": "4GB",
    "checkpoint_timeout": "30min",
}


class BenchServer:
    """Starts the embedded server under ``data_dir`` and hands out per-database URLs."""

    def __init__(self, data_dir: Path) -> None:
        self.pg = EmbeddedPostgres(data_dir=data_dir, settings=dict(BENCH_SETTINGS))
        self.admin_url = ""

    def start(self) -> str:
        self.admin_url = self.pg.start(timeout=60)
        return self.admin_url

    def stop(self) -> None:
        self.pg.stop()

    def url(self, database: str) -> str:
        base, _, _ = self.admin_url.rpartition("/")
        return f"{base}/{database}"

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def facts(self) -> dict[str, Any]:
        """Server version and the settings that matter to queue benchmarks, as the server reports them."""
        names = ["server_version", "fsync", "synchronous_commit", "full_page_writes", "track_commit_timestamp",
                 "shared_buffers", "max_connections", "wal_level", "max_wal_size", "work_mem"]
        with psycopg.connect(self.admin_url) as conn:
            rows = conn.execute("SELECT name, setting, unit FROM pg_settings WHERE name = ANY(%s)",
                                [names]).fetchall()
        return {name: f"{setting}{' ' + unit if unit else ''}" for name, setting, unit in rows}
