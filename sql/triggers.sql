-- Notifications. Applied after schema.sql, idempotently (CREATE OR REPLACE).
--
-- jobs_queued: wakes idle workers the moment a job is inserted. One NOTIFY per INSERT *statement*
--   (not per row), with an empty payload, so that a batch insert or many inserts in one transaction
--   collapse into a single notification: NOTIFY takes a database-wide lock at commit, and fewer
--   notifying transactions means less contention. Workers never need the payload: they claim.
--   Jobs inserted with run_at in the future do not notify; the worker wakes for them by its timer.
--   Only while some worker waits for work (a row in worker_waiting) is a NOTIFY sent at all: the lock a
--   NOTIFY takes is held through the commit's WAL flush, so 16 concurrent enqueuers with a NOTIFY each
--   lose about half their rate (4,204 vs 8,085 jobs/s without the trigger; bench/notify_cost.py). A waiting worker re-claims
--   right after marking itself waiting, and once more a moment later, so an insert that read "nobody
--   waits" just before is not left for the poll.
-- job_events: a status change of a job that belongs to a report run (its payload has a run_id), as JSON
--   {id, status, type, run_id, workspace_id}, for the live run pages (SSE). Only run jobs notify: a NOTIFY
--   in the worker's claim and completion transactions takes the database-wide notify lock at commit, and
--   sending one for every job more than halved drain throughput (742 vs 1,714 jobs/s, one worker at
--   concurrency 4, fsync on). Inserts do not send one: whoever inserts knows.

CREATE OR REPLACE FUNCTION jobs_notify_queued() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM new_jobs WHERE status = 'QUEUED' AND run_at <= now())
       AND EXISTS (SELECT 1 FROM worker_waiting) THEN
        PERFORM pg_notify('jobs_queued', '');
    END IF;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION jobs_notify_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('job_events', json_build_object(
        'id', NEW.id, 'status', NEW.status, 'type', NEW.type,
        'run_id', NEW.payload ->> 'run_id', 'workspace_id', NEW.workspace_id)::text);
    RETURN NULL;
END;
$$;

CREATE OR REPLACE TRIGGER jobs_queued_notify
    AFTER INSERT ON jobs REFERENCING NEW TABLE AS new_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION jobs_notify_queued();

CREATE OR REPLACE TRIGGER jobs_event_notify_update
    AFTER UPDATE OF status ON jobs
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status AND NEW.payload ? 'run_id')
    EXECUTE FUNCTION jobs_notify_event();
