-- Named queries of the report product: templates and their versions, datasets, runs, exports.
-- Every statement is scoped to a workspace (%(workspace_id)s); run writes after a claim are guarded by the
-- run status they expect, so a late or repeated attempt cannot move a finished run backwards.

-- template_insert --
-- A new template (version 1 is inserted next, in the same transaction). An example that was seeded
-- before (same example_slug) inserts nothing, which makes seeding idempotent and race-free.
INSERT INTO templates (workspace_id, name, description, example_slug)
VALUES (%(workspace_id)s, %(name)s, %(description)s, %(example_slug)s)
ON CONFLICT (workspace_id, example_slug) WHERE example_slug IS NOT NULL DO NOTHING
RETURNING id, current_version;

-- template_version_insert --
INSERT INTO template_versions (template_id, version, body, parameters, author_id)
VALUES (%(template_id)s, %(version)s, %(body)s, %(parameters)s, %(author_id)s);

-- template_set_samples --
-- The sample datasets the run form offers for a template's dataset parameters.
UPDATE templates SET sample_datasets = %(sample_datasets)s WHERE id = %(id)s AND workspace_id = %(workspace_id)s;

-- template_new_version --
-- Editing makes a new version: bump current_version under the row lock (concurrent edits serialise) and
-- insert the body. With %(base_version)s set, a stale editor changes nothing (the caller answers 409).
WITH bumped AS (
    UPDATE templates
    SET name = %(name)s, description = %(description)s, current_version = current_version + 1
    WHERE id = %(id)s AND workspace_id = %(workspace_id)s AND archived_at IS NULL
      AND (%(base_version)s::integer IS NULL OR current_version = %(base_version)s)
    RETURNING id, current_version
)
INSERT INTO template_versions (template_id, version, body, parameters, author_id)
SELECT id, current_version, %(body)s, %(parameters)s, %(author_id)s FROM bumped
RETURNING version;

-- template_get --
-- One template with the body and parameters of %(version)s (NULL: its current version).
SELECT t.id, t.workspace_id, t.name, t.description, t.current_version, t.example_slug, t.sample_datasets,
       t.archived_at, t.created_at, t.updated_at, v.version, v.body, v.parameters,
       v.created_at AS version_created_at, v.author_id, u.email AS author_email, v.restored_from
FROM templates t
JOIN template_versions v ON v.template_id = t.id AND v.version = coalesce(%(version)s, t.current_version)
LEFT JOIN users u ON u.id = v.author_id
WHERE t.id = %(id)s AND t.workspace_id = %(workspace_id)s;

-- template_list --
-- Live templates, most recently edited first, with their current parameters and last run.
SELECT t.id, t.name, t.description, t.current_version, t.example_slug, t.created_at, t.updated_at,
       v.parameters,
       (SELECT max(r.created_at) FROM runs r WHERE r.template_id = t.id) AS last_run_at
FROM templates t
JOIN template_versions v ON v.template_id = t.id AND v.version = t.current_version
WHERE t.workspace_id = %(workspace_id)s AND t.archived_at IS NULL
ORDER BY t.updated_at DESC, t.id
LIMIT %(limit)s;

-- template_versions_list --
-- A template's history, newest first: who saved each version, when, what it restored, how many runs used it.
SELECT v.version, v.created_at, v.author_id, u.email AS author_email, v.restored_from,
       coalesce(rc.runs, 0) AS runs
FROM template_versions v
JOIN templates t ON t.id = v.template_id
LEFT JOIN users u ON u.id = v.author_id
LEFT JOIN (SELECT r.template_version, count(*)::integer AS runs FROM runs r
           WHERE r.template_id = %(id)s AND r.workspace_id = %(workspace_id)s
           GROUP BY r.template_version) rc ON rc.template_version = v.version
WHERE v.template_id = %(id)s AND t.workspace_id = %(workspace_id)s
ORDER BY v.version DESC;

-- template_archive --
-- DELETE archives: runs keep their template version and stay readable.
UPDATE templates SET archived_at = now()
WHERE id = %(id)s AND workspace_id = %(workspace_id)s AND archived_at IS NULL
RETURNING id;

-- dataset_insert --
INSERT INTO datasets (workspace_id, filename, content, size_bytes, columns, row_count)
VALUES (%(workspace_id)s, %(filename)s, %(content)s, %(size_bytes)s, %(columns)s, %(row_count)s)
RETURNING id, filename, size_bytes, created_at;

-- dataset_get_many --
SELECT id, filename, content, size_bytes, created_at FROM datasets
WHERE workspace_id = %(workspace_id)s AND id = ANY(%(ids)s::uuid[]);

-- dataset_describe_many --
-- Names and sizes only (for forms and run pages), never the content.
SELECT id, filename, size_bytes, created_at FROM datasets
WHERE workspace_id = %(workspace_id)s AND id = ANY(%(ids)s::uuid[]);

-- run_insert --
INSERT INTO runs (id, workspace_id, template_id, template_version, parameters, job_id)
VALUES (%(id)s, %(workspace_id)s, %(template_id)s, %(template_version)s, %(parameters)s, %(job_id)s)
RETURNING id;

-- run_get --
-- A run as users see it. The status is the run's own, except where its START_RUN job tells more: a job
-- that is IN_PROGRESS shows a QUEUED run as IN_PROGRESS, and a job that ended FAILED or CANCELLED before
-- the handler recorded an outcome (attempts used up, lease expired, cancelled) ends the run with it.
SELECT r.id, r.workspace_id, r.template_id, t.name AS template_name, r.template_version, r.parameters,
       CASE WHEN r.status IN ('QUEUED', 'IN_PROGRESS') AND j.status IN ('FAILED', 'CANCELLED') THEN j.status
            WHEN r.status = 'QUEUED' AND j.status = 'IN_PROGRESS' THEN 'IN_PROGRESS'
            ELSE r.status END AS status,
       r.progress,
       CASE WHEN r.error IS NOT NULL THEN r.error
            WHEN r.status IN ('QUEUED', 'IN_PROGRESS') AND j.status IN ('FAILED', 'CANCELLED')
            THEN jsonb_build_object('message', coalesce(j.error, 'the job was ' || lower(j.status)),
                                    'line', NULL, 'kind', 'job')
       END AS error,
       r.report_html IS NOT NULL AS has_report, r.job_id, j.status AS job_status, j.attempts AS job_attempts,
       r.created_at, r.updated_at, r.started_at, r.completed_at,
       coalesce((SELECT array_agg(e.format ORDER BY e.format) FROM run_exports e WHERE e.run_id = r.id),
                '{}') AS exports
FROM runs r
JOIN templates t ON t.id = r.template_id
LEFT JOIN jobs j ON j.id = r.job_id
WHERE r.id = %(id)s AND r.workspace_id = %(workspace_id)s;

-- run_list_recent --
SELECT r.id, r.template_id, t.name AS template_name, r.template_version, r.status, r.progress,
       r.created_at, r.completed_at, j.status AS job_status
FROM runs r
JOIN templates t ON t.id = r.template_id
LEFT JOIN jobs j ON j.id = r.job_id
WHERE r.workspace_id = %(workspace_id)s
ORDER BY r.created_at DESC, r.id DESC
LIMIT %(limit)s;

-- run_get_report --
-- The stored render of a finished run without its Markdown download (the run page, HTML, CSV, PDF):
-- the Markdown can be the largest column and only the md download needs it (run_get_markdown).
SELECT r.id, t.name AS template_name, r.status, r.parameters, r.report_html, r.report_tables
FROM runs r JOIN templates t ON t.id = r.template_id
WHERE r.id = %(id)s AND r.workspace_id = %(workspace_id)s;

-- run_get_markdown --
-- The Markdown download of a finished run (only for format=md).
SELECT r.id, t.name AS template_name, r.status, r.report_markdown
FROM runs r JOIN templates t ON t.id = r.template_id
WHERE r.id = %(id)s AND r.workspace_id = %(workspace_id)s;

-- run_get_for_render --
-- What START_RUN needs: the run, and the body and declarations of the version it keeps.
SELECT r.id, r.status, r.parameters, r.template_version, t.name AS template_name, v.body,
       v.parameters AS declarations
FROM runs r
JOIN templates t ON t.id = r.template_id
JOIN template_versions v ON v.template_id = r.template_id AND v.version = r.template_version
WHERE r.id = %(id)s AND r.workspace_id = %(workspace_id)s;

-- run_mark_started --
-- QUEUED (or IN_PROGRESS left by an attempt that died) → IN_PROGRESS. Zero rows: the run is final.
UPDATE runs SET status = 'IN_PROGRESS', progress = %(progress)s, error = NULL,
                started_at = coalesce(started_at, now())
WHERE id = %(id)s AND workspace_id = %(workspace_id)s AND status IN ('QUEUED', 'IN_PROGRESS')
RETURNING id;

-- run_complete --
UPDATE runs SET status = 'COMPLETED', progress = 1, error = NULL, report_html = %(html)s,
                report_markdown = %(markdown)s, report_tables = %(tables)s, completed_at = now()
WHERE id = %(id)s AND workspace_id = %(workspace_id)s AND status IN ('QUEUED', 'IN_PROGRESS')
RETURNING id;

-- run_fail --
-- The template's fault (render error, parameters no longer valid): the run is FAILED with the message.
UPDATE runs SET status = 'FAILED', error = %(error)s, completed_at = now()
WHERE id = %(id)s AND workspace_id = %(workspace_id)s AND status IN ('QUEUED', 'IN_PROGRESS')
RETURNING id;

-- run_notify --
-- A live-status event for a run, on the channel the job trigger uses, sent on commit. The handler sends
-- it as it records progress and outcomes, so pages need not wait for the job's own (batched) completion.
SELECT pg_notify('job_events', json_build_object(
    'id', %(job_id)s::text, 'status', %(status)s::text, 'type', 'RUN', 'run_id', %(id)s::text,
    'workspace_id', %(workspace_id)s::text)::text);

-- run_export_get --
SELECT e.format, e.media_type, e.filename, e.data
FROM run_exports e JOIN runs r ON r.id = e.run_id
WHERE e.run_id = %(id)s AND r.workspace_id = %(workspace_id)s AND e.format = %(format)s;

-- run_export_upsert --
-- Idempotent: a repeated EXPORT attempt overwrites the same download.
INSERT INTO run_exports (run_id, format, media_type, filename, data)
VALUES (%(id)s, %(format)s, %(media_type)s, %(filename)s, %(data)s)
ON CONFLICT (run_id, format) DO UPDATE
SET media_type = excluded.media_type, filename = excluded.filename, data = excluded.data, created_at = now();

-- app_secret_ensure --
-- One shared secret by name: the first caller's random value wins; everyone reads the same one.
WITH inserted AS (
    INSERT INTO app_secrets (name, value) VALUES (%(name)s, %(value)s)
    ON CONFLICT (name) DO NOTHING
    RETURNING value
)
SELECT value FROM inserted
UNION ALL
SELECT value FROM app_secrets WHERE name = %(name)s
LIMIT 1;

-- queue_counts --
-- Queue health for the dashboard and /jobs: jobs per live status in the workspace, each counted up to
-- %(cap)s + 1 rows (River UI's "10,000+"): exact up to the cap, "more than the cap" above it. One branch
-- per status, each a range of jobs_workspace_status_idx that stops at the cap: counting every row was
-- 130 ms at 200,000 queued jobs and grows with the backlog (docs/benchmarks.md).
-- The ORDER BY is the index's own: without it a generic plan (LIMIT unknown) chose a sequential scan.
SELECT 'QUEUED' AS status, count(*) AS n
FROM (SELECT 1 FROM jobs WHERE workspace_id = %(workspace_id)s AND status = 'QUEUED'
      ORDER BY created_at DESC, id DESC LIMIT %(cap)s + 1) AS q
UNION ALL
SELECT 'IN_PROGRESS', count(*)
FROM (SELECT 1 FROM jobs WHERE workspace_id = %(workspace_id)s AND status = 'IN_PROGRESS'
      ORDER BY created_at DESC, id DESC LIMIT %(cap)s + 1) AS r;

-- run_export_failure_upsert --
-- An export refused by its limits (deterministic for the run): remembered so that nobody re-queues it.
INSERT INTO run_export_failures (run_id, format, kind, message)
VALUES (%(id)s, %(format)s, %(kind)s, %(message)s)
ON CONFLICT (run_id, format) DO UPDATE
SET kind = excluded.kind, message = excluded.message, created_at = now();

-- run_export_failure_get --
SELECT f.format, f.kind, f.message, f.created_at
FROM run_export_failures f JOIN runs r ON r.id = f.run_id
WHERE f.run_id = %(id)s AND r.workspace_id = %(workspace_id)s AND f.format = %(format)s;

-- run_export_failures_list --
-- Every refused download of a run (the run page shows them beside the download links).
SELECT f.format, f.kind, f.message
FROM run_export_failures f JOIN runs r ON r.id = f.run_id
WHERE f.run_id = %(id)s AND r.workspace_id = %(workspace_id)s
ORDER BY f.format;
