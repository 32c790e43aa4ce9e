-- Named queries of share links (common/shares.py): read-only links to one finished run, for people
-- without an account. Only the sha256 of a link's token is stored.

-- share_create --
-- A new link to a run of the workspace (the caller checked that the run is COMPLETED).
INSERT INTO share_links (token_hash, workspace_id, run_id, created_by, expires_at)
SELECT %(token_hash)s, r.workspace_id, r.id, %(created_by)s, %(expires_at)s
FROM runs r WHERE r.id = %(run_id)s AND r.workspace_id = %(workspace_id)s
RETURNING id, run_id, created_by, created_at, expires_at, revoked_at;

-- share_list_for_run --
-- A run's links, newest first, without their tokens (never stored) or hashes.
SELECT s.id, s.run_id, s.created_by, s.created_at, s.expires_at, s.revoked_at,
       s.revoked_at IS NULL AND (s.expires_at IS NULL OR s.expires_at > now()) AS active
FROM share_links s
WHERE s.run_id = %(run_id)s AND s.workspace_id = %(workspace_id)s
ORDER BY s.created_at DESC, s.id DESC;

-- share_revoke --
-- Revoking twice changes nothing (the first time is kept); another workspace's link matches no row.
UPDATE share_links SET revoked_at = coalesce(revoked_at, now())
WHERE id = %(id)s AND workspace_id = %(workspace_id)s
RETURNING id, run_id, created_by, created_at, expires_at, revoked_at;

-- share_resolve --
-- What a live link opens: its run and workspace. Revoked, expired or unknown: no row (the page is a 404).
SELECT s.id, s.run_id, s.workspace_id
FROM share_links s
WHERE s.token_hash = %(token_hash)s AND s.revoked_at IS NULL AND (s.expires_at IS NULL OR s.expires_at > now());
