-- run_datasets (sql/schema.sql) for the runs made before it existed: every run parameter whose value is the
-- id of one of the workspace's datasets. Idempotent (ON CONFLICT DO NOTHING); a fresh database has nothing
-- to fill and skips it.
INSERT INTO run_datasets (run_id, dataset_id, workspace_id, created_at)
SELECT r.id, d.id, r.workspace_id, r.created_at
FROM runs r
CROSS JOIN LATERAL jsonb_each_text(r.parameters) p
JOIN datasets d ON d.id::text = p.value AND d.workspace_id = r.workspace_id
ON CONFLICT DO NOTHING;
