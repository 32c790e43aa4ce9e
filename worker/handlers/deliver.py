"""DELIVER {delivery_id}: send one finished scheduled run (or its failure notice) to one recipient.

Each attempt is recorded in delivery_attempts and on the delivery (status, attempts, last_error,
delivered_at). A failed attempt raises, so the queue retries it with its backoff; the last one marks the
delivery FAILED, counts it in ``reportgen_deliveries_total{outcome="failed"}`` and tells the schedule's
owner by e-mail (one more delivery, channel 'owner', to ``users.email`` of ``schedules.owner_id``; skipped
with a logged reason when there is no owner or no ``SMTP_URL``). A refused webhook target (a
private address) fails at once: retrying cannot change the answer.

Idempotent: a delivery already DELIVERED is not sent again, so a worker killed between sending and
recording can at most repeat that one send (at-least-once, like every job). The PDF comes from the
EXPORT path: when START_RUN's EXPORT job has not stored it yet, this attempt makes it (same function,
same row) instead of waiting.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from common import deliveries, mailer
from common.sql import query
from worker import delivery_content, webhooks
from worker.context import JobContext
from worker.handlers.export import make_export

log = logging.getLogger(__name__)


class DeliveryRefused(Exception):
    """A permanent refusal: the job fails now instead of burning its retries."""


async def _pdf(ctx: JobContext, conn: Any, run_id: str) -> tuple[str, str, bytes] | None:
    cur = await conn.execute(query("run_export_get_data"), {"run_id": run_id, "format": "pdf"})
    row = await cur.fetchone()
    if row is None:
        await make_export(ctx, run_id, "pdf")
        cur = await conn.execute(query("run_export_get_data"), {"run_id": run_id, "format": "pdf"})
        row = await cur.fetchone()
    return (row["filename"], row["media_type"], bytes(row["data"])) if row else None


async def _send(ctx: JobContext, d: dict[str, Any]) -> None:
    settings = ctx.settings
    base = settings.public_base_url
    if d["channel"] == "webhook":
        body = delivery_content.webhook_body(d, base)
        try:
            await ctx.run_in_thread(lambda: webhooks.post(d["recipient"], body, d["webhook_secret"],
                                                          allow_private=settings.webhook_allow_private))
        except webhooks.WebhookRefused as exc:
            raise DeliveryRefused(str(exc)) from None
        return
    if d["channel"] == "owner":
        async with ctx.pool.connection() as conn:
            cur = await conn.execute(query("delivery_failed_of_fire"), {"fire_id": d["fire_id"]})
            failed = await cur.fetchall()
        mail = delivery_content.owner_notice(d, failed, base)
    else:
        attachment, too_large = None, False
        if d["run_status"] == "COMPLETED" and "pdf" in d["formats"]:
            async with ctx.pool.connection() as conn:
                attachment = await _pdf(ctx, conn, str(d["run_id"]))
            if attachment and len(attachment[2]) > settings.max_attachment_bytes:
                attachment, too_large = None, True
        mail = delivery_content.email(d, base, attachment, too_large)
    await ctx.run_in_thread(mailer.send, settings.smtp_url, settings.smtp_from, mail)


async def _record(ctx: JobContext, d: dict[str, Any], outcome: str, status: str, error: str | None) -> Any:
    async with ctx.pool.connection() as conn, conn.transaction():
        cur = await conn.execute(query("delivery_record_attempt"), {
            "id": d["id"], "attempt": ctx.attempt, "outcome": outcome, "status": status, "error": error})
        row = await cur.fetchone()
        if status == "FAILED" and d["channel"] != "owner":
            await _tell_owner(ctx, conn, d)
    return row


async def _tell_owner(ctx: JobContext, conn: Any, d: dict[str, Any]) -> None:
    """A delivery failed for good: one e-mail to the schedule's owner per fire (a DELIVER to channel
    'owner', in the transaction that records the failure), or a log line saying why nobody is told."""
    email = await _owner_email(conn, d["owner_id"])
    if d["owner_id"] is None:
        reason = "the schedule has no owner (made before accounts, or anonymously)"
    elif email is None:
        reason = "the schedule's owner is no longer a user"
    elif not ctx.settings.smtp_url:
        reason = "SMTP_URL is not set"
    if email is None or not ctx.settings.smtp_url:
        log.warning("owner not told of a failed delivery: %s", reason,
                    extra={"delivery_id": str(d["id"]), "schedule_id": str(d["schedule_id"])})
        return
    made = await deliveries.enqueue_owner_notice(conn, ctx.workspace_id, str(d["id"]), email)
    log.info("owner told of a failed delivery" if made else "owner already told of this fire's failures",
             extra={"delivery_id": str(d["id"]), "schedule_id": str(d["schedule_id"])})


async def _owner_email(conn: Any, owner_id: Any) -> str | None:
    if owner_id is None:
        return None
    cur = await conn.execute(query("user_email"), {"id": owner_id})
    row = await cur.fetchone()
    return str(row["email"]) if row and row.get("email") else None


def _count(ctx: JobContext, metric: str, channel: str, outcome: str) -> None:
    if ctx.metrics is not None:
        getattr(ctx.metrics, metric).labels(channel=channel, outcome=outcome).inc()


async def deliver(ctx: JobContext) -> dict[str, Any]:
    delivery_id = str(ctx.payload.get("delivery_id", ""))
    async with ctx.pool.connection() as conn:
        cur = await conn.execute(query("delivery_get"), {"id": delivery_id, "workspace_id": ctx.workspace_id})
        d = await cur.fetchone()
    if d is None:
        return {"delivery_id": delivery_id, "skipped": "no such delivery in this workspace"}
    if d["status"] == "DELIVERED":
        return {"delivery_id": delivery_id, "skipped": "delivered already"}
    channel = d["channel"]
    try:
        await _send(ctx, d)
    except (DeliveryRefused, webhooks.WebhookFailed, mailer.MailFailed) as exc:
        last = isinstance(exc, DeliveryRefused) or ctx.attempt >= ctx.max_attempts
        await _record(ctx, d, "failed", "FAILED" if last else "PENDING", str(exc)[:2000])
        _count(ctx, "delivery_attempts", channel, "failed")
        if last:
            _count(ctx, "deliveries", channel, "failed")
            log.warning("delivery failed for good", extra={"delivery_id": delivery_id, "channel": channel})
            if isinstance(exc, DeliveryRefused):
                return {"delivery_id": delivery_id, "status": "FAILED", "error": str(exc)}
        raise
    row = await _record(ctx, d, "delivered", "DELIVERED", None)
    _count(ctx, "delivery_attempts", channel, "delivered")
    _count(ctx, "deliveries", channel, "delivered")
    if ctx.metrics is not None and row is not None:
        lag = (row["delivered_at"] - d["fire_at"]).total_seconds()
        ctx.metrics.delivery_lag.labels(channel=channel).observe(max(0.0, lag))
    return {"delivery_id": delivery_id, "status": "DELIVERED", "channel": channel, "attempt": ctx.attempt,
            "delivered_at": (row["delivered_at"] if row else dt.datetime.now(dt.UTC)).isoformat()}


HANDLERS = {"DELIVER": deliver}
