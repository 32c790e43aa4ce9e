-- audit_record --
-- One audit event. A token's principal carries no email: it is read from the user at write time, so the
-- row still says who it was after the user is gone.
INSERT INTO audit_events (workspace_id, actor_id, actor_email, action, target, detail, address)
VALUES (%(workspace_id)s, %(actor_id)s,
        coalesce(nullif(%(actor_email)s, ''), (SELECT email FROM users WHERE id = %(actor_id)s), ''),
        %(action)s, %(target)s, %(detail)s, %(address)s)
RETURNING id, at;

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
