-- workspace_create --
-- A new workspace (``reportgen workspaces create NAME``).
INSERT INTO workspaces (name) VALUES (%(name)s) RETURNING id, name, created_at;

-- user_upsert --
-- Create a user, or find the existing one by email (case-insensitive); a given password hash replaces the old.
INSERT INTO users (email, display_name, password_hash)
VALUES (%(email)s, %(display_name)s, %(password_hash)s)
ON CONFLICT (lower(email)) DO UPDATE
    SET password_hash = coalesce(EXCLUDED.password_hash, users.password_hash), updated_at = now()
RETURNING id, email, display_name, created_at;

-- user_by_email --
SELECT id, email, display_name, password_hash, created_at FROM users WHERE lower(email) = lower(%(email)s);

-- users_list --
-- Every user with their memberships, for ``reportgen users list``.
SELECT u.id, u.email, u.display_name, m.workspace_id, m.role
FROM users u LEFT JOIN memberships m ON m.user_id = u.id
ORDER BY lower(u.email), m.workspace_id;

-- membership_upsert --
INSERT INTO memberships (user_id, workspace_id, role) VALUES (%(user_id)s, %(workspace_id)s, %(role)s)
ON CONFLICT (user_id, workspace_id) DO UPDATE SET role = EXCLUDED.role
RETURNING user_id, workspace_id, role;

-- membership_get --
SELECT role FROM memberships WHERE user_id = %(user_id)s AND workspace_id = %(workspace_id)s;

-- token_create --
INSERT INTO api_tokens (token_hash, user_id, workspace_id, name, expires_at)
VALUES (%(token_hash)s, %(user_id)s, %(workspace_id)s, %(name)s, %(expires_at)s)
RETURNING id, name, workspace_id, created_at, expires_at;

-- token_authenticate --
-- The principal behind a bearer token: live (not revoked, not expired) and its user still a member.
SELECT t.id, t.user_id, t.workspace_id, m.role, t.last_used_at
FROM api_tokens t JOIN memberships m ON m.user_id = t.user_id AND m.workspace_id = t.workspace_id
WHERE t.token_hash = %(token_hash)s AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now());

-- token_touch --
-- last_used_at, written at most once a minute per token (no write on every request).
UPDATE api_tokens SET last_used_at = now()
WHERE id = %(id)s AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute');

-- token_revoke --
-- By id or by the token itself; revoking twice changes nothing.
UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now())
WHERE id = %(id)s OR token_hash = %(token_hash)s
RETURNING id, name, revoked_at;
