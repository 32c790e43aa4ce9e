"""The reaper service: rescue of expired leases (with backoff) and pruning, on factory-built rows."""

from __future__ import annotations

from common.config import Settings
from common.queue import PRUNE_BATCH
from tests.support.databases import WORKSPACE, connect, job
from tests.support.factories import attempts_of, make_job, metrics, open_store, run
from worker.reaper import Reaper


def _reap(url: str, **overrides: object) -> list:
    async def go():
        async with open_store(url) as store:
            return await Reaper(store, Settings(**{"retry_backoff_seconds": 2.0, **overrides}), metrics()).run_once()
    return run(go())


def _due_in(url: str, job_id: str) -> float:
    with connect(url) as conn:
        return conn.execute("SELECT extract(epoch FROM run_at - now())::float8 AS s FROM jobs WHERE id = %s",
                            (job_id,)).fetchone()["s"]


def test_a_rescued_job_comes_back_after_a_backoff_not_at_once(database_url):
    """A job that kills its worker must not kill the next one instantly."""
    first = make_job(database_url, status="IN_PROGRESS", attempts=1, lease_seconds=-1, locked_by="dead-1")
    second = make_job(database_url, status="IN_PROGRESS", attempts=2, lease_seconds=-1, locked_by="dead-2")
    alive = make_job(database_url, status="IN_PROGRESS", attempts=1, lease_seconds=30)
    rescued = _reap(database_url)
    assert {r.id for r in rescued} == {first, second}
    assert job(database_url, alive)["status"] == "IN_PROGRESS"
    assert 2 * 0.75 - 0.5 <= _due_in(database_url, first) <= 2 * 1.25
    assert 4 * 0.75 - 0.5 <= _due_in(database_url, second) <= 4 * 1.25, "the backoff grows with the attempt"
    row = job(database_url, first)
    assert row["status"] == "QUEUED" and row["error"] == "lease expired" and row["locked_by"] is None
    [history] = attempts_of(database_url, first)
    assert (history["outcome"], history["worker_id"], history["attempt"]) == ("lease_expired", "dead-1", 1)
    assert history["error"]["type"] == "LeaseExpired"


def test_rescue_on_the_last_attempt_fails_and_a_cancel_request_wins(database_url):
    last = make_job(database_url, status="IN_PROGRESS", attempts=3, max_attempts=3, lease_seconds=-1)
    cancelled = make_job(database_url, status="IN_PROGRESS", attempts=1, lease_seconds=-1, cancel_requested=True)
    _reap(database_url)
    assert job(database_url, last)["status"] == "FAILED"
    assert job(database_url, cancelled)["status"] == "CANCELLED"


def test_pruning_deletes_a_jobs_attempt_history_with_it(database_url):
    old = make_job(database_url, status="IN_PROGRESS", attempts=1, lease_seconds=-1, max_attempts=1)
    _reap(database_url)  # FAILED, with one attempt record
    assert len(attempts_of(database_url, old)) == 1
    with connect(database_url) as conn:
        conn.execute("UPDATE jobs SET completed_at = now() - interval '30 days' WHERE id = %s", (old,))
    _reap(database_url, job_retention_days=14.0)
    with connect(database_url) as conn:
        assert conn.execute("SELECT count(*) AS n FROM jobs WHERE id = %s", (old,)).fetchone()["n"] == 0
    assert attempts_of(database_url, old) == []


def test_pruning_deletes_audit_events_older_than_their_retention_and_keeps_the_rest(database_url):
    with connect(database_url) as conn:
        conn.execute("""INSERT INTO audit_events (workspace_id, action, target, at)
                        SELECT %s, 'job.cancelled', 'e' || n, now() - make_interval(days => n)
                        FROM generate_series(0, 120) AS n""", (WORKSPACE,))
    _reap(database_url, audit_retention_days=90.0)
    with connect(database_url) as conn:
        left = conn.execute("SELECT min(at) > now() - interval '90 days' AS recent, count(*) AS n "
                            "FROM audit_events").fetchone()
    assert left == {"recent": True, "n": 90}, "days 0 to 89 stay, days 90 to 120 are pruned"


def _old_finished(url: str, n: int) -> None:
    with connect(url) as conn:
        conn.execute("INSERT INTO jobs (workspace_id, type, status, payload, attempts, started_at, completed_at) "
                     "SELECT %s, 'PING', 'COMPLETED', '{}', 1, now() - interval '30 days', "
                     "now() - interval '30 days' FROM generate_series(1, %s)", (WORKSPACE, n))


def _count(url: str) -> int:
    with connect(url) as conn:
        return conn.execute("SELECT count(*) AS n FROM jobs").fetchone()["n"]


def test_one_round_prunes_batch_after_batch_while_they_come_back_full(database_url):
    _old_finished(database_url, PRUNE_BATCH * 2 + 10)
    _reap(database_url, job_retention_days=14.0)
    assert _count(database_url) == 0, "three batches in one run_once, not one batch per round"


def test_a_round_that_runs_out_of_budget_is_behind_and_the_next_comes_at_once(database_url):
    _old_finished(database_url, PRUNE_BATCH * 2 + 10)
    settings = Settings(job_retention_days=14.0)

    async def go() -> list[tuple[int, bool]]:
        async with open_store(database_url) as store:
            reaper = Reaper(store, settings, metrics())
            reaper.prune_budget_seconds = 0.0  # one batch per round
            seen = []
            for _ in range(3):
                await reaper.run_once()
                seen.append((_count(database_url), reaper.behind))
            _old_finished(database_url, 7)
            await reaper.run_once()  # caught up a moment ago: the next round waits PRUNE_EVERY_SECONDS
            seen.append((_count(database_url), reaper.behind))
            return seen

    assert run(go()) == [(PRUNE_BATCH + 10, True), (10, True), (0, False), (7, False)]
