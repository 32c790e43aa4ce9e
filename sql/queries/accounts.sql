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
RETURNING id, name, revoked_at, workspace_id, user_id;

-- session_create --
-- A signed-in browser: the cookie's sha256, its workspace, an absolute expiry; idle expiry is checked
-- against last_seen_at when the session is used.
INSERT INTO sessions (token_hash, user_id, workspace_id, expires_at)
VALUES (%(token_hash)s, %(user_id)s, %(workspace_id)s, now() + make_interval(secs => %(max_seconds)s))
RETURNING id, user_id, workspace_id, expires_at;

-- session_authenticate --
-- The principal behind a session cookie: not revoked, within both expiries, its user still a member of
-- the session's workspace.
SELECT s.id, s.user_id, s.workspace_id, m.role, s.last_seen_at, u.email, u.display_name
FROM sessions s
JOIN memberships m ON m.user_id = s.user_id AND m.workspace_id = s.workspace_id
JOIN users u ON u.id = s.user_id
WHERE s.token_hash = %(token_hash)s AND s.revoked_at IS NULL AND s.expires_at > now()
  AND s.last_seen_at > now() - make_interval(secs => %(idle_seconds)s);

-- session_touch --
-- last_seen_at (the idle clock), written at most once a minute per session.
UPDATE sessions SET last_seen_at = now()
WHERE id = %(id)s AND last_seen_at < now() - interval '1 minute';

-- session_revoke --
-- Sign-out: the session ends server-side (the cookie alone no longer opens anything).
UPDATE sessions SET revoked_at = coalesce(revoked_at, now()) WHERE token_hash = %(token_hash)s
RETURNING id, user_id;

-- sessions_revoke_others --
-- After a password change: every other session of the user ends.
UPDATE sessions SET revoked_at = now()
WHERE user_id = %(user_id)s AND revoked_at IS NULL AND id IS DISTINCT FROM %(keep_id)s;

-- session_switch_workspace --
-- The switcher: the session acts in another workspace the user belongs to (NULL when not a member).
UPDATE sessions s SET workspace_id = m.workspace_id
FROM memberships m
WHERE s.id = %(id)s AND m.user_id = s.user_id AND m.workspace_id = %(workspace_id)s
RETURNING s.workspace_id, m.role;

-- memberships_of_user --
-- The workspaces a user belongs to, for the switcher.
SELECT m.workspace_id, w.name, m.role
FROM memberships m JOIN workspaces w ON w.id = m.workspace_id
WHERE m.user_id = %(user_id)s ORDER BY w.name, m.workspace_id;

-- invite_create --
-- A one-time link to set a password and sign in (an admin's invite, or `reportgen users create` and
-- `make run` without a password). Only its sha256 is kept.
INSERT INTO invites (token_hash, user_id, workspace_id, expires_at)
VALUES (%(token_hash)s, %(user_id)s, %(workspace_id)s, now() + make_interval(secs => %(valid_seconds)s))
RETURNING id, user_id, workspace_id, expires_at;

-- invite_get --
-- A live link (unused, unexpired) with its user, for the set-password page.
SELECT i.id, i.user_id, i.workspace_id, i.expires_at, u.email, u.display_name
FROM invites i JOIN users u ON u.id = i.user_id
WHERE i.token_hash = %(token_hash)s AND i.used_at IS NULL AND i.expires_at > now();

-- invite_use --
-- Spend the link: exactly one request can (the row lock makes a second concurrent use find used_at set).
UPDATE invites SET used_at = now()
WHERE token_hash = %(token_hash)s AND used_at IS NULL AND expires_at > now()
RETURNING id, user_id, workspace_id;

-- user_set_password --
UPDATE users SET password_hash = %(password_hash)s WHERE id = %(id)s RETURNING id, email;

-- user_by_id --
SELECT id, email, display_name, password_hash, created_at FROM users WHERE id = %(id)s;

-- users_with_password_count --
-- Whether anyone can sign in yet (``make run`` prints a first-admin link until someone can).
SELECT count(*) AS n FROM users WHERE password_hash IS NOT NULL;

-- sign_in_failures_recent --
-- Failed sign-ins within the throttle window for this account and this address, and when the oldest of
-- each leaves the window (for Retry-After).
SELECT
    (SELECT count(*) FROM sign_in_failures
      WHERE email_key = %(email_key)s AND at > now() - make_interval(secs => %(window_seconds)s)) AS by_account,
    (SELECT count(*) FROM sign_in_failures
      WHERE address = %(address)s AND at > now() - make_interval(secs => %(window_seconds)s)) AS by_address,
    (SELECT extract(epoch FROM min(at) + make_interval(secs => %(window_seconds)s) - now()) FROM sign_in_failures
      WHERE (email_key = %(email_key)s OR address = %(address)s)
        AND at > now() - make_interval(secs => %(window_seconds)s)) AS retry_after;

-- sign_in_failure_record --
-- One failure; failures older than a day (far outside any window) go at the same time.
WITH pruned AS (DELETE FROM sign_in_failures WHERE at < now() - interval '1 day')
INSERT INTO sign_in_failures (email_key, address) VALUES (%(email_key)s, %(address)s);

-- sign_in_failures_clear --
-- A successful sign-in forgets the account's failures (the address keeps its own).
DELETE FROM sign_in_failures WHERE email_key = %(email_key)s;

-- sign_in_candidate --
-- The user behind an email with their password hash and the workspace a new session starts in: the
-- deployment's default workspace when they belong to it, else their first membership.
SELECT u.id, u.email, u.password_hash,
       (SELECT m.workspace_id FROM memberships m WHERE m.user_id = u.id
        ORDER BY m.workspace_id = %(default_workspace_id)s DESC, m.created_at LIMIT 1) AS workspace_id
FROM users u WHERE lower(u.email) = %(email)s;
