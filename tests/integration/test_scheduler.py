"""The scheduler service: run_once(now) on factory-built schedules, with a clock parameter."""

from __future__ import annotations

import asyncio
import datetime as dt

from common import db
from tests.support.databases import connect
from tests.support.factories import run
from tests.support.schedules import fires_of, make_schedule, make_template
from worker.scheduler import Scheduler

T0 = dt.datetime(2026, 12, 2, 6, 0, tzinfo=dt.UTC)


async def _tick(url: str, now: dt.datetime, workers: int = 1) -> list[int]:
    pools = [db.make_pool(url, min_size=1, max_size=2, name=f"sched-test-{i}") for i in range(workers)]
    for pool in pools:
        await pool.open(wait=True)
    try:
        return list(await asyncio.gather(*(Scheduler(pool).run_once(now) for pool in pools)))
    finally:
        for pool in pools:
            await pool.close()


def tick(url: str, now: dt.datetime, workers: int = 1) -> list[int]:
    return run(_tick(url, now, workers))


def test_a_due_schedule_makes_one_run_with_its_start_run_job_and_advances(database_url):
    template = make_template(database_url)
    schedule = make_schedule(database_url, template, cron="0 * * * *", next_fire_at=T0)
    assert tick(database_url, T0 - dt.timedelta(seconds=1)) == [0], "not due yet"
    assert tick(database_url, T0 + dt.timedelta(seconds=2)) == [1]
    [fire] = fires_of(database_url, schedule)
    assert (fire["outcome"], fire["fire_at"], fire["error"]) == ("RUN", T0, None)
    with connect(database_url) as conn:
        run_row = conn.execute("SELECT r.parameters, j.type, j.status FROM runs r JOIN jobs j ON j.id = r.job_id "
                               "WHERE r.id = %s", (fire["run_id"],)).fetchone()
        nxt = conn.execute("SELECT next_fire_at, last_fire_at FROM schedules WHERE id = %s", (schedule,)).fetchone()
    assert run_row == {"parameters": {"region": "west"}, "type": "START_RUN", "status": "QUEUED"}
    assert nxt == {"next_fire_at": T0 + dt.timedelta(hours=1), "last_fire_at": T0}
    assert tick(database_url, T0 + dt.timedelta(seconds=3)) == [0], "a fired schedule is not due again"


def test_many_workers_ticking_at_once_make_one_run_per_fire(database_url):
    template = make_template(database_url)
    ids = [make_schedule(database_url, template, next_fire_at=T0) for _ in range(20)]
    claimed = tick(database_url, T0 + dt.timedelta(seconds=1), workers=4)
    assert sum(claimed) == 20
    for schedule in ids:
        assert [f["outcome"] for f in fires_of(database_url, schedule)] == ["RUN"]
    with connect(database_url) as conn:
        assert conn.execute("SELECT count(*) AS n FROM runs").fetchone()["n"] == 20


def test_after_an_outage_the_latest_missed_fire_runs_and_the_others_are_recorded_skipped(database_url):
    template = make_template(database_url)
    schedule = make_schedule(database_url, template, cron="0 * * * *", next_fire_at=T0)
    tick(database_url, T0 + dt.timedelta(hours=3, minutes=20))  # down from 06:00 to 09:20
    fires = fires_of(database_url, schedule)
    assert [(f["fire_at"].hour, f["outcome"]) for f in fires] == [(6, "SKIPPED"), (7, "SKIPPED"), (8, "SKIPPED"),
                                                                  (9, "RUN")]
    with connect(database_url) as conn:
        assert conn.execute("SELECT count(*) AS n FROM runs").fetchone()["n"] == 1


def test_a_fire_already_recorded_makes_no_second_run(database_url):
    """The unique (schedule, fire time) backs the row lock: a fire re-attempted makes nothing."""
    template = make_template(database_url)
    schedule = make_schedule(database_url, template, cron="0 * * * *", next_fire_at=T0)
    tick(database_url, T0 + dt.timedelta(seconds=1))
    with connect(database_url) as conn:
        conn.execute("UPDATE schedules SET next_fire_at = %s WHERE id = %s", (T0, schedule))
    tick(database_url, T0 + dt.timedelta(seconds=2))
    assert len(fires_of(database_url, schedule)) == 1
    with connect(database_url) as conn:
        assert conn.execute("SELECT count(*) AS n FROM runs").fetchone()["n"] == 1


def test_a_schedule_whose_run_cannot_be_made_records_a_failed_fire_and_failure_notices(database_url):
    template = make_template(database_url)
    schedule = make_schedule(database_url, template, next_fire_at=T0, emails=["x@example.com"],
                             webhooks=["http://127.0.0.1:9/hook"])
    with connect(database_url) as conn:
        conn.execute("UPDATE templates SET archived_at = now() WHERE id = %s", (template,))
    tick(database_url, T0 + dt.timedelta(seconds=1))
    [fire] = fires_of(database_url, schedule)
    assert fire["outcome"] == "FAILED" and "archived" in fire["error"]
    with connect(database_url) as conn:
        rows = conn.execute("SELECT d.channel, d.status, j.type FROM deliveries d JOIN jobs j ON j.id = d.job_id "
                            "ORDER BY channel").fetchall()
    assert rows == [{"channel": "email", "status": "PENDING", "type": "DELIVER"},
                    {"channel": "webhook", "status": "PENDING", "type": "DELIVER"}]


def test_a_paused_schedule_does_not_fire(database_url):
    template = make_template(database_url)
    schedule = make_schedule(database_url, template, next_fire_at=T0, enabled=False)
    assert tick(database_url, T0 + dt.timedelta(minutes=5)) == [0]
    assert fires_of(database_url, schedule) == []
