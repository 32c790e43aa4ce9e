-- Notifications. Applied after schema.sql, idempotently (CREATE OR REPLACE, DROP ... IF EXISTS).
--
-- jobs_queued: wakes idle workers the moment a job is committed. A constraint trigger, DEFERRABLE
--   INITIALLY DEFERRED, so that it runs at COMMIT, not at INSERT: whether some worker waits is decided
--   when the job becomes visible. (Decided at INSERT, a transaction that inserted while every worker was
--   busy and committed after they went idle sent nothing, and its job waited out a whole poll interval:
--   55.6 s of a 60 s poll, issue 10.) Constraint triggers are per row, so the first due QUEUED row of a
--   transaction decides for all of them (a transaction-local setting) and the rest cost one comparison;
--   one NOTIFY per transaction at most, with an empty payload (workers never need it: they claim).
--   Jobs inserted with run_at in the future do not notify; the worker wakes for them by its timer.
--   Only while some worker waits for work (a row in worker_waiting) is a NOTIFY sent at all: the lock a
--   NOTIFY takes is held through the commit's WAL flush, so 16 concurrent enqueuers with a NOTIFY each
--   lose about half their rate (4,204 vs 8,085 jobs/s without the trigger; bench/notify_cost.py). A waiting
--   worker re-claims right after marking itself waiting, and once more a moment later, so a commit that
--   read "nobody waits" just before is not left for the poll.
-- job_events: a status change of a job that belongs to a report run (its payload has a run_id), as JSON
--   {id, status, type, run_id, workspace_id}, for the live run pages (SSE). Only run jobs notify: a NOTIFY
--   in the worker's claim and completion transactions takes the database-wide notify lock at commit, and
--   sending one for every job more than halved drain throughput (742 vs 1,714 jobs/s, one worker at
--   concurrency 4, fsync on). Inserts do not send one: whoever inserts knows.

CREATE OR REPLACE FUNCTION jobs_notify_queued() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.run_at <= now() AND current_setting('reportgen.queued_decided', true) IS DISTINCT FROM 'yes' THEN
        PERFORM set_config('reportgen.queued_decided', 'yes', true);  -- until the end of this transaction
        IF EXISTS (SELECT 1 FROM worker_waiting) THEN
            PERFORM pg_notify('jobs_queued', '');
        END IF;
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

DROP TRIGGER IF EXISTS jobs_queued_notify ON jobs;
CREATE CONSTRAINT TRIGGER jobs_queued_notify
    AFTER INSERT ON jobs DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.status = 'QUEUED')
    EXECUTE FUNCTION jobs_notify_queued();

CREATE OR REPLACE TRIGGER jobs_event_notify_update
    AFTER UPDATE OF status ON jobs
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status AND NEW.payload ? 'run_id')
    EXECUTE FUNCTION jobs_notify_event();
