-- members_list --
-- A workspace's members for the admin's page and GET /api/members. has_password: false while an
-- invite has not been accepted yet.
SELECT u.id AS user_id, u.email, u.display_name, m.role, m.created_at, u.password_hash IS NOT NULL AS has_password
FROM memberships m JOIN users u ON u.id = m.user_id
WHERE m.workspace_id = %(workspace_id)s
ORDER BY lower(u.email);

-- member_get --
SELECT u.id AS user_id, u.email, u.display_name, m.role, m.created_at, u.password_hash IS NOT NULL AS has_password
FROM memberships m JOIN users u ON u.id = m.user_id
WHERE m.workspace_id = %(workspace_id)s AND m.user_id = %(user_id)s;

-- member_other_workspaces --
-- How many other workspaces a user belongs to: an invite link (which sets the password) is only made for
-- a user who has no password and no other workspace, so no admin can take over someone else's account.
SELECT count(*) AS n FROM memberships WHERE user_id = %(user_id)s AND workspace_id <> %(workspace_id)s;

-- members_admins_lock --
-- The workspace's admins, locked (in user order, so two changes cannot deadlock): a demotion or a removal
-- counts them under the lock, so two concurrent ones cannot both remove "one of two" admins.
SELECT user_id FROM memberships
WHERE workspace_id = %(workspace_id)s AND role = 'admin'
ORDER BY user_id
FOR UPDATE;

-- member_set_role --
UPDATE memberships SET role = %(role)s
WHERE workspace_id = %(workspace_id)s AND user_id = %(user_id)s
RETURNING user_id, role;

-- member_delete --
DELETE FROM memberships WHERE workspace_id = %(workspace_id)s AND user_id = %(user_id)s RETURNING user_id, role;

-- member_tokens_revoke --
-- A removed member's tokens in that workspace end (re-adding the member later does not bring them back).
UPDATE api_tokens SET revoked_at = now()
WHERE workspace_id = %(workspace_id)s AND user_id = %(user_id)s AND revoked_at IS NULL;

-- member_sessions_revoke --
UPDATE sessions SET revoked_at = now()
WHERE workspace_id = %(workspace_id)s AND user_id = %(user_id)s AND revoked_at IS NULL;

-- member_invites_void --
-- A removed member's unused links into that workspace are spent.
UPDATE invites SET used_at = now()
WHERE workspace_id = %(workspace_id)s AND user_id = %(user_id)s AND used_at IS NULL;

-- tokens_of_member --
-- The caller's own tokens in this workspace (never the hash), live ones first, newest first.
SELECT id, name, created_at, last_used_at, expires_at, revoked_at,
       (expires_at IS NOT NULL AND expires_at <= now()) AS expired
FROM api_tokens
WHERE workspace_id = %(workspace_id)s AND user_id = %(user_id)s AND revoked_at IS NULL
ORDER BY created_at DESC
LIMIT 500;

-- token_revoke_in_workspace --
-- Revoke one live token of this workspace: the caller's own (user_id given) or any (an admin: user_id
-- NULL). A token revoked already matches nothing (404), so the audit log gets one token.revoked per token.
UPDATE api_tokens SET revoked_at = now()
WHERE id = %(id)s AND workspace_id = %(workspace_id)s AND revoked_at IS NULL
  AND (%(user_id)s::uuid IS NULL OR user_id = %(user_id)s::uuid)
RETURNING id, name, user_id, revoked_at;
