"""The datasets page's and the history page's queries at scale, and the compare's diff on long bodies.

On a scratch embedded PostgreSQL (fsync off): one workspace with ``--datasets`` uploads, ``--runs`` runs
(each naming one dataset, round robin), one template with ``--versions`` versions (each run on one of them),
a sample and a schedule per 10 datasets. Measured (median of ``--repeats`` after a warm-up): the queries of
``GET /api/datasets`` (``dataset_list`` then ``dataset_usage`` for the listed ids) and of the history page
(``template_versions_list``), and ``common.template_diff.side_by_side`` on two bodies of ``--lines`` lines
that differ in every 50th line. Before ``run_datasets``, ``dataset_usage`` unpacked every run's parameters
(1.6 s at 100,000 runs on the shared 2-core helper machine, 2026-12-02); now it counts index ranges.

    .venv/bin/python -m bench.history_and_datasets [--runs 100000] [--datasets 200] [--versions 200]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from common.embedded_pg import FAST_UNSAFE_SETTINGS, EmbeddedPostgres
from common.sql import query, sql_dir
from common.template_diff import side_by_side

RESULTS = Path(__file__).resolve().parent / "results"
WS = "c8e2bd7a-abe8-4ae2-9d77-720fabab07e4"
TEMPLATE = "00000000-0000-4000-8000-000000000001"

GENERATE = [
    f"INSERT INTO workspaces (id, name) VALUES ('{WS}', 'bench')",
    f"INSERT INTO templates (id, workspace_id, name, current_version) VALUES ('{TEMPLATE}', '{WS}', 'bench', "
    "%(versions)s)",
    f"""INSERT INTO template_versions (template_id, version, body, parameters)
        SELECT '{TEMPLATE}', v, '# version ' || v, '[{{"name": "data", "type": "dataset"}}]'
        FROM generate_series(1, %(versions)s) v""",
    f"""INSERT INTO datasets (workspace_id, filename, content, size_bytes, columns, row_count,
                              created_at)
        SELECT '{WS}', 'file-' || i || '.csv', convert_to('a,b' || chr(10) || '1,2' || chr(10), 'UTF8'), 8,
               '{{a,b}}', 1, now() - make_interval(secs => i)
        FROM generate_series(1, %(datasets)s) i""",
    f"""INSERT INTO runs (workspace_id, template_id, template_version, parameters, status, created_at)
        SELECT '{WS}', '{TEMPLATE}', 1 + mod(i, %(versions)s),
               jsonb_build_object('data', d.ids[1 + mod(i, %(datasets)s)], 'title', 'run ' || i),
               'COMPLETED', now() - make_interval(secs => i)
        FROM generate_series(1, %(runs)s) i,
             (SELECT array_agg(id::text ORDER BY id) AS ids FROM datasets) d""",
    """INSERT INTO run_datasets (run_id, dataset_id, workspace_id, created_at)
        SELECT r.id, (r.parameters->>'data')::uuid, r.workspace_id, r.created_at FROM runs r""",
    f"""UPDATE templates SET sample_datasets = jsonb_build_object('data', (SELECT min(id::text) FROM datasets))
        WHERE id = '{TEMPLATE}'""",
    f"""INSERT INTO schedules (workspace_id, template_id, parameters, cron, timezone, webhook_secret, next_fire_at)
        SELECT '{WS}', '{TEMPLATE}', jsonb_build_object('data', id::text), '@daily', 'UTC', 's', now()
        FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM datasets) d WHERE mod(n, 10) = 0""",
    "VACUUM ANALYZE",
]


def median_ms(action: Callable[[], object], repeats: int) -> float:
    action()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 2)


def measure(conn: psycopg.Connection[dict[str, Any]], args: argparse.Namespace) -> dict[str, float]:
    def datasets_api() -> None:
        rows = conn.execute(query("dataset_list"), {"workspace_id": WS, "limit": 500}).fetchall()
        ids = sorted(str(r["id"]) for r in rows)
        uses = conn.execute(query("dataset_usage"), {"workspace_id": WS, "ids": ids}).fetchall()
        assert len(uses) >= len(ids)

    def history() -> None:
        rows = conn.execute(query("template_versions_list"), {"id": TEMPLATE, "workspace_id": WS}).fetchall()
        assert len(rows) == args.versions

    old = "\n".join(f"line {i}: {{{{ data | count }}}} rows" for i in range(args.lines))
    new = "\n".join(f"line {i}: {{{{ data | count }}}} rows" + (" changed" if i % 50 == 0 else "")
                    for i in range(args.lines))
    return {"GET /api/datasets queries (list + usage)": median_ms(datasets_api, args.repeats),
            "history page query (template_versions_list)": median_ms(history, args.repeats),
            f"diff of two {args.lines}-line bodies": median_ms(lambda: side_by_side(old, new), args.repeats)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--datasets", type=int, default=200)
    parser.add_argument("--versions", type=int, default=200)
    parser.add_argument("--lines", type=int, default=2_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="rg-bench-history-"))
    server = EmbeddedPostgres(data_dir, settings={**FAST_UNSAFE_SETTINGS, "autovacuum": "off"})
    url = server.start()
    try:
        with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
            conn.execute((sql_dir() / "schema.sql").read_text())
            started = time.perf_counter()
            for statement in GENERATE:
                conn.execute(statement, vars(args) if "%(" in statement else None)
            print(f"generated {args.runs:,} runs in {time.perf_counter() - started:.1f} s", flush=True)
            result = measure(conn, args)
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    for name, ms in result.items():
        print(f"{name}: {ms} ms (median of {args.repeats})")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"history-and-datasets-{stamp}.json").write_text(json.dumps(
        {"runs": args.runs, "datasets": args.datasets, "versions": args.versions, "lines": args.lines,
         "median_ms": result}, indent=2) + "\n")


if __name__ == "__main__":
    main()
