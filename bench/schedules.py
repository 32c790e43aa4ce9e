"""Schedules: the scheduler's tick at N schedules, and fire time → delivered lag with three workers.

On a scratch embedded PostgreSQL (fsync off). Part 1: ``--schedules`` enabled schedules (none due, then
100 due), ``Scheduler.run_once`` timed ``--repeats`` times (median and p99). Part 2: three real worker
processes (``python -m worker``), a real SMTP server and webhook receiver on loopback, ``--fires``
schedules of each channel all due at the next minute boundary; the lag is ``delivered_at - fire_at`` of
each delivery (p50, p99). Short by design (about two minutes).

    .venv/bin/python -m bench.schedules [--schedules 10000] [--fires 10]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg.rows import dict_row

from common import db
from common.embedded_pg import FAST_UNSAFE_SETTINGS, EmbeddedPostgres
from common.migrate import migrate
from tests.support.receivers import Hook, smtp_server, webhook_receiver
from tests.support.schedules import make_schedule, make_template
from worker.scheduler import Scheduler

REPO = Path(__file__).resolve().parents[1]
WS = "c8e2bd7a-abe8-4ae2-9d77-720fabab07e4"
POPULATE = """
INSERT INTO schedules (workspace_id, template_id, cron, timezone, emails, webhook_secret, next_fire_at)
SELECT %(ws)s, %(template)s, '* * * * *', 'UTC', '{a@example.com}', 'whsec_x',
       now() + interval '1 hour' + make_interval(secs => i)
FROM generate_series(1, %(n)s) AS i
"""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def tick_times(url: str, repeats: int, now: dt.datetime) -> list[float]:
    pool = db.make_pool(url, min_size=1, max_size=2, name="bench-scheduler")
    await pool.open(wait=True)
    try:
        scheduler, out = Scheduler(pool), []
        await scheduler.run_once(now)
        for _ in range(repeats):
            started = time.perf_counter()
            await scheduler.run_once(now)
            out.append((time.perf_counter() - started) * 1000)
        return out
    finally:
        await pool.close()


def part_tick(url: str, n: int, repeats: int) -> None:
    template = make_template(url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(POPULATE, {"ws": WS, "template": template, "n": n})
        conn.execute("VACUUM ANALYZE schedules")
    idle = asyncio.run(tick_times(url, repeats, dt.datetime.now(dt.UTC)))
    print(f"tick, {n:,} schedules, none due: median {statistics.median(idle):.3f} ms, p99 {pct(idle, 0.99):.3f} ms")
    start = time.perf_counter()
    due_now = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1, seconds=100.5)  # the first 100 are due
    asyncio.run(tick_times(url, 0, due_now))
    elapsed = (time.perf_counter() - start) * 1000
    print(f"tick firing 100 due schedules (100 runs + jobs in one transaction, pool open included): {elapsed:.0f} ms")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DELETE FROM schedules")


def part_lag(url: str, fires: int) -> None:
    hook = Hook("whsec_bench")
    with smtp_server() as (smtp_url, _), webhook_receiver(hook) as hook_url:
        template = make_template(url, name="Bench")
        boundary = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)).replace(second=0, microsecond=0)
        for _ in range(fires):
            make_schedule(url, template, next_fire_at=boundary, emails=["a@example.com"], secret="whsec_bench")
            make_schedule(url, template, next_fire_at=boundary, emails=[], webhooks=[hook_url], secret="whsec_bench")
        env = {**os.environ, "DATABASE_URL": url, "SMTP_URL": smtp_url, "WEBHOOK_ALLOW_PRIVATE": "1",
               "POLL_INTERVAL_SECONDS": "1", "LOG_LEVEL": "WARNING", "PYTHONPATH": str(REPO)}
        workers = [subprocess.Popen([sys.executable, "-m", "worker"], cwd=REPO, env={**env, "PORT": str(18700 + i)},
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for i in range(3)]
        try:
            deadline = time.monotonic() + 180
            with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
                while time.monotonic() < deadline:
                    rows = conn.execute("SELECT channel, status, extract(epoch FROM delivered_at - fire_at)::float8 "
                                        "AS lag FROM deliveries").fetchall()
                    if len(rows) == 2 * fires and all(r["status"] != "PENDING" for r in rows):
                        break
                    time.sleep(0.5)
        finally:
            for w in workers:
                w.terminate()
            for w in workers:
                w.wait(20)
        for channel in ("email", "webhook"):
            lags = [r["lag"] for r in rows if r["channel"] == channel and r["lag"] is not None]
            if lags:
                print(f"fire → delivered, {channel}, 3 workers, {len(lags)} deliveries: p50 {pct(lags, 0.5):.2f} s, "
                      f"p99 {pct(lags, 0.99):.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schedules", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--fires", type=int, default=10)
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="rg-bench-schedules-"))
    server = EmbeddedPostgres(data_dir, settings=FAST_UNSAFE_SETTINGS)
    url = server.start()
    try:
        migrate(url, WS)
        part_tick(url, args.schedules, args.repeats)
        part_lag(url, args.fires)
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
