-- Named queries of schedules, their fires and deliveries (issue 13). Every API statement is scoped to a
-- workspace; the scheduler's claim reads due schedules of every workspace through schedules_due_idx.

-- schedule_insert --
INSERT INTO schedules (workspace_id, template_id, owner_id, parameters, cron, timezone, emails, webhooks,
                       formats, enabled, webhook_secret, next_fire_at)
VALUES (%(workspace_id)s, %(template_id)s, %(owner_id)s, %(parameters)s, %(cron)s, %(timezone)s, %(emails)s,
        %(webhooks)s, %(formats)s, %(enabled)s, %(webhook_secret)s, %(next_fire_at)s)
RETURNING id;

-- schedule_get --
SELECT s.id, s.workspace_id, s.template_id, t.name AS template_name, s.owner_id, u.email AS owner_email,
       s.parameters, s.cron, s.timezone, s.emails, s.webhooks, s.formats, s.enabled, s.next_fire_at,
       s.last_fire_at, s.created_at, s.updated_at
FROM schedules s JOIN templates t ON t.id = s.template_id LEFT JOIN users u ON u.id = s.owner_id
WHERE s.id = %(id)s AND s.workspace_id = %(workspace_id)s;

-- schedule_list --
-- A workspace's schedules, of one template when %(template_id)s is set, newest first.
SELECT s.id, s.workspace_id, s.template_id, t.name AS template_name, s.owner_id, s.parameters, s.cron,
       s.timezone, s.emails, s.webhooks, s.formats, s.enabled, s.next_fire_at, s.last_fire_at, s.created_at,
       s.updated_at
FROM schedules s JOIN templates t ON t.id = s.template_id
WHERE s.workspace_id = %(workspace_id)s
  AND (%(template_id)s::uuid IS NULL OR s.template_id = %(template_id)s::uuid)
ORDER BY s.created_at DESC
LIMIT %(limit)s;

-- schedule_update --
UPDATE schedules SET parameters = %(parameters)s, cron = %(cron)s, timezone = %(timezone)s,
                     emails = %(emails)s, webhooks = %(webhooks)s, formats = %(formats)s,
                     enabled = %(enabled)s, next_fire_at = %(next_fire_at)s
WHERE id = %(id)s AND workspace_id = %(workspace_id)s
RETURNING id;

-- schedule_delete --
DELETE FROM schedules WHERE id = %(id)s AND workspace_id = %(workspace_id)s RETURNING id;

-- schedule_claim_due --
-- The scheduler's tick: enabled schedules whose next fire is due, oldest first, locked so that another
-- worker's tick skips them (it takes the next ones, or nothing). One range of schedules_due_idx.
-- NO KEY UPDATE (the tick changes no key): a concurrent "run now" of the same schedule inserts its fire
-- (whose foreign key takes KEY SHARE) without waiting for the tick, which may be waiting for that
-- request's workspace quota lock: FOR UPDATE would make that a deadlock.
SELECT id, workspace_id, template_id, parameters, cron, timezone, next_fire_at
FROM schedules
WHERE enabled AND next_fire_at <= %(now)s
ORDER BY next_fire_at
LIMIT %(limit)s
FOR NO KEY UPDATE SKIP LOCKED;

-- schedule_advance --
UPDATE schedules SET next_fire_at = %(next_fire_at)s, last_fire_at = %(last_fire_at)s WHERE id = %(id)s;

-- schedule_secret --
SELECT webhook_secret FROM schedules WHERE id = %(id)s AND workspace_id = %(workspace_id)s;

-- fire_insert --
-- Zero rows: that fire time is recorded already (another worker's tick, or an earlier attempt).
INSERT INTO schedule_fires (schedule_id, workspace_id, fire_at, outcome, manual, run_id, error)
VALUES (%(schedule_id)s, %(workspace_id)s, %(fire_at)s, %(outcome)s, %(manual)s, %(run_id)s, %(error)s)
ON CONFLICT (schedule_id, fire_at) DO NOTHING
RETURNING id;

-- fire_list --
-- A schedule's fires, newest first, with the run's status (skipped fires have none).
SELECT f.id, f.fire_at, f.outcome, f.manual, f.run_id, f.error, f.created_at, r.status AS run_status
FROM schedule_fires f LEFT JOIN runs r ON r.id = f.run_id
WHERE f.schedule_id = %(schedule_id)s AND f.workspace_id = %(workspace_id)s
ORDER BY f.fire_at DESC
LIMIT %(limit)s;

-- delivery_insert_for_run --
-- The run of a fire finished: one delivery per recipient of its schedule (none twice: unique per fire,
-- channel and recipient). Returns the new rows; a repeated call returns none.
INSERT INTO deliveries (workspace_id, schedule_id, fire_id, run_id, fire_at, channel, recipient)
SELECT f.workspace_id, f.schedule_id, f.id, f.run_id, f.fire_at, r.channel, r.recipient
FROM schedule_fires f JOIN schedules s ON s.id = f.schedule_id
CROSS JOIN LATERAL (SELECT 'email' AS channel, e AS recipient FROM unnest(s.emails) e
                    UNION ALL SELECT 'webhook', w FROM unnest(s.webhooks) w) r
WHERE f.run_id = %(run_id)s AND f.workspace_id = %(workspace_id)s
ON CONFLICT (fire_id, channel, recipient) DO NOTHING
RETURNING id;

-- delivery_insert_for_fire --
-- A fire that made no run (FAILED): its failure notices, one per recipient.
INSERT INTO deliveries (workspace_id, schedule_id, fire_id, run_id, fire_at, channel, recipient)
SELECT f.workspace_id, f.schedule_id, f.id, NULL, f.fire_at, r.channel, r.recipient
FROM schedule_fires f JOIN schedules s ON s.id = f.schedule_id
CROSS JOIN LATERAL (SELECT 'email' AS channel, e AS recipient FROM unnest(s.emails) e
                    UNION ALL SELECT 'webhook', w FROM unnest(s.webhooks) w) r
WHERE f.id = %(fire_id)s
ON CONFLICT (fire_id, channel, recipient) DO NOTHING
RETURNING id;

-- delivery_insert_owner_notice --
-- A delivery failed for good: tell the schedule's owner (one notice per fire, however many failed).
INSERT INTO deliveries (workspace_id, schedule_id, fire_id, run_id, fire_at, channel, recipient)
SELECT d.workspace_id, d.schedule_id, d.fire_id, d.run_id, d.fire_at, 'owner', %(email)s
FROM deliveries d WHERE d.id = %(id)s
ON CONFLICT (fire_id, channel, recipient) DO NOTHING
RETURNING id;

-- delivery_set_job --
UPDATE deliveries SET job_id = %(job_id)s WHERE id = %(id)s;

-- delivery_get --
-- What a DELIVER job needs: the delivery, its schedule, template, run and fire.
SELECT d.id, d.workspace_id, d.schedule_id, d.fire_id, d.run_id, d.fire_at, d.channel, d.recipient,
       d.status, d.attempts, s.parameters, s.formats, s.owner_id, s.webhook_secret, t.name AS template_name,
       r.status AS run_status, r.error AS run_error, r.completed_at AS run_finished_at, f.error AS fire_error,
       f.outcome AS fire_outcome
FROM deliveries d
JOIN schedules s ON s.id = d.schedule_id
JOIN templates t ON t.id = s.template_id
JOIN schedule_fires f ON f.id = d.fire_id
LEFT JOIN runs r ON r.id = d.run_id
WHERE d.id = %(id)s AND d.workspace_id = %(workspace_id)s;

-- delivery_record_attempt --
-- One attempt's outcome: the history row, and the delivery's status (PENDING while attempts are left).
WITH attempt AS (
    INSERT INTO delivery_attempts (delivery_id, attempt, outcome, error)
    VALUES (%(id)s, %(attempt)s, %(outcome)s, %(error)s)
)
UPDATE deliveries SET attempts = GREATEST(attempts, %(attempt)s), status = %(status)s,
                      last_error = CASE WHEN %(outcome)s = 'failed' THEN %(error)s ELSE last_error END,
                      delivered_at = CASE WHEN %(status)s = 'DELIVERED' THEN now() ELSE delivered_at END
WHERE id = %(id)s AND status <> 'DELIVERED'
RETURNING id, delivered_at;

-- delivery_list --
-- A schedule's deliveries, newest first, each with its attempt history.
SELECT d.id, d.fire_id, d.run_id, d.fire_at, d.channel, d.recipient, d.status, d.attempts, d.last_error,
       d.delivered_at, d.created_at, d.job_id,
       COALESCE((SELECT json_agg(json_build_object('attempt', a.attempt, 'outcome', a.outcome,
                                                   'error', a.error, 'at', a.at) ORDER BY a.id)
                 FROM delivery_attempts a WHERE a.delivery_id = d.id), '[]'::json) AS history
FROM deliveries d
WHERE d.schedule_id = %(schedule_id)s AND d.workspace_id = %(workspace_id)s
ORDER BY d.created_at DESC, d.id
LIMIT %(limit)s;

-- run_export_get_data --
SELECT data, filename, media_type FROM run_exports WHERE run_id = %(run_id)s AND format = %(format)s;

-- user_email --
-- A schedule owner's address, for the notice of a failed delivery.
SELECT email FROM users WHERE id = %(id)s;

-- delivery_failed_of_fire --
SELECT channel, recipient, last_error FROM deliveries
WHERE fire_id = %(fire_id)s AND status = 'FAILED' AND channel <> 'owner' ORDER BY recipient;
