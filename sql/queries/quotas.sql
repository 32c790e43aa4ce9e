-- Named queries of the quotas (common/quotas.py). A check and the insert it guards run in one
-- transaction under workspace_quota_lock, so two concurrent requests cannot both pass the last place.

-- workspace_quota_lock --
-- The workspace's quota lock, held to the end of the transaction (transaction-level: it holds through a
-- transaction pooler too). Taken before counting, so the count sees every run or dataset committed by
-- the previous holder (READ COMMITTED: each statement reads a fresh snapshot).
SELECT pg_advisory_xact_lock(hashtextextended('report-generator quota ' || %(workspace_id)s::text, 0));

-- workspace_run_usage --
-- The workspace's live runs (QUEUED or IN_PROGRESS, by the run and by its START_RUN job, as run_get
-- reports them) and its runs made in the last %(window_seconds)s, each counted only up to its limit
-- (bounded work however many rows there are), and in how many seconds the window frees a place. That
-- wait is measured from the clock, not from this transaction's start (now()): a run committed by a
-- transaction that began after this one (it took the quota lock first) has a created_at later than our
-- now(), and "created_at + window - now()" said 61 s for a 60 s window.
SELECT
    (SELECT count(*) FROM (
        SELECT 1 FROM runs r JOIN jobs j ON j.id = r.job_id
        WHERE r.workspace_id = %(workspace_id)s AND r.status IN ('QUEUED', 'IN_PROGRESS')
          AND j.status IN ('QUEUED', 'IN_PROGRESS')
        LIMIT %(active_max)s) AS live) AS active,
    (SELECT count(*) FROM (
        SELECT 1 FROM runs
        WHERE workspace_id = %(workspace_id)s AND created_at > now() - make_interval(secs => %(window_seconds)s)
        LIMIT %(recent_max)s) AS recent) AS recent,
    (SELECT ceil(extract(epoch FROM created_at + make_interval(secs => %(window_seconds)s) - clock_timestamp()))::integer
     FROM runs
     WHERE workspace_id = %(workspace_id)s AND created_at > now() - make_interval(secs => %(window_seconds)s)
     ORDER BY created_at DESC
     OFFSET greatest(%(recent_max)s - 1, 0) LIMIT 1) AS frees_in_seconds;

-- workspace_dataset_bytes --
-- Bytes of every dataset the workspace stores (an index-only scan of datasets_workspace_size_idx).
SELECT coalesce(sum(size_bytes), 0)::bigint AS bytes FROM datasets WHERE workspace_id = %(workspace_id)s;
