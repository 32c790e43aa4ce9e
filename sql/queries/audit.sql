-- audit_record --
-- One audit event. A token's principal carries no email: it is read from the user at write time, so the
-- row still says who it was after the user is gone.
INSERT INTO audit_events (workspace_id, actor_id, actor_email, action, target, detail, address)
VALUES (%(workspace_id)s, %(actor_id)s,
        coalesce(nullif(%(actor_email)s, ''), (SELECT email FROM users WHERE id = %(actor_id)s), ''),
        %(action)s, %(target)s, %(detail)s, %(address)s)
RETURNING id, at;

-- audit_sign_in_failed --
-- A failed sign-in, recorded in every workspace of the account the email names, or in the deployment's
-- default workspace when it names no account (or one without a workspace).
INSERT INTO audit_events (workspace_id, actor_id, actor_email, action, target, detail, address)
SELECT coalesce(m.workspace_id, %(default_workspace_id)s::uuid), NULL, %(email)s, 'signin.failed', %(email)s,
       '{}', %(address)s
FROM (SELECT 1) AS one
LEFT JOIN users u ON lower(u.email) = lower(%(email)s)
LEFT JOIN memberships m ON m.user_id = u.id;

-- audit_list --
-- A workspace's events, newest first, one page older than the cursor ``before`` (an event id; NULL: the newest).
SELECT id, actor_id, actor_email, action, target, detail, address, at
FROM audit_events
WHERE workspace_id = %(workspace_id)s AND (%(before)s::bigint IS NULL OR id < %(before)s::bigint)
ORDER BY id DESC
LIMIT %(limit)s;

-- audit_prune --
-- Housekeeping: a batch of events older than AUDIT_RETENTION_DAYS, oldest first (audit_events_at_idx).
DELETE FROM audit_events WHERE id = ANY(ARRAY(
    SELECT id FROM audit_events
    WHERE at < now() - make_interval(secs => %(retention_seconds)s)
    ORDER BY at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
));
