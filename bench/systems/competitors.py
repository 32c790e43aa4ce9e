"""procrastinate, pgqueuer, graphile-worker and oban-py, run from the bench's own venvs and node folder.

Jobs are enqueued with the SQL each library itself sends (procrastinate's ``procrastinate_defer_jobs_v1``,
graphile-worker's ``add_job``/``add_jobs``, for pgqueuer the insert into its queue and log tables that
its ``enqueue`` performs, for oban-py its ``insert_job.sql`` with the NOTIFY in the statement), so every
system is fed by the same client, the bench's psycopg connection.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import psycopg

from bench import setup_env
from bench.systems.base import System, WorkerSpec

COMPETITORS = setup_env.COMPETITORS_DIR


def _venv_version(package: str, python: Path | None = None) -> str:
    out = subprocess.run([str(python or setup_env.venv_python()), "-c",
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


class ObanPy(System):
    """oban-py (PyPI ``oban``) at its CLI's defaults: ``oban start --queues default:<limit>``, uvloop, a pool of 10.

    Its insert is oban's own ``insert_job.sql`` with the ``public`` prefix applied, literals in place of
    its parameters and the values its ``Job`` defaults to (max_attempts 20, priority 0, meta {}, tags []);
    the statement itself sends ``pg_notify('public.oban_insert', …)``, which wakes the stager that
    tells the queue's producer to fetch. Its open-source insert of many jobs is that statement once per
    job in one transaction (bulk inserts are an Oban Pro feature), which is what the batch phase runs.
    """

    name = "oban-py"
    database = "bench_oban"
    default_concurrency = 10
    tuned_concurrency = 100
    concurrency_note = "queue limit (--queues default:N); connection pool max 10 as its CLI defaults"
    WORKER = "oban_noop.Noop"

    def _bin(self, tool: str) -> str:
        return str(setup_env.OBAN_VENV_DIR / "bin" / tool)

    def setup(self, url: str) -> None:
        subprocess.run([self._bin("oban"), "install", "--dsn", url], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def reset_sql(self) -> str:
        return "TRUNCATE oban_jobs"

    def worker(self, url: str, concurrency: int, port: int) -> WorkerSpec:
        # Warnings only: its telemetry logger writes a line per job at INFO, which users running at
        # volume turn off (as graphile-worker's per-job lines are).
        return WorkerSpec([self._bin("oban"), "start", "--dsn", url, "--queues", f"default:{concurrency}",
                           "--log-level", "WARNING"],
                          env={"PYTHONPATH": str(COMPETITORS)}, cwd=COMPETITORS)

    def _insert(self, args: str, rows: str = "") -> str:
        values = (f"'{args}'::jsonb, timezone('UTC', now()), 20, '{{}}'::jsonb, 0, 'default', "
                  f"timezone('UTC', now()), 'available'::public.oban_job_state, ARRAY[]::text[], '{self.WORKER}'")
        source = f"SELECT {values} FROM generate_series(1, {rows})" if rows else f"VALUES ({values})"
        return ("WITH inserted AS (INSERT INTO public.oban_jobs (args, inserted_at, max_attempts, meta, "
                f"priority, queue, scheduled_at, state, tags, worker) {source} "
                "RETURNING id, inserted_at, queue, scheduled_at, state) ")

    def _notify(self) -> str:
        return ("CASE WHEN state = 'available' "
                """THEN pg_notify('public.oban_insert', '{"queue":"' || queue || '"}') END""")

    def enqueue_one_sql(self, record: bool) -> str:
        args = '{"r": 1}' if record else "{}"
        return self._insert(args) + f"SELECT id::text, txid_current(), {self._notify()} FROM inserted"

    def enqueue_batch_sql(self) -> str:
        # Filling the queue for a drain or a warm-up: one set-based statement, one NOTIFY per job as oban's
        # per-job statement sends (PostgreSQL folds equal payloads of one transaction into one).
        return self._insert("{}", "%(n)s") + f"SELECT count({self._notify()}) FROM inserted"

    def enqueue_batch(self, conn: psycopg.Connection, n: int) -> None:
        sql = self.enqueue_one_sql(record=False)
        with conn.transaction():
            for _ in range(n):
                conn.execute(sql)  # type: ignore[arg-type]

    def unfinished_sql(self) -> str:
        return "SELECT count(*) FROM oban_jobs WHERE state IN ('available', 'scheduled', 'executing', 'retryable')"

    def check_sql(self) -> str:
        return "SELECT count(*) FROM oban_jobs WHERE attempt <> 1 OR state <> 'completed'"

    def versions(self) -> dict[str, str]:
        python = setup_env.oban_python()
        interpreter = subprocess.run([str(python), "-c", "import platform; print(platform.python_version())"],
                                     capture_output=True, text=True, check=True).stdout.strip()
        return {"oban": _venv_version("oban", python), "oban-py's python": interpreter}


def _environ() -> dict[str, str]:
    return dict(os.environ)


def all_competitors() -> list[System]:
    """The peers installed by bench.setup_env; oban-py only where its venv could be made (Python >= 3.12)."""
    systems: list[System] = [Procrastinate(), PgQueuer(), GraphileWorker()]
    if setup_env.oban_python().exists():
        systems.append(ObanPy())
    return systems
