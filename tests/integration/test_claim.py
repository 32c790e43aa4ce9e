"""The claim statement, on rows built in the state each case needs (no worker process)."""

from __future__ import annotations

from common.db import is_transaction_pooler
from common.queue_types import Finished
from tests.support.databases import job
from tests.support.factories import attempts_of, make_job, open_store, run


def test_a_claim_takes_only_the_types_it_has_handlers_for(database_url):
    theirs = [make_job(database_url, type="EXPORT") for _ in range(3)]
    mine = make_job(database_url, type="PING")

    async def go():
        async with open_store(database_url, types=("PING",)) as store:
            return await store.claim(10, 30.0)

    result = run(go())
    assert [j.id for j in result] == [mine]
    for job_id in theirs:
        row = job(database_url, job_id)
        assert row["status"] == "QUEUED" and row["attempts"] == 0, "a type we lack stays queued, untouched"


def test_claims_respect_priority_run_at_and_the_limit(database_url):
    low = make_job(database_url, priority=0)
    high = make_job(database_url, priority=5)
    make_job(database_url, run_in_seconds=60)  # not due

    async def go():
        async with open_store(database_url) as store:
            first = await store.claim(1, 30.0)
            second = await store.claim(10, 30.0)
            return first, second

    first, second = run(go())
    assert [j.id for j in first] == [high]
    assert [j.id for j in second] == [low]
    claimed = job(database_url, high)
    assert claimed["status"] == "IN_PROGRESS" and claimed["attempts"] == 1 and claimed["locked_by"] == "test-worker-1"


def test_completions_are_fenced_and_leave_an_attempt_record(database_url):
    ours = make_job(database_url, status="IN_PROGRESS", attempts=1)
    someone_elses = make_job(database_url, status="IN_PROGRESS", attempts=1, locked_by="other-worker")
    stale_attempt = make_job(database_url, status="IN_PROGRESS", attempts=2)
    queued = make_job(database_url)

    async def go():
        async with open_store(database_url) as store:
            return await store.complete([Finished(ours, 1, '{"x":1}'), Finished(someone_elses, 1, "{}"),
                                         Finished(stale_attempt, 1, "{}")])

    assert run(go()) == frozenset({ours})
    assert job(database_url, ours)["status"] == "COMPLETED" and job(database_url, ours)["result"] == {"x": 1}
    assert job(database_url, someone_elses)["status"] == "IN_PROGRESS"
    assert job(database_url, stale_attempt)["status"] == "IN_PROGRESS"
    assert job(database_url, queued)["status"] == "QUEUED", "recording completions claims nothing"
    history = attempts_of(database_url, ours)
    assert [(h["attempt"], h["outcome"], h["worker_id"]) for h in history] == [(1, "completed", "test-worker-1")]
    assert history[0]["started_at"] is not None and history[0]["finished_at"] >= history[0]["started_at"]


def test_the_next_due_time_only_counts_our_types(database_url):
    """An unhandled type that is due must not make an idle worker spin (a due time of 'now' forever)."""
    make_job(database_url, type="EXPORT")
    make_job(database_url, type="PING", run_in_seconds=30)

    async def go():
        async with open_store(database_url, types=("PING",)) as store:
            return await store.mark_waiting()

    seconds = run(go())
    assert seconds is not None and 25 < seconds <= 30


def test_the_claim_connection_plans_the_claim_once(database_url):
    """Direct (or session-pooled), the claim statement is prepared with one generic plan that every
    later claim reuses, never JIT-compiled; PostgreSQL's own choice was a fresh plan per claim (0.7 ms
    each). Through a transaction pooler nothing is prepared and the session settings are left alone."""
    for _ in range(3):
        make_job(database_url)

    async def go():
        async with open_store(database_url) as store:
            for _ in range(12):
                await store.claim(1, 30.0)
            async with store._claim.use() as conn:
                cur = await conn.execute("SELECT current_setting('plan_cache_mode') || ', jit ' || "
                                         "current_setting('jit') AS mode")
                mode = (await cur.fetchone())["mode"]
                cur = await conn.execute("SELECT generic_plans, custom_plans FROM pg_prepared_statements "
                                         "WHERE statement LIKE '%%job_queued_priorities%%'")
                return mode, await cur.fetchall()

    mode, prepared = run(go())
    if is_transaction_pooler(database_url):
        assert (mode.split(",")[0], prepared) == ("auto", []), "the server's own settings"
    else:
        assert mode == "force_generic_plan, jit off"
        assert [(p["custom_plans"], p["generic_plans"] >= 7) for p in prepared] == [(0, True)], prepared
