-- report-generator schema: the truth for a fresh database.
-- Applied by common/migrate.py under an advisory lock; every statement is idempotent so that a re-run,
-- or a second process racing the first, changes nothing. The jobs table is the only channel between the
-- web and the worker services.

CREATE TABLE IF NOT EXISTS workspaces (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS templates (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id  uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description   text NOT NULL DEFAULT '',
    current_version integer NOT NULL DEFAULT 1,
    -- Set for the examples shipped with the product: seeding at start-up inserts each one at most once.
    example_slug  text,
    -- Sample CSVs offered by the run form: {parameter name: dataset id}.
    sample_datasets jsonb NOT NULL DEFAULT '{}'::jsonb,
    archived_at   timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS templates_workspace_idx ON templates (workspace_id, updated_at DESC);
CREATE UNIQUE INDEX IF NOT EXISTS templates_example_idx ON templates (workspace_id, example_slug)
    WHERE example_slug IS NOT NULL;

-- Editing a template makes a new version; a run keeps the version it used.
CREATE TABLE IF NOT EXISTS template_versions (
    template_id  uuid NOT NULL REFERENCES templates(id) ON DELETE CASCADE,
    version      integer NOT NULL CHECK (version >= 1),
    body         text NOT NULL,
    parameters   jsonb NOT NULL DEFAULT '[]'::jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (template_id, version)
);

-- Uploaded CSV files, parsed once at upload.
CREATE TABLE IF NOT EXISTS datasets (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id  uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    filename      text NOT NULL,
    content       bytea NOT NULL,
    size_bytes    integer NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS datasets_workspace_idx ON datasets (workspace_id, created_at DESC);

CREATE TABLE IF NOT EXISTS runs (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id      uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    template_id       uuid NOT NULL REFERENCES templates(id) ON DELETE CASCADE,
    template_version  integer NOT NULL,
    -- The submitted values, JSON-safe (dates as ISO text, datasets as dataset ids); re-validated to render.
    parameters        jsonb NOT NULL DEFAULT '{}'::jsonb,
    job_id            uuid,  -- its START_RUN job, inserted in the same transaction
    status            text NOT NULL DEFAULT 'QUEUED'
                      CHECK (status IN ('QUEUED', 'IN_PROGRESS', 'COMPLETED', 'FAILED', 'CANCELLED')),
    progress          real NOT NULL DEFAULT 0,
    error             jsonb,
    report_html       text,
    report_markdown   text,
    report_tables     jsonb,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    started_at        timestamptz,
    completed_at      timestamptz,
    FOREIGN KEY (template_id, template_version) REFERENCES template_versions (template_id, version)
);
CREATE INDEX IF NOT EXISTS runs_workspace_idx ON runs (workspace_id, created_at DESC);
CREATE INDEX IF NOT EXISTS runs_template_idx ON runs (template_id, created_at DESC);

-- Downloads produced by EXPORT jobs in the worker (PDF always; other formats when asked for explicitly).
-- The web serves them from here, so no PDF layout ever runs in the web process.
CREATE TABLE IF NOT EXISTS run_exports (
    run_id      uuid NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    format      text NOT NULL CHECK (format IN ('html', 'pdf', 'md', 'csv')),
    media_type  text NOT NULL,
    filename    text NOT NULL,
    data        bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, format)
);

-- Secrets the web instances share (the CSRF signing key), created once by whichever instance asks first.
CREATE TABLE IF NOT EXISTS app_secrets (
    name        text PRIMARY KEY,
    value       bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Job states (mirrored by common.jobs.JobStatus; the state diagram is in docs/jobs.md):
--   QUEUED       waiting; claimable once run_at <= now(). Left by a claim (worker) or a cancel (API).
--   IN_PROGRESS  claimed by locked_by until lease_expires_at, which the worker's heartbeat extends.
--                Left by completion/failure (owner, fenced on locked_by + attempts), give-back on
--                shutdown, cancel, or rescue of an expired lease (any worker).
--   COMPLETED, FAILED, CANCELLED  final; FAILED and CANCELLED jobs can be retried (back to QUEUED).
CREATE TABLE IF NOT EXISTS jobs (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id      uuid NOT NULL REFERENCES workspaces(id),
    type              text NOT NULL CHECK (type ~ '^[A-Z][A-Z0-9_]{0,63}$'),
    status            text NOT NULL DEFAULT 'QUEUED'
                      CHECK (status IN ('QUEUED', 'IN_PROGRESS', 'COMPLETED', 'FAILED', 'CANCELLED')),
    payload           jsonb NOT NULL DEFAULT '{}'::jsonb,
    result            jsonb,
    error             text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    started_at        timestamptz,
    completed_at      timestamptz,
    attempts          integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts      integer NOT NULL DEFAULT 3 CHECK (max_attempts BETWEEN 1 AND 100),
    run_at            timestamptz NOT NULL DEFAULT now(),
    priority          smallint NOT NULL DEFAULT 0,
    timeout_seconds   real CHECK (timeout_seconds > 0),
    locked_by         text,
    lease_expires_at  timestamptz,
    cancel_requested_at timestamptz,
    dedup_key         text,
    CONSTRAINT jobs_lease_only_in_progress CHECK (
        (status = 'IN_PROGRESS') = (locked_by IS NOT NULL AND lease_expires_at IS NOT NULL)
    )
);

-- The live queue: one small index (QUEUED rows only, however many finished jobs the table holds) for
-- every question asked of it. Keyed by type first, because every question names its types: a claim
-- reads, per type it handles and per priority of that type, one range in claim order (run_at, id) that
-- ends at the first job not yet due, so neither another type's backlog nor delayed jobs are walked past.
-- It replaced jobs_claim_idx (priority DESC, run_at, id) and jobs_queued_type_idx (type, run_at): with
-- statistics taken before a burst (they said "no QUEUED rows"), the planner read the claim's types from
-- jobs_queued_type_idx and sorted the whole backlog per claim, or walked jobs_claim_idx past every job of
-- the other types: 100,000 PINGs drained at 1,700-3,000 jobs/s instead of 9,000 (docs/benchmarks.md).
-- With one index whose equality columns are the claim's, there is no worse plan to choose.
CREATE INDEX IF NOT EXISTS jobs_queued_idx ON jobs (type, priority DESC, run_at, id) WHERE status = 'QUEUED';
DROP INDEX IF EXISTS jobs_claim_idx;
DROP INDEX IF EXISTS jobs_queued_type_idx;
-- (No index on queued jobs' run_at alone: with stale statistics the planner preferred it for the claim
-- and sorted the whole queue to return a few rows.)
DROP INDEX IF EXISTS jobs_queued_run_at_idx;
-- The running jobs, for rescue and counts. Keyed on started_at, which a heartbeat does not change: with
-- no index on lease_expires_at a heartbeat touches no indexed column, so it is a HOT update (no index
-- writes, and the old version is pruned within the page). Rescue reads the whole IN_PROGRESS set (the
-- jobs in flight, a few per worker) and filters on the lease.
DROP INDEX IF EXISTS jobs_lease_idx;
CREATE INDEX IF NOT EXISTS jobs_in_progress_idx ON jobs (started_at) WHERE status = 'IN_PROGRESS';
-- Joint statistics of (status, type): the planner's estimate of "status = 'QUEUED' AND type = 'PING'"
-- from a most-common-values list of the pairs instead of the product of two frequencies.
CREATE STATISTICS IF NOT EXISTS jobs_status_type_stats (mcv) ON status, type FROM jobs;
-- Listing newest first, keyset-paginated on (created_at, id): one index range per page at any size;
-- with a status or a type filter, the index that leads with it (a rare status otherwise meant walking
-- millions of rows of the others).
DROP INDEX IF EXISTS jobs_workspace_created_idx;
CREATE INDEX IF NOT EXISTS jobs_workspace_list_idx ON jobs (workspace_id, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS jobs_workspace_status_idx ON jobs (workspace_id, status, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS jobs_workspace_type_idx ON jobs (workspace_id, type, created_at DESC, id DESC);
-- Pruning (oldest first) and recent latency (newest first).
CREATE INDEX IF NOT EXISTS jobs_finished_idx ON jobs (completed_at)
    WHERE status IN ('COMPLETED', 'FAILED', 'CANCELLED');
-- Idempotent creation: one job per (workspace, dedup_key).
CREATE UNIQUE INDEX IF NOT EXISTS jobs_dedup_idx ON jobs (workspace_id, dedup_key) WHERE dedup_key IS NOT NULL;

-- A queue table: every row is inserted, updated two or three times, and deleted by pruning. fillfactor 90
-- leaves room in each page for the HOT versions of heartbeats (measured in bench/prune_soak.py, which
-- reports n_tup_hot_upd). Autovacuum's defaults (20 % of the table changed) wait far too long for a table
-- whose live part is small and whose dead tuples are made at thousands per second: vacuum after 1 % (plus
-- 1,000 rows), analyze after 2 %, and do not sleep between pages (the cost limit is per table).
ALTER TABLE jobs SET (fillfactor = 90,
                      autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 1000,
                      autovacuum_vacuum_insert_scale_factor = 0.02,
                      autovacuum_analyze_scale_factor = 0.02, autovacuum_vacuum_cost_delay = 0);

-- The priorities of a type's QUEUED jobs, highest first, each found with one probe of jobs_queued_idx
-- (a loose index scan). The claim and the next-due question walk a type's due jobs one priority at a
-- time, so 200,000 delayed jobs of a higher priority cost them one probe instead of a walk past them all.
CREATE OR REPLACE FUNCTION job_queued_priorities(p_type text) RETURNS SETOF smallint LANGUAGE sql STABLE AS $$
    WITH RECURSIVE p(priority) AS (
        SELECT max(priority) FROM jobs WHERE status = 'QUEUED' AND type = p_type
        UNION ALL
        SELECT (SELECT max(j.priority) FROM jobs j
                WHERE j.status = 'QUEUED' AND j.type = p_type AND j.priority < p.priority)
        FROM p WHERE p.priority IS NOT NULL
    )
    SELECT priority FROM p WHERE priority IS NOT NULL
$$;

-- The types of QUEUED jobs, in order, one probe of jobs_queued_idx each (a loose index scan): /metrics
-- reports the queue per type, however many jobs each holds. STRICT (no argument can be NULL) keeps it
-- from being inlined, so that ROWS holds: inlined, the recursion was estimated at 100 types, each with
-- 100 priorities, and the /metrics query's cost crossed jit_above_cost (10 ms of JIT per scrape).
CREATE OR REPLACE FUNCTION job_queued_types() RETURNS SETOF text LANGUAGE sql STABLE STRICT ROWS 10 AS $$
    WITH RECURSIVE t(type) AS (
        SELECT min(type) FROM jobs WHERE status = 'QUEUED'
        UNION ALL
        SELECT (SELECT min(j.type) FROM jobs j WHERE j.status = 'QUEUED' AND j.type > t.type)
        FROM t WHERE t.type IS NOT NULL
    )
    SELECT type FROM t WHERE type IS NOT NULL
$$;

-- The priorities of all QUEUED jobs, highest first: what a worker of the previous release (before
-- jobs_queued_idx) calls in its claim while a rolling deploy runs both. Kept so that such a worker
-- keeps claiming, correctly, until it is replaced; nothing in this release calls it.
CREATE OR REPLACE FUNCTION job_queued_priorities() RETURNS SETOF smallint LANGUAGE sql STABLE AS $$
    SELECT DISTINCT prio.priority
    FROM job_queued_types() AS t(type) CROSS JOIN LATERAL job_queued_priorities(t.type) AS prio(priority)
    ORDER BY 1 DESC
$$;

-- The planner's estimate of the jobs in a status of a type (Oban Met's count estimate): what /metrics
-- reports for a type whose queue is above the exact-count cap. As fresh as the last ANALYZE of jobs
-- (autovacuum analyzes it after 2 % of its rows changed, see above); costs one planning, no row reads.
CREATE OR REPLACE FUNCTION jobs_count_estimate(p_status text, p_type text) RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$  -- VOLATILE: PostgreSQL allows EXPLAIN only there
DECLARE
    plan json;
BEGIN
    EXECUTE format('EXPLAIN (FORMAT JSON) SELECT 1 FROM jobs WHERE status = %L AND type = %L', p_status, p_type)
        INTO plan;
    RETURN (plan -> 0 -> 'Plan' ->> 'Plan Rows')::bigint;
END;
$$;

-- Workers that are waiting for work (free slots, nothing left to claim), one row each. The insert
-- trigger NOTIFYs only while a row exists: a NOTIFY takes a database-wide lock that is held through the
-- commit's WAL flush, so notifying on every insert serialises concurrent enqueuers; while every worker is
-- busy nobody needs the wake-up (a busy worker claims again as soon as a slot frees). UNLOGGED: it is
-- rebuilt by the workers within a poll interval, a crash only empties it, and its writes cost no WAL.
CREATE UNLOGGED TABLE IF NOT EXISTS worker_waiting (
    worker_id  text PRIMARY KEY,
    since      timestamptz NOT NULL DEFAULT now()
);

-- One row per finished attempt of a job (River's AttemptError list, Oban's errors), so that an operator
-- sees why attempts 1 and 2 failed after attempt 3 succeeded. Written by the same statement that ends the
-- attempt (completion, failure, cancel, give-back, rescue), so the history never disagrees with the job.
-- Deleted with its job (pruning): ON DELETE CASCADE, through job_attempts_job_idx.
--   outcome: completed | failed | cancelled | given_back (shutdown, lost claim reply) | lease_expired (rescued)
--   error:   {"type", "message", "frames": ["file:line in function", ...]} or NULL
CREATE TABLE IF NOT EXISTS job_attempts (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id       uuid NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    attempt      integer NOT NULL,
    worker_id    text NOT NULL,
    started_at   timestamptz,
    finished_at  timestamptz NOT NULL DEFAULT now(),
    outcome      text NOT NULL
                 CHECK (outcome IN ('completed', 'failed', 'cancelled', 'given_back', 'lease_expired')),
    error        jsonb
);
CREATE INDEX IF NOT EXISTS job_attempts_job_idx ON job_attempts (job_id, id);

-- Live workers and the job types each one handles, renewed by every heartbeat (expires_at = now() + its
-- lease). A QUEUED job whose type no live worker lists is "unhandled": counted by reportgen_jobs_unhandled
-- and flagged on /jobs, instead of being claimed and failed by a worker that lacks its handler.
-- UNLOGGED like worker_waiting: a crash only empties it, and the heartbeats rebuild it within seconds.
CREATE UNLOGGED TABLE IF NOT EXISTS workers (
    worker_id   text PRIMARY KEY,
    types       text[] NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);

-- ---- Schedules and deliveries (issue 13) ------------------------------------------------------------
-- A schedule fires its template with stored parameter values at the times its cron line names in its
-- IANA zone. next_fire_at is the one column the scheduler's tick reads (schedules_due_idx): a tick costs
-- one index range scan however many schedules exist. owner_id is the user who made it (no FK: the users
-- table comes with accounts; a later migration can add the reference).
CREATE TABLE IF NOT EXISTS schedules (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id    uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    template_id     uuid NOT NULL REFERENCES templates(id) ON DELETE CASCADE,
    owner_id        uuid,
    parameters      jsonb NOT NULL DEFAULT '{}'::jsonb,
    cron            text NOT NULL,
    timezone        text NOT NULL,
    emails          text[] NOT NULL DEFAULT '{}',
    webhooks        text[] NOT NULL DEFAULT '{}',
    formats         text[] NOT NULL DEFAULT '{pdf}',
    enabled         boolean NOT NULL DEFAULT true,
    webhook_secret  text NOT NULL,
    next_fire_at    timestamptz NOT NULL,
    last_fire_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS schedules_due_idx ON schedules (next_fire_at) WHERE enabled;
CREATE INDEX IF NOT EXISTS schedules_workspace_idx ON schedules (workspace_id, template_id, created_at DESC);

-- One row per fire time a schedule owed: RUN (a run was made, in the same transaction as its START_RUN
-- job), SKIPPED (missed during an outage; only the latest missed fire runs), FAILED (the run could not be
-- made: template archived, parameters no longer valid; delivered as a failure notice). The unique
-- (schedule_id, fire_at) is what makes a fire happen once whatever the number of workers.
CREATE TABLE IF NOT EXISTS schedule_fires (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    schedule_id  uuid NOT NULL REFERENCES schedules(id) ON DELETE CASCADE,
    workspace_id uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    fire_at      timestamptz NOT NULL,
    outcome      text NOT NULL CHECK (outcome IN ('RUN', 'SKIPPED', 'FAILED')),
    manual       boolean NOT NULL DEFAULT false,
    run_id       uuid REFERENCES runs(id) ON DELETE SET NULL,
    error        text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (schedule_id, fire_at)
);
CREATE INDEX IF NOT EXISTS schedule_fires_run_idx ON schedule_fires (run_id) WHERE run_id IS NOT NULL;

-- One row per (fire, recipient), made when the fire's run finishes, with its DELIVER job in the same
-- transaction. PENDING → DELIVERED | FAILED (attempts used up); every attempt is in delivery_attempts.
CREATE TABLE IF NOT EXISTS deliveries (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id  uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    schedule_id   uuid NOT NULL REFERENCES schedules(id) ON DELETE CASCADE,
    fire_id       uuid NOT NULL REFERENCES schedule_fires(id) ON DELETE CASCADE,
    run_id        uuid,
    fire_at       timestamptz NOT NULL,
    channel       text NOT NULL CHECK (channel IN ('email', 'webhook', 'owner')),
    recipient     text NOT NULL,
    status        text NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'DELIVERED', 'FAILED')),
    attempts      integer NOT NULL DEFAULT 0,
    last_error    text,
    job_id        uuid,
    delivered_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (fire_id, channel, recipient)
);
CREATE INDEX IF NOT EXISTS deliveries_schedule_idx ON deliveries (schedule_id, created_at DESC);

CREATE TABLE IF NOT EXISTS delivery_attempts (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id  uuid NOT NULL REFERENCES deliveries(id) ON DELETE CASCADE,
    attempt      integer NOT NULL,
    outcome      text NOT NULL CHECK (outcome IN ('delivered', 'failed')),
    error        text,
    at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS delivery_attempts_delivery_idx ON delivery_attempts (delivery_id, id);
-- ---- end of schedules ---------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['workspaces', 'templates', 'runs', 'jobs', 'schedules', 'deliveries'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = t || '_updated_at'
                       AND tgrelid = t::regclass) THEN
            EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE ON %I FOR EACH ROW EXECUTE FUNCTION set_updated_at()',
                           t || '_updated_at', t);
        END IF;
    END LOOP;
END;
$$;

-- ---- accounts (issue 9): users, memberships, sessions, API tokens, invites ----------------------------
-- Secrets are never stored: a password is an Argon2id hash, a session cookie / API token / invite link
-- is stored as the sha256 of its (high-entropy, random) value.
CREATE TABLE IF NOT EXISTS users (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email          text NOT NULL CHECK (length(email) BETWEEN 3 AND 320),
    display_name   text NOT NULL DEFAULT '',
    password_hash  text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS users_email_idx ON users (lower(email));

CREATE TABLE IF NOT EXISTS memberships (
    user_id       uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    workspace_id  uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    role          text NOT NULL CHECK (role IN ('viewer', 'editor', 'admin')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, workspace_id)
);
CREATE INDEX IF NOT EXISTS memberships_workspace_idx ON memberships (workspace_id, role);

CREATE TABLE IF NOT EXISTS sessions (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    token_hash    bytea NOT NULL UNIQUE,
    user_id       uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    workspace_id  uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz
);
CREATE INDEX IF NOT EXISTS sessions_user_idx ON sessions (user_id);

CREATE TABLE IF NOT EXISTS api_tokens (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    token_hash    bytea NOT NULL UNIQUE,
    user_id       uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    workspace_id  uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    expires_at    timestamptz,
    revoked_at    timestamptz
);
CREATE INDEX IF NOT EXISTS api_tokens_user_idx ON api_tokens (user_id, workspace_id);

CREATE TABLE IF NOT EXISTS invites (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    token_hash    bytea NOT NULL UNIQUE,
    user_id       uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    workspace_id  uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    used_at       timestamptz
);
-- Failed sign-ins of the last minutes, for throttling per account and per client address (a row per
-- failure, older ones pruned as new ones arrive). The account is lower(email) as typed, known or not,
-- so that throttling does not tell whether an address has an account.
CREATE TABLE IF NOT EXISTS sign_in_failures (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email_key  text NOT NULL,
    address    text NOT NULL,
    at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS sign_in_failures_email_idx ON sign_in_failures (email_key, at);
CREATE INDEX IF NOT EXISTS sign_in_failures_address_idx ON sign_in_failures (address, at);
CREATE INDEX IF NOT EXISTS sign_in_failures_at_idx ON sign_in_failures (at);

-- The audit log (issue 9): who did what, when, from where, per workspace. Written by web/ in the
-- connection of the action it records (after the action succeeded); pruned after AUDIT_RETENTION_DAYS by
-- the worker's reaper. actor_id stays NULL for actors without an account (a failed sign-in of an unknown
-- email, the CLI) and becomes NULL when the user is deleted; actor_email keeps who it was. address is the
-- client's (X-Forwarded-For's first hop behind a proxy), as text: it is evidence, not something to trust.
CREATE TABLE IF NOT EXISTS audit_events (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace_id  uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    actor_id      uuid REFERENCES users(id) ON DELETE SET NULL,
    actor_email   text NOT NULL DEFAULT '',
    action        text NOT NULL CHECK (action ~ '^[a-z]+(_[a-z]+)*\.[a-z]+(_[a-z]+)*$'),
    target        text NOT NULL DEFAULT '',
    detail        jsonb NOT NULL DEFAULT '{}',
    address       text CHECK (length(address) <= 64),
    at            timestamptz NOT NULL DEFAULT now()
);
-- The admin's page and GET /api/audit: newest first, a page at a time (id < before).
CREATE INDEX IF NOT EXISTS audit_events_workspace_idx ON audit_events (workspace_id, id DESC);
-- Pruning: oldest first.
CREATE INDEX IF NOT EXISTS audit_events_at_idx ON audit_events (at);
-- ---- end of accounts ------------------------------------------------------------------------------------
-- ==== versions and datasets (issue 15, items 4 and 5) ======================================================
-- Who saved each template version (NULL: seeded examples, saves made before accounts), and the version a
-- "restore" copied (a restore is a new version equal to an old one: history is never rewritten).
ALTER TABLE template_versions ADD COLUMN IF NOT EXISTS author_id uuid REFERENCES users(id) ON DELETE SET NULL;
ALTER TABLE template_versions ADD COLUMN IF NOT EXISTS restored_from integer;
-- A dataset's shape, recorded at upload (the CSV was parsed then anyway), so that the datasets page lists
-- columns and row counts without parsing every file. NULL for uploads made before: filled on first listing.
ALTER TABLE datasets ADD COLUMN IF NOT EXISTS columns text[];
ALTER TABLE datasets ADD COLUMN IF NOT EXISTS row_count integer;
-- Which datasets each run named (the values of its dataset parameters), written with the run, so that the
-- datasets page counts a dataset's runs with an index range instead of unpacking every run's parameters
-- (bench/history_and_datasets.py). No reference to datasets: deleting a dataset keeps the runs that used
-- it (their rows here go with the dataset's delete). sql/migrations/0001_run_datasets_backfill.sql fills it
-- for runs made before it existed.
CREATE TABLE IF NOT EXISTS run_datasets (
    run_id        uuid NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    dataset_id    uuid NOT NULL,
    workspace_id  uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, dataset_id)
);
CREATE INDEX IF NOT EXISTS run_datasets_dataset_idx ON run_datasets (dataset_id, workspace_id, created_at DESC, run_id);
-- ==== end of versions and datasets ==========================================================================
-- ==== ceilings (issue 11) ================================================================================
-- A download that broke its limits (PDF over PDF_MAX_PAGES, past PDF_TIMEOUT_SECONDS or PDF_MEMORY_MB):
-- remembered per run and format so that the run page shows why, the download answers 422 export_refused,
-- and no GET ?format=pdf re-queues an export that would fail the same way. Deleted with its run.
CREATE TABLE IF NOT EXISTS run_export_failures (
    run_id      uuid NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    format      text NOT NULL CHECK (format IN ('html', 'pdf', 'md', 'csv')),
    kind        text NOT NULL,
    message     text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, format)
);
-- ==== quotas and share links (issue 9) ===================================================================
-- The quota checks (sql/queries/quotas.sql): a workspace's live runs, and its stored dataset bytes,
-- each read from a small index instead of the workspace's whole history.
CREATE INDEX IF NOT EXISTS runs_live_idx ON runs (workspace_id) WHERE status IN ('QUEUED', 'IN_PROGRESS');
CREATE INDEX IF NOT EXISTS datasets_workspace_size_idx ON datasets (workspace_id) INCLUDE (size_bytes);

-- A read-only link to one finished run (its page and downloads) for people without an account. The link
-- is /s/<token>, 256 random bits of which only the sha256 is kept (like API tokens). Revocable, with an
-- optional expiry; gone with its run.
CREATE TABLE IF NOT EXISTS share_links (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    token_hash    bytea NOT NULL UNIQUE,
    workspace_id  uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    run_id        uuid NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    created_by    uuid REFERENCES users(id) ON DELETE SET NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz,
    revoked_at    timestamptz
);
CREATE INDEX IF NOT EXISTS share_links_run_idx ON share_links (run_id, created_at DESC);
