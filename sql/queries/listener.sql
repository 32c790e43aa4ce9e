-- Statements of the one LISTEN connection per process (common/listener.py). A channel is listened to by
-- the query named listen_<channel>; channel names are fixed here, never built from input.

-- listen_jobs_queued --
-- Workers: a job was committed while some worker waited (sql/triggers.sql), or a retry/delayed job.
LISTEN jobs_queued;

-- listen_jobs_cancel --
-- Workers: a user asked to cancel a running job (payload: the job id).
LISTEN jobs_cancel;

-- listen_job_events --
-- Web: a status change of a report run's job (payload: JSON, see sql/triggers.sql).
LISTEN job_events;

-- listen_listener_self_test --
-- Every listener: the channel of its self-test.
LISTEN listener_self_test;

-- listener_self_test --
-- The listener NOTIFYs itself and must hear it: LISTEN through a transaction pooler succeeds and then
-- hears nothing, and only a notification of our own proves that we would hear the others.
SELECT pg_notify('listener_self_test', %(token)s);
