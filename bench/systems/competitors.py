"""procrastinate, pgqueuer and graphile-worker, run from the bench's own venv and node folder.

Jobs are enqueued with the SQL each library itself sends (procrastinate's ``procrastinate_defer_jobs_v1``,
graphile-worker's ``add_job``/``add_jobs``, and for pgqueuer the insert into its queue and log tables that
its ``enqueue`` performs), so every system is fed by the same client, the bench's psycopg connection.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from bench import setup_env
from bench.systems.base import System, WorkerSpec

COMPETITORS = setup_env.COMPETITORS_DIR


def _venv_version(package: str) -> str:
    out = subprocess.run([str(setup_env.venv_python()), "-c",
                          f"import importlib.metadata as m; print(m.version({package!r}))"],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


class Procrastinate(System):
    name = "procrastinate"
    database = "bench_procrastinate"
    default_concurrency = 1
    tuned_concurrency = 16
    concurrency_note = "run_worker(concurrency=…)"

    def _argv(self, url: str) -> list[str]:
        return [str(setup_env.venv_python()), str(COMPETITORS / "procrastinate_worker.py"), "--dsn", url]

    def setup(self, url: str) -> None:
        subprocess.run([*self._argv(url), "--setup"], check=True)

    def reset_sql(self) -> str:
        return "TRUNCATE procrastinate_jobs CASCADE"

    def worker(self, url: str, concurrency: int, port: int) -> WorkerSpec:
        return WorkerSpec([*self._argv(url), "--concurrency", str(concurrency)])

    def _job(self, args: str) -> str:
        return f"ROW('default', 'noop', 0, NULL, NULL, '{args}'::jsonb, NULL)::procrastinate_job_to_defer_v1"

    def enqueue_one_sql(self, record: bool) -> str:
        args = '{"r": 1}' if record else "{}"
        return (f"SELECT j::text, txid_current() FROM unnest(procrastinate_defer_jobs_v1(ARRAY[{self._job(args)}])) j")

    def enqueue_batch_sql(self) -> str:
        return (f"SELECT count(*) FROM unnest(procrastinate_defer_jobs_v1(ARRAY("
                f"SELECT {self._job('{}')} FROM generate_series(1, %(n)s))))")

    def unfinished_sql(self) -> str:
        return "SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing')"

    def versions(self) -> dict[str, str]:
        return {"procrastinate": _venv_version("procrastinate")}


class PgQueuer(System):
    name = "pgqueuer"
    database = "bench_pgqueuer"
    default_concurrency = 10
    tuned_concurrency = 50
    concurrency_note = "run(batch_size=…); in-flight tasks unlimited by default"

    def setup(self, url: str) -> None:
        pgq = setup_env.VENV_DIR / "bin" / "pgq"
        subprocess.run([str(pgq), "--pg-dsn", url, "install"], check=True, stdout=subprocess.DEVNULL)

    def reset_sql(self) -> str:
        return "TRUNCATE pgqueuer, pgqueuer_log"

    def worker(self, url: str, concurrency: int, port: int) -> WorkerSpec:
        return WorkerSpec([str(setup_env.venv_python()), str(COMPETITORS / "pgqueuer_worker.py"),
                           "--dsn", url, "--batch-size", str(concurrency)])

    def _insert(self, source: str) -> str:
        return (f"WITH j AS (INSERT INTO pgqueuer (priority, entrypoint, payload, execute_after, status) "
                f"{source} RETURNING id, entrypoint, priority), "
                "l AS (INSERT INTO pgqueuer_log (job_id, status, entrypoint, priority) "
                "SELECT id, 'queued', entrypoint, priority FROM j) ")

    def enqueue_one_sql(self, record: bool) -> str:
        payload = "'r'::bytea" if record else "NULL"
        return self._insert(f"VALUES (0, 'noop', {payload}, now(), 'queued')") + \
            "SELECT id::text, txid_current() FROM j"

    def enqueue_batch_sql(self) -> str:
        return self._insert("SELECT 0, 'noop', NULL, now(), 'queued' FROM generate_series(1, %(n)s)") + \
            "SELECT count(*) FROM j"

    def unfinished_sql(self) -> str:
        return "SELECT count(*) FROM pgqueuer"

    def versions(self) -> dict[str, str]:
        return {"pgqueuer": _venv_version("pgqueuer"), "asyncpg": _venv_version("asyncpg")}


class GraphileWorker(System):
    name = "graphile-worker"
    database = "bench_graphile"
    default_concurrency = 1
    tuned_concurrency = 16
    concurrency_note = "concurrency=…; tuned also uses localQueue size 50"

    def _argv(self, url: str) -> list[str]:
        return ["node", str(COMPETITORS / "graphile_worker.mjs"), url]

    def _env(self) -> dict[str, str]:
        return {"BENCH_NODE_DIR": str(setup_env.NODE_DIR)}

    def setup(self, url: str) -> None:
        subprocess.run([*self._argv(url), "--setup"], check=True, env={**_environ(), **self._env()})

    def reset_sql(self) -> str:
        return "TRUNCATE graphile_worker._private_jobs, graphile_worker._private_job_queues CASCADE"

    def worker(self, url: str, concurrency: int, port: int) -> WorkerSpec:
        local_queue = "50" if concurrency > self.default_concurrency else "0"
        return WorkerSpec([*self._argv(url), str(concurrency), local_queue], env=self._env())

    def enqueue_one_sql(self, record: bool) -> str:
        payload = '{"r": 1}' if record else "{}"
        return f"SELECT (graphile_worker.add_job('noop', '{payload}'::json)).id::text, txid_current()"

    def enqueue_batch_sql(self) -> str:
        return ("SELECT count(*) FROM graphile_worker.add_jobs(ARRAY("
                "SELECT ROW('noop', '{}'::json, NULL, NULL, NULL, NULL, NULL, NULL)::graphile_worker.job_spec "
                "FROM generate_series(1, %(n)s)))")

    def unfinished_sql(self) -> str:
        return "SELECT count(*) FROM graphile_worker._private_jobs"

    def versions(self) -> dict[str, str]:
        package = json.loads((Path(setup_env.NODE_DIR) / "node_modules/graphile-worker/package.json").read_text())
        node = subprocess.run(["node", "--version"], capture_output=True, text=True, check=True).stdout.strip()
        return {"graphile-worker": package["version"], "node": node}


def _environ() -> dict[str, str]:
    return dict(os.environ)


def all_competitors() -> list[System]:
    return [Procrastinate(), PgQueuer(), GraphileWorker()]
