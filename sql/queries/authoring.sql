-- Named queries of template history (restore) and the datasets page (list, usage, delete).
-- Every statement is scoped to a workspace (%(workspace_id)s).

-- template_version_restore --
-- "Restore version n": a NEW version whose body and parameters are version n's, made under the template's
-- row lock like an edit (concurrent saves serialise). Old versions are never changed. Zero rows: no such
-- template or version in the workspace, or the template is archived.
WITH source AS (
    SELECT v.body, v.parameters
    FROM template_versions v JOIN templates t ON t.id = v.template_id
    WHERE v.template_id = %(id)s AND v.version = %(version)s AND t.workspace_id = %(workspace_id)s
), bumped AS (
    UPDATE templates SET current_version = current_version + 1
    WHERE id = %(id)s AND workspace_id = %(workspace_id)s AND archived_at IS NULL
      AND EXISTS (SELECT 1 FROM source)
    RETURNING id, current_version
)
INSERT INTO template_versions (template_id, version, body, parameters, author_id, restored_from)
SELECT b.id, b.current_version, s.body, s.parameters, %(author_id)s, %(version)s FROM bumped b, source s
RETURNING version;

-- dataset_list --
-- The workspace's uploads, newest first, without their content.
SELECT id, filename, size_bytes, columns, row_count, created_at FROM datasets
WHERE workspace_id = %(workspace_id)s
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s;

-- dataset_set_shape --
-- Columns and row count of an upload made before they were recorded at upload time.
UPDATE datasets SET columns = %(columns)s, row_count = %(row_count)s
WHERE id = %(id)s AND workspace_id = %(workspace_id)s;

-- dataset_usage --
-- Where the datasets %(ids)s (canonical UUID text) are used: as a live template's sample, in a schedule's
-- parameters (datasets are named by id as JSON string values there), and by runs (run_datasets: one row per
-- dataset with how many runs and the latest, each an index range of run_datasets_dataset_idx).
WITH wanted AS (SELECT DISTINCT unnest(%(ids)s::text[]) AS id)
SELECT s.value AS dataset_id, 'template' AS kind, t.id AS ref_id, t.name AS label, s.key AS parameter,
       NULL::text AS detail, 1 AS uses
FROM templates t CROSS JOIN LATERAL jsonb_each_text(t.sample_datasets) s
JOIN wanted w ON w.id = s.value
WHERE t.workspace_id = %(workspace_id)s AND t.archived_at IS NULL
UNION ALL
SELECT p.value, 'schedule', sc.id, t.name, p.key,
       sc.cron || ' ' || sc.timezone || CASE WHEN sc.enabled THEN '' ELSE ' (paused)' END, 1
FROM schedules sc
JOIN templates t ON t.id = sc.template_id
CROSS JOIN LATERAL jsonb_each_text(sc.parameters) p
JOIN wanted w ON w.id = p.value
WHERE sc.workspace_id = %(workspace_id)s
UNION ALL
SELECT w.id, 'run', latest.run_id, NULL, NULL, NULL, counted.runs
FROM wanted w
CROSS JOIN LATERAL (SELECT rd.run_id FROM run_datasets rd
                    WHERE rd.dataset_id = w.id::uuid AND rd.workspace_id = %(workspace_id)s
                    ORDER BY rd.created_at DESC, rd.run_id DESC LIMIT 1) latest
CROSS JOIN LATERAL (SELECT count(*)::integer AS runs FROM run_datasets rd
                    WHERE rd.dataset_id = w.id::uuid AND rd.workspace_id = %(workspace_id)s) counted
ORDER BY 1, 2, 4;

-- run_datasets_insert --
-- The datasets a new run names (in the run's transaction).
INSERT INTO run_datasets (run_id, dataset_id, workspace_id)
SELECT %(run_id)s, d, %(workspace_id)s FROM unnest(%(dataset_ids)s::uuid[]) AS d
ON CONFLICT DO NOTHING;

-- dataset_delete --
-- Delete an upload and, in the same statement, take it out of templates' samples (the run form would
-- otherwise offer a file that is gone). Runs and schedules keep the id: a finished run keeps its report,
-- a schedule's next fire fails with "the dataset no longer exists" and its recipients are told.
WITH gone AS (
    DELETE FROM datasets WHERE id = %(id)s AND workspace_id = %(workspace_id)s
    RETURNING id, filename
), unsampled AS (
    UPDATE templates t
    SET sample_datasets = (SELECT coalesce(jsonb_object_agg(e.key, e.value), '{}'::jsonb)
                           FROM jsonb_each(t.sample_datasets) e WHERE e.value <> to_jsonb(%(id)s::text))
    WHERE t.workspace_id = %(workspace_id)s AND EXISTS (SELECT 1 FROM gone)
      AND EXISTS (SELECT 1 FROM jsonb_each_text(t.sample_datasets) e WHERE e.value = %(id)s::text)
    RETURNING t.id
), unlinked AS (
    DELETE FROM run_datasets WHERE dataset_id = (SELECT id FROM gone) AND workspace_id = %(workspace_id)s
)
SELECT g.id, g.filename, (SELECT count(*) FROM unsampled)::integer AS templates_unsampled FROM gone g;
