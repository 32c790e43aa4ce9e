"""run_datasets: written with every run that names a dataset, and backfilled for runs made before it."""

from __future__ import annotations

import asyncio

from psycopg.types.json import Jsonb

from common import db, report_datasets, runs
from common.sql import sql_dir
from tests.support.databases import WORKSPACE, connect
from tests.support.schedules import make_template

PARAMS = [{"name": "sales", "type": "dataset", "required": True}, {"name": "title", "type": "text"}]


def test_a_run_records_its_datasets_and_the_backfill_finds_older_runs(database_url: str) -> None:
    template = make_template(database_url, body="{{ sales | count }}", parameters=PARAMS)

    async def go() -> tuple[str, str]:
        async with await db.connect_async(database_url) as conn:
            row = await report_datasets.insert(conn, WORKSPACE, "a.csv", b"x,y\n1,2\n", quotas=None)
            made = await runs.create(conn, WORKSPACE, template, {"sales": str(row["id"]), "title": "t"},
                                     quotas=None)
            return str(row["id"]), str(made["id"])

    dataset, run = asyncio.run(go())
    with connect(database_url) as conn:
        linked = conn.execute("SELECT run_id::text AS run, dataset_id::text AS ds FROM run_datasets").fetchall()
        assert linked == [{"run": run, "ds": dataset}]
        # A run made before run_datasets existed: only its parameters name the dataset.
        old = conn.execute("INSERT INTO runs (workspace_id, template_id, template_version, parameters) "
                           "VALUES (%s, %s, 1, %s) RETURNING id::text AS id",
                           (WORKSPACE, template, Jsonb({"sales": dataset, "title": "not-a-dataset"}))).fetchone()
        assert old is not None
        backfill = (sql_dir() / "migrations" / "0001_run_datasets_backfill.sql").read_text()
        conn.execute(backfill)
        conn.execute(backfill)  # idempotent
        rows = conn.execute("SELECT run_id::text AS run FROM run_datasets WHERE dataset_id = %s ORDER BY 1",
                            (dataset,)).fetchall()
        assert sorted(r["run"] for r in rows) == sorted([run, old["id"]])
        assert conn.execute("SELECT count(*) AS n FROM run_datasets").fetchone()["n"] == 2
