-- Named queries on the jobs table, loaded once by common/sql.py and referred to by name.
-- Every write after a claim is fenced on (id, locked_by, attempts, status = 'IN_PROGRESS'):
-- zero rows means the attempt no longer owns the job, and the caller raises LeaseLost.

-- job_insert --
-- Enqueue one job. With a dedup_key already used in the workspace, inserts nothing (see job_get_by_dedup_key).
INSERT INTO jobs (workspace_id, type, payload, max_attempts, run_at, priority, timeout_seconds, dedup_key)
VALUES (%(workspace_id)s, %(type)s, %(payload)s, %(max_attempts)s, coalesce(%(run_at)s, now()),
        %(priority)s, %(timeout_seconds)s, %(dedup_key)s)
ON CONFLICT (workspace_id, dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING
RETURNING *;

-- job_insert_many --
-- Enqueue a batch in one statement (one NOTIFY for the whole batch).
INSERT INTO jobs (workspace_id, type, payload)
SELECT %(workspace_id)s, %(type)s, p FROM jsonb_array_elements(%(payloads)s) AS p
RETURNING id;

-- job_get_by_dedup_key --
SELECT * FROM jobs WHERE workspace_id = %(workspace_id)s AND dedup_key = %(dedup_key)s;

-- job_get --
SELECT * FROM jobs WHERE id = %(id)s AND workspace_id = %(workspace_id)s;

-- job_list --
-- Newest first, keyset-paginated on (created_at, id), one query per filter shape (common/jobs.py
-- list_query picks it): every condition is an index condition even in the generic plan PostgreSQL
-- switches a prepared statement to after five runs. The former single query with "%(status)s IS NULL
-- OR status = ..." and "cursor IS NULL OR (created_at, id) < ..." read the status and cursor as filters
-- in that plan: 1,153 ms for a COMPLETED page at 10 M rows (docs/benchmarks.md). No cursor: the
-- comparison with ('infinity', max uuid) matches every row and is still an index range.
SELECT * FROM jobs
WHERE workspace_id = %(workspace_id)s
  AND (created_at, id) < (coalesce(%(before_created_at)s::timestamptz, 'infinity'),
                          coalesce(%(before_id)s::uuid, 'ffffffff-ffff-ffff-ffff-ffffffffffff'))
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s;

-- job_list_status --
-- The status is compared with a sub-select so that the planner plans it without knowing its value, as
-- for any status (1/5 of the rows), and reads jobs_workspace_status_idx: one index range, 100 entries
-- for 100 rows. Knowing COMPLETED is 90 % of the table it read jobs_workspace_list_idx instead and
-- filtered on the status, expecting a page within 111 entries; when the newest jobs of the workspace
-- were 200,000 delayed ones it walked past all of them (254-347 ms at 10 M rows, docs/benchmarks.md).
-- ("ORDER BY status, ..." cannot pin the index: the planner drops it as redundant when status is fixed.)
SELECT * FROM jobs
WHERE workspace_id = %(workspace_id)s
  AND status = (SELECT %(status)s::text)
  AND (created_at, id) < (coalesce(%(before_created_at)s::timestamptz, 'infinity'),
                          coalesce(%(before_id)s::uuid, 'ffffffff-ffff-ffff-ffff-ffffffffffff'))
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s;

-- job_list_type --
-- The type as a sub-select for the same reason as job_list_status: jobs_workspace_type_idx, whichever
-- type dominates the table and whatever the newest jobs of the workspace are.
SELECT * FROM jobs
WHERE workspace_id = %(workspace_id)s
  AND type = (SELECT %(type)s::text)
  AND (created_at, id) < (coalesce(%(before_created_at)s::timestamptz, 'infinity'),
                          coalesce(%(before_id)s::uuid, 'ffffffff-ffff-ffff-ffff-ffffffffffff'))
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s;

-- job_list_status_type --
-- The status as a sub-select (see job_list_status): never jobs_workspace_list_idx; the status index, or
-- the type index when the planner knows the type is rarer than a fifth of the jobs.
SELECT * FROM jobs
WHERE workspace_id = %(workspace_id)s
  AND status = (SELECT %(status)s::text)
  AND type = %(type)s
  AND (created_at, id) < (coalesce(%(before_created_at)s::timestamptz, 'infinity'),
                          coalesce(%(before_id)s::uuid, 'ffffffff-ffff-ffff-ffff-ffffffffffff'))
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s;

-- job_claim --
-- The worker's statement on the pickup path (the claim loop): claim up to %(limit)s due jobs of %(types)s
-- and up to %(light_limit)s of %(light_types)s (light jobs have their own, larger slot count:
-- WORKER_LIGHT_CONCURRENCY), in one round trip and one commit; either limit may be 0. Only the types
-- this worker has handlers for, the highest priority first, then the oldest run_at; SKIP LOCKED lets any
-- number of workers claim at once without waiting on each other's rows. Finished jobs are recorded by
-- job_complete, on the completer's own connection, in parallel. (Until 2026-12-07 one statement did
-- both, and each caller left one part empty: the empty part still cost its executor, 0.1 ms of each
-- claim and 0.4 ms of each completion; docs/benchmarks.md.)
WITH next AS (
    -- Per type, then per priority of that type, highest first (job_queued_priorities(type) yields them
    -- in that order and the nested loop keeps it; LIMIT stops at the first priority that fills the claim),
    -- each one range of jobs_queued_idx in claim order that ends at the first job not yet due: delayed
    -- jobs and other types' backlogs are never walked past. The types' first jobs are then merged in claim
    -- order. Up to LIMIT rows of each type are locked and the merge may keep fewer; the others stay QUEUED
    -- and are unlocked at this statement's commit (only a claim that filled every slot drops any, and
    -- such a worker claims again at once). Two branches, one per slot class; a branch with LIMIT 0 reads
    -- nothing. They are written out twice on purpose: a set-returning SQL function that is not inlined
    -- runs its own executor per call (job_queued_priorities(type) made so cost each idle claim 0.6 ms
    -- more), and as one lateral over VALUES (types, limit) the limits would be unknown even to the plan
    -- made with the values (through a transaction pooler), as they are to the generic plan, whose
    -- estimate (149,000 at 200,000 jobs) passes jit_above_cost.
    (SELECT c.id FROM unnest(%(types)s::text[]) AS t(type)
        CROSS JOIN LATERAL (
            SELECT due.id, due.priority, due.run_at FROM job_queued_priorities(t.type) AS prio(priority)
            CROSS JOIN LATERAL (
                SELECT id, priority, run_at FROM jobs
                WHERE status = 'QUEUED' AND type = t.type AND priority = prio.priority AND run_at <= now()
                ORDER BY run_at, id
                LIMIT %(limit)s
                FOR UPDATE SKIP LOCKED
            ) AS due
            LIMIT %(limit)s
        ) AS c
        ORDER BY c.priority DESC, c.run_at, c.id
        LIMIT %(limit)s)
    UNION ALL
    (SELECT c.id FROM unnest(%(light_types)s::text[]) AS t(type)
        CROSS JOIN LATERAL (
            SELECT due.id, due.priority, due.run_at FROM job_queued_priorities(t.type) AS prio(priority)
            CROSS JOIN LATERAL (
                SELECT id, priority, run_at FROM jobs
                WHERE status = 'QUEUED' AND type = t.type AND priority = prio.priority AND run_at <= now()
                ORDER BY run_at, id
                LIMIT %(light_limit)s
                FOR UPDATE SKIP LOCKED
            ) AS due
            LIMIT %(light_limit)s
        ) AS c
        ORDER BY c.priority DESC, c.run_at, c.id
        LIMIT %(light_limit)s)
), claimed AS (
    -- "= ANY(ARRAY(...))": the claimed ids as one array probed on the primary key. Joined "FROM next", a
    -- generic plan (a prepared statement's, after its fifth run, where LIMIT %(limit)s is unknown)
    -- expected 160,000 claimed rows and hashed the whole table: 0.85-2.7 s per claim at 1 M rows.
    UPDATE jobs AS j
    SET status = 'IN_PROGRESS', attempts = j.attempts + 1, locked_by = %(worker_id)s,
        lease_expires_at = now() + make_interval(secs => %(lease_seconds)s),
        started_at = now(), completed_at = NULL, cancel_requested_at = NULL
    WHERE j.id = ANY(ARRAY(SELECT id FROM next))
    RETURNING j.id, j.workspace_id, j.type, j.payload, j.attempts, j.max_attempts, j.timeout_seconds,
              j.created_at, j.run_at, j.started_at
)
-- Claims come back in claim order (priority, then run_at): the UPDATE returns them in the array's.
SELECT * FROM claimed ORDER BY array_position(ARRAY(SELECT id FROM next), claimed.id);

-- job_complete --
-- Record finished attempts (the completer, a batch at a time). Fenced on (id, attempts, locked_by,
-- IN_PROGRESS): a completion whose lease was lost matches no row and is not returned; each one recorded
-- gets its job_attempts row in the same statement. Returns the ids recorded.
WITH done AS (
    UPDATE jobs AS j
    SET status = 'COMPLETED', result = d.result, error = NULL, completed_at = now(),
        locked_by = NULL, lease_expires_at = NULL
    FROM jsonb_to_recordset(%(done)s::jsonb) AS d(id uuid, attempts integer, result jsonb)
    -- The primary key probed once per completion, whatever the statistics: the ids as one array (a
    -- generic plan, expecting 100 completions, otherwise read a small table sequentially, on every
    -- completion), and "IN_PROGRESS" spelled as a lease held (the check jobs_lease_only_in_progress makes
    -- locked_by and lease_expires_at both set on exactly the IN_PROGRESS rows). Spelled "status =
    -- 'IN_PROGRESS'", it let the planner, with statistics from before a burst, read the finished jobs'
    -- dead entries in jobs_in_progress_idx instead: 7,500 -> 9,700 jobs/s at 100,000 PINGs.
    WHERE j.id = ANY(ARRAY(SELECT (e->>'id')::uuid FROM jsonb_array_elements(%(done)s::jsonb) AS e))
      AND j.id = d.id AND j.attempts = d.attempts
      AND j.locked_by = %(worker_id)s AND j.lease_expires_at IS NOT NULL
    RETURNING j.id, j.attempts, j.started_at
), history AS (
    INSERT INTO job_attempts (job_id, attempt, worker_id, started_at, outcome)
    SELECT id, attempts, %(worker_id)s, started_at, 'completed' FROM done
)
SELECT id FROM done;

-- job_fail_if_leased --
-- A failed attempt: back to QUEUED at %(retry_at_seconds)s from now while attempts remain, else FAILED.
-- A cancel requested while it ran wins over the retry (CANCELLED): the next claim would clear the request.
-- %(error)s is the text kept on the job; %(detail)s the structured error kept in its attempt history.
WITH failed AS (
    UPDATE jobs
    SET status = CASE WHEN cancel_requested_at IS NOT NULL THEN 'CANCELLED'
                      WHEN attempts < max_attempts AND NOT %(final)s THEN 'QUEUED' ELSE 'FAILED' END,
        run_at = CASE WHEN cancel_requested_at IS NULL AND attempts < max_attempts AND NOT %(final)s
                      THEN now() + make_interval(secs => %(retry_at_seconds)s) ELSE run_at END,
        completed_at = CASE WHEN cancel_requested_at IS NULL AND attempts < max_attempts AND NOT %(final)s
                            THEN NULL ELSE now() END,
        error = %(error)s, locked_by = NULL, lease_expires_at = NULL
    WHERE id = %(id)s AND attempts = %(attempts)s AND locked_by = %(worker_id)s AND status = 'IN_PROGRESS'
    RETURNING id, attempts, started_at, status, run_at
), history AS (
    INSERT INTO job_attempts (job_id, attempt, worker_id, started_at, outcome, error)
    SELECT id, attempts, %(worker_id)s, started_at, 'failed', %(detail)s::jsonb FROM failed
)
SELECT status, run_at FROM failed;

-- job_cancel_if_leased --
-- The owner confirms a cancellation that was requested while the job ran.
WITH cancelled AS (
    UPDATE jobs
    SET status = 'CANCELLED', completed_at = now(), error = %(error)s, locked_by = NULL, lease_expires_at = NULL
    WHERE id = %(id)s AND attempts = %(attempts)s AND locked_by = %(worker_id)s AND status = 'IN_PROGRESS'
    RETURNING id, attempts, started_at
), history AS (
    INSERT INTO job_attempts (job_id, attempt, worker_id, started_at, outcome)
    SELECT id, attempts, %(worker_id)s, started_at, 'cancelled' FROM cancelled
)
SELECT id FROM cancelled;

-- job_extend_leases --
-- Heartbeat, one statement on the heartbeat's own connection: extend the leases this worker still holds
-- (kind 'kept', with whether a cancel was requested), list the jobs locked by this worker that it does not
-- know it holds (kind 'unknown': a claim whose reply was lost), and renew the worker's row in the registry
-- of live workers and their job types.
WITH held AS (
    SELECT * FROM jsonb_to_recordset(%(held)s::jsonb) AS h(id uuid, attempts integer)
), kept AS (
    UPDATE jobs AS j
    SET lease_expires_at = now() + make_interval(secs => %(lease_seconds)s)
    FROM held AS h
    WHERE j.id = h.id AND j.attempts = h.attempts AND j.locked_by = %(worker_id)s AND j.status = 'IN_PROGRESS'
    RETURNING j.id, j.attempts, j.cancel_requested_at IS NOT NULL AS cancel_requested
), registered AS (
    INSERT INTO workers (worker_id, types, expires_at)
    VALUES (%(worker_id)s, %(types)s::text[], now() + make_interval(secs => %(lease_seconds)s))
    ON CONFLICT (worker_id) DO UPDATE SET types = excluded.types, expires_at = excluded.expires_at
)
SELECT 'kept' AS kind, id, attempts, cancel_requested FROM kept
UNION ALL
SELECT 'unknown', j.id, j.attempts, false FROM jobs AS j
WHERE j.status = 'IN_PROGRESS' AND j.locked_by = %(worker_id)s AND NOT EXISTS (SELECT 1 FROM held WHERE held.id = j.id);

-- job_give_back_if_leased --
-- Return unfinished attempts to the queue, not counted as attempts: at shutdown (%(all_mine)s: every job
-- still locked by this worker except %(keep)s, whose completions are being written), or the listed
-- attempts (%(held)s: claims whose reply was lost, so they never ran). A job whose cancel was requested
-- meanwhile ends CANCELLED instead: giving it back would let the next claim clear the request.
WITH given AS (
    UPDATE jobs AS j
    SET status = CASE WHEN j.cancel_requested_at IS NOT NULL THEN 'CANCELLED' ELSE 'QUEUED' END,
        attempts = CASE WHEN j.cancel_requested_at IS NOT NULL THEN j.attempts ELSE j.attempts - 1 END,
        completed_at = CASE WHEN j.cancel_requested_at IS NOT NULL THEN now() ELSE NULL END,
        run_at = now(), started_at = NULL, locked_by = NULL, lease_expires_at = NULL
    WHERE j.locked_by = %(worker_id)s AND j.status = 'IN_PROGRESS'
      AND (CASE WHEN %(all_mine)s THEN NOT (j.id = ANY(%(keep)s::uuid[]))
                ELSE EXISTS (SELECT 1 FROM jsonb_to_recordset(%(held)s::jsonb) AS h(id uuid, attempts integer)
                             WHERE h.id = j.id AND h.attempts = j.attempts) END)
    RETURNING j.id, j.status, j.attempts
), history AS (
    INSERT INTO job_attempts (job_id, attempt, worker_id, outcome)
    SELECT id, CASE WHEN status = 'CANCELLED' THEN attempts ELSE attempts + 1 END, %(worker_id)s,
           CASE WHEN status = 'CANCELLED' THEN 'cancelled' ELSE 'given_back' END
    FROM given
)
SELECT id, status FROM given;

-- job_rescue_expired --
-- Any worker: jobs whose lease ran out (their worker died, hung, or lost the database for longer than the
-- lease) go back to QUEUED after a backoff, or FAILED when no attempt is left (CANCELLED when a cancel was
-- requested). The backoff (%(delays)s[attempts], from common/backoff.py) keeps a job that kills its worker
-- from killing the next one at once. SKIP LOCKED so that concurrent rescuers split the work.
WITH expired AS (
    SELECT id, locked_by, attempts, started_at FROM jobs
    WHERE status = 'IN_PROGRESS' AND lease_expires_at < now()  -- jobs_in_progress_idx: the jobs in flight
    ORDER BY lease_expires_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), rescued AS (
    UPDATE jobs AS j
    SET status = CASE WHEN j.cancel_requested_at IS NOT NULL THEN 'CANCELLED'
                      WHEN j.attempts < j.max_attempts THEN 'QUEUED' ELSE 'FAILED' END,
        completed_at = CASE WHEN j.cancel_requested_at IS NULL AND j.attempts < j.max_attempts
                            THEN NULL ELSE now() END,
        run_at = CASE WHEN j.cancel_requested_at IS NULL AND j.attempts < j.max_attempts
                      THEN now() + make_interval(secs => coalesce((%(delays)s::float8[])[j.attempts], 0))
                      ELSE j.run_at END,
        error = 'lease expired', locked_by = NULL, lease_expires_at = NULL
    FROM expired
    WHERE j.id = expired.id
    RETURNING j.id, j.status, j.run_at, expired.locked_by AS was_locked_by, expired.attempts,
              expired.started_at
), history AS (
    INSERT INTO job_attempts (job_id, attempt, worker_id, started_at, outcome, error)
    SELECT id, attempts, was_locked_by, started_at, 'lease_expired',
           jsonb_build_object('type', 'LeaseExpired', 'message',
                              'the worker stopped renewing its lease (died, hung, or lost the database)',
                              'frames', '[]'::jsonb)
    FROM rescued
)
SELECT id, status, run_at, was_locked_by FROM rescued;

-- job_cancel --
-- QUEUED jobs are cancelled at once; IN_PROGRESS jobs are flagged and their worker ends them.
UPDATE jobs
SET status = CASE WHEN status = 'QUEUED' THEN 'CANCELLED' ELSE status END,
    completed_at = CASE WHEN status = 'QUEUED' THEN now() ELSE completed_at END,
    cancel_requested_at = CASE WHEN status = 'IN_PROGRESS' THEN now() ELSE cancel_requested_at END
WHERE id = %(id)s AND workspace_id = %(workspace_id)s AND status IN ('QUEUED', 'IN_PROGRESS')
RETURNING *;

-- job_retry --
-- A FAILED or CANCELLED job goes back to the queue; when its attempts are used up it gets one more.
UPDATE jobs
SET status = 'QUEUED', run_at = now(), completed_at = NULL, cancel_requested_at = NULL,
    max_attempts = greatest(max_attempts, least(attempts + 1, 100))
WHERE id = %(id)s AND workspace_id = %(workspace_id)s AND status IN ('FAILED', 'CANCELLED')
RETURNING *;

-- worker_wait --
-- A worker is about to wait for work: from now on inserts NOTIFY it (see worker_waiting in schema.sql).
-- Also answers how long until the next delayed or backed-off job of its types comes due (the worker
-- sleeps until then, at most a poll interval), computed by the server so that worker clocks do not matter:
-- the earliest run_at of each type and priority, one index probe each, not a scan of every queued job.
WITH waiting AS (
    INSERT INTO worker_waiting (worker_id, since) VALUES (%(worker_id)s, now())
    ON CONFLICT (worker_id) DO UPDATE SET since = now()
)
SELECT extract(epoch FROM min(next.run_at) - now())::float8 AS seconds
FROM unnest(%(types)s::text[]) AS t(type)
CROSS JOIN LATERAL job_queued_priorities(t.type) AS prio(priority)
CROSS JOIN LATERAL (
    SELECT run_at FROM jobs
    WHERE status = 'QUEUED' AND type = t.type AND priority = prio.priority
    ORDER BY run_at LIMIT 1
) AS next;

-- worker_busy --
-- The worker is saturated (or stopping): inserts need not wake it.
DELETE FROM worker_waiting WHERE worker_id = %(worker_id)s;

-- worker_waiting_prune --
-- Rows of workers that died while waiting (a live waiting worker renews its row every poll interval),
-- and registry rows of workers whose heartbeat stopped long ago (live ones renew theirs every heartbeat).
WITH registry AS (
    DELETE FROM workers WHERE expires_at < now() - make_interval(secs => %(older_than_seconds)s)
)
DELETE FROM worker_waiting WHERE since < now() - make_interval(secs => %(older_than_seconds)s);

-- worker_unregister --
-- A worker that stops: its types are no longer handled by it, and inserts need not wake it.
WITH registry AS (
    DELETE FROM workers WHERE worker_id = %(worker_id)s
)
DELETE FROM worker_waiting WHERE worker_id = %(worker_id)s;

-- worker_handled_types --
-- The job types some live worker handles (for reportgen_jobs_unhandled and the /jobs page).
SELECT DISTINCT unnest(types) AS type FROM workers WHERE expires_at > now();

-- job_attempt_list --
-- A job's attempt history, oldest first.
SELECT attempt, worker_id, started_at, finished_at, outcome, error FROM job_attempts
WHERE job_id = %(id)s ORDER BY id;

-- jobs_queued_notify --
-- Wake waiting workers (after a retry, or for a job delayed into the future so they re-arm their timer).
SELECT pg_notify('jobs_queued', '');

-- jobs_cancel_notify --
-- Tell the worker running job %(id)s to look at its cancel request now, not at its next heartbeat.
SELECT pg_notify('jobs_cancel', %(id)s::text);

-- job_prune_finished --
-- Housekeeping: delete a batch of finished jobs older than the retention period, oldest first, read
-- from jobs_finished_idx. SKIP LOCKED: pruning workers split the work instead of queueing on each other.
-- "= ANY(ARRAY(...))" makes the batch one array probed on the primary key; with "IN (...)" the planner
-- chose a hash join over a sequential scan of the whole table.
DELETE FROM jobs WHERE id = ANY(ARRAY(
    SELECT id FROM jobs
    WHERE status IN ('COMPLETED', 'FAILED', 'CANCELLED')
      AND completed_at < now() - make_interval(secs => %(retention_seconds)s)
    ORDER BY completed_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
));

-- job_count_active --
-- For /metrics: QUEUED jobs per type, IN_PROGRESS jobs per type, and the age of the oldest due job per
-- type. The queued types come from jobs_queued_idx one probe each (job_queued_types(), a loose index
-- scan); per type the count reads at most %(cap)s + 1 entries of that index (exact up to the cap) and,
-- above it, is the planner's estimate (jobs_count_estimate, kept by ANALYZE with the (status, type)
-- statistics), never less than the cap + 1; the oldest job is the earliest of the type's priorities' first
-- entries. Counting every row took 458 ms at 200,000 delayed jobs, and grew with them
-- (docs/benchmarks.md). IN_PROGRESS is the jobs in flight, a few per worker: exact, from
-- jobs_in_progress_idx.
SELECT 'QUEUED' AS status, t.type,
       CASE WHEN c.n > %(cap)s THEN greatest(c.n, jobs_count_estimate('QUEUED', t.type)) ELSE c.n END AS n,
       c.n > %(cap)s AS estimated,
       CASE WHEN o.run_at <= now() THEN extract(epoch FROM now() - o.run_at) END AS oldest_age_seconds
FROM job_queued_types() AS t(type)
CROSS JOIN LATERAL (
    -- The ORDER BY is the index's own: without it a generic plan (LIMIT unknown) chose a sequential scan.
    SELECT count(*) AS n FROM (SELECT 1 FROM jobs WHERE status = 'QUEUED' AND type = t.type
                               ORDER BY priority DESC, run_at, id LIMIT %(cap)s + 1) AS q
) AS c
CROSS JOIN LATERAL (
    SELECT min(first.run_at) AS run_at FROM job_queued_priorities(t.type) AS prio(priority)
    CROSS JOIN LATERAL (
        SELECT run_at FROM jobs WHERE status = 'QUEUED' AND type = t.type AND priority = prio.priority
        ORDER BY run_at LIMIT 1
    ) AS first
) AS o
UNION ALL
SELECT 'IN_PROGRESS', type, count(*), false, NULL FROM jobs WHERE status = 'IN_PROGRESS'
GROUP BY type;

-- job_table_size_estimate --
-- The planner's row estimate of the jobs table (kept current by autovacuum/analyze) and the table's
-- blocks now (what a block sample draws from); free to read.
SELECT greatest(reltuples, 0)::float8 AS rows,
       (pg_relation_size(oid) / current_setting('block_size')::int)::float8 AS blocks
FROM pg_class WHERE oid = 'jobs'::regclass;

-- job_count_finished --
-- Finished jobs per status and type, exact (used while the table is small).
SELECT status, type, count(*) AS n FROM jobs
WHERE status IN ('COMPLETED', 'FAILED', 'CANCELLED')
GROUP BY status, type;

-- job_count_finished_sampled --
-- Finished jobs per status and type for /metrics, estimated from a block sample of %(percent)s %% of
-- the table (an exact count would read millions of rows at every scrape). The caller chooses the
-- percent for a fixed number of blocks (common/queue_stats.py SAMPLE_BLOCKS): each sampled block is a
-- random read, so the cost is the number of blocks, whatever the table's size.
SELECT status, type, round(count(*) * 100.0 / %(percent)s) AS n
FROM jobs TABLESAMPLE SYSTEM (%(percent)s)
WHERE status IN ('COMPLETED', 'FAILED', 'CANCELLED')
GROUP BY status, type;

-- job_recent_latency --
-- For the web's /metrics: wait and duration percentiles of the jobs finished in the last few minutes,
-- from at most the latest %(limit)s of them (newest first from jobs_finished_idx): at 1,000 jobs/s a
-- 5-minute window holds 300,000 jobs, and sorting them all took 303 ms at every scrape; the latest
-- 5,000 took 28 ms at 1 M rows, 2,000 (common/queue_stats.py) about 10 ms.
WITH recent AS (
    SELECT type, status, created_at, run_at, started_at, completed_at FROM jobs
    WHERE status IN ('COMPLETED', 'FAILED', 'CANCELLED')
      AND completed_at > now() - make_interval(secs => %(window_seconds)s)
    ORDER BY completed_at DESC
    LIMIT %(limit)s
)
SELECT type,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM started_at - greatest(created_at, run_at)))
           AS wait_p50,
       percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM started_at - greatest(created_at, run_at)))
           AS wait_p99,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at - started_at)) AS duration_p50,
       percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at - started_at)) AS duration_p99,
       count(*) AS n
FROM recent
WHERE status IN ('COMPLETED', 'FAILED') AND started_at IS NOT NULL
GROUP BY type;

-- workspace_ensure --
INSERT INTO workspaces (id, name) VALUES (%(id)s, %(name)s) ON CONFLICT (id) DO NOTHING;

-- workspace_exists --
SELECT 1 FROM workspaces WHERE id = %(id)s;
