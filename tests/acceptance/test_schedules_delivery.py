"""Schedules end to end: real worker processes, a real SMTP server, a real webhook receiver."""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import Any

import pypdf

from tests.support.databases import connect
from tests.support.processes import wait_for
from tests.support.receivers import Hook, smtp_server, webhook_receiver
from tests.support.schedules import fires_of, make_schedule, make_template

SECRET = "whsec_acceptance"


def _deliveries(url: str, schedule: str) -> list[dict[str, Any]]:
    with connect(url) as conn:
        return conn.execute("SELECT d.*, (SELECT count(*) FROM delivery_attempts a WHERE a.delivery_id = d.id) AS "
                            "history FROM deliveries d WHERE schedule_id = %s ORDER BY fire_at, channel",
                            (schedule,)).fetchall()


def _workers(services: Any, url: str, smtp_url: str, count: int) -> list[Any]:
    return [services("worker", url, POLL_INTERVAL_SECONDS=1, SMTP_URL=smtp_url, SMTP_FROM="reports@example.com",
                     WEBHOOK_ALLOW_PRIVATE=1, RETRY_BACKOFF_SECONDS=0.2, PUBLIC_BASE_URL="https://reports.example")
            for _ in range(count)]


def test_three_workers_one_run_per_fire_with_pdf_mail_and_signed_webhook(database_url, services):
    hook = Hook(SECRET)
    with smtp_server() as (smtp_url, messages), webhook_receiver(hook) as hook_url:
        template = make_template(database_url)
        now = dt.datetime.now(dt.UTC)
        schedule = make_schedule(database_url, template, cron="* * * * *", next_fire_at=now.replace(second=0,
                                 microsecond=0), emails=["boss@example.com"], webhooks=[hook_url], secret=SECRET)
        _workers(services, database_url, smtp_url, 3)
        wait_for(lambda: len([d for d in _deliveries(database_url, schedule) if d["status"] == "DELIVERED"]) >= 4,
                 timeout=120, interval=0.5, message="two fires delivered to both recipients")
        fires = [f for f in fires_of(database_url, schedule) if f["outcome"] == "RUN"]
        assert len(fires) >= 2
        assert len({f["fire_at"] for f in fires}) == len(fires), "one run per fire time"
        with connect(database_url) as conn:
            runs = conn.execute("SELECT count(*) AS n FROM runs").fetchone()["n"]
        assert runs == len(fires)
        delivered = [d for d in _deliveries(database_url, schedule) if d["status"] == "DELIVERED"]
        assert all(d["attempts"] == 1 and d["history"] == 1 for d in delivered)
        mails = [m for m in messages if m["To"] == "boss@example.com"]
        assert len(mails) >= 2
        for mail in mails[:2]:
            assert mail["Subject"] == "Report: Weekly sales" and mail["From"] == "reports@example.com"
            assert "region: west" in mail.get_body(("plain",)).get_content()
            assert "https://reports.example/runs/" in mail.get_body(("html",)).get_content()
            [pdf] = [p for p in mail.iter_attachments() if p.get_content_type() == "application/pdf"]
            text = "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf.get_content())).pages)
            assert "42" in text and "west" in text
        assert len(hook.received) >= 2 and all(r["signature_ok"] for r in hook.received)
        body = json.loads(hook.received[0]["body"])
        assert body["event"] == "run.finished" and body["status"] == "COMPLETED"
        assert body["template"] == "Weekly sales" and body["parameters"] == {"region": "west"}
        assert body["links"]["pdf"].startswith("https://reports.example/api/runs/")


def test_a_receiver_that_fails_twice_gets_it_on_the_third_attempt_with_the_history(database_url, services):
    hook = Hook(SECRET, fail_first=2)
    with smtp_server() as (smtp_url, _), webhook_receiver(hook) as hook_url:
        template = make_template(database_url)
        schedule = make_schedule(database_url, template, cron="0 0 1 1 *", emails=[], webhooks=[hook_url],
                                 next_fire_at=dt.datetime.now(dt.UTC), secret=SECRET)
        worker = _workers(services, database_url, smtp_url, 1)[0]
        wait_for(lambda: [d for d in _deliveries(database_url, schedule) if d["status"] != "PENDING"],
                 timeout=60, interval=0.3, message="the webhook delivery to end")
        [delivery] = _deliveries(database_url, schedule)
        assert (delivery["status"], delivery["attempts"], delivery["history"]) == ("DELIVERED", 3, 3)
        assert [r["status"] for r in hook.received] == [500, 500, 200]
        with connect(database_url) as conn:
            history = conn.execute("SELECT outcome, error FROM delivery_attempts WHERE delivery_id = %s ORDER BY id",
                                   (delivery["id"],)).fetchall()
        assert [h["outcome"] for h in history] == ["failed", "failed", "delivered"]
        assert "HTTP 500" in history[0]["error"]
        assert worker.metric("reportgen_deliveries_total", {"channel": "webhook", "outcome": "delivered"}) == 1


def test_a_failed_run_is_delivered_as_a_failure_notice(database_url, services):
    with smtp_server() as (smtp_url, messages):
        template = make_template(database_url, body="{{ 1 / 0 }}")
        schedule = make_schedule(database_url, template, cron="0 0 1 1 *", emails=["ops@example.com"],
                                 next_fire_at=dt.datetime.now(dt.UTC))
        _workers(services, database_url, smtp_url, 1)
        wait_for(lambda: messages, timeout=60, interval=0.3, message="the failure notice")
        [mail] = messages
        assert mail["Subject"] == "Report failed: Weekly sales"
        assert "failed" in mail.get_body(("plain",)).get_content()
        assert [d["status"] for d in _deliveries(database_url, schedule)] == ["DELIVERED"]


def test_kill_9_between_the_runs_end_and_its_delivery_delivers_exactly_once(database_url, services):
    with smtp_server() as (smtp_url, messages):
        template = make_template(database_url)
        schedule = make_schedule(database_url, template, cron="0 0 1 1 *", emails=["once@example.com"],
                                 next_fire_at=dt.datetime.now(dt.UTC))
        doomed = services("worker", database_url, POLL_INTERVAL_SECONDS=1, SMTP_URL=smtp_url, JOB_LEASE_SECONDS=2,
                          REPORTGEN_HANDLER_MODULES="tests.support.handlers,tests.support.handlers_stall_deliver")

        def deliver_in_progress() -> bool:
            with connect(database_url) as conn:
                return conn.execute("SELECT count(*) AS n FROM jobs WHERE type = 'DELIVER' AND status = "
                                    "'IN_PROGRESS'").fetchone()["n"] == 1
        wait_for(deliver_in_progress, timeout=60, interval=0.2, message="the DELIVER job to be claimed")
        doomed.process.kill()  # SIGKILL: the run is finished, its delivery claimed but not sent
        doomed.process.wait()
        assert messages == []
        _workers(services, database_url, smtp_url, 1)
        wait_for(lambda: [d for d in _deliveries(database_url, schedule) if d["status"] == "DELIVERED"],
                 timeout=60, interval=0.3, message="the delivery after the rescue")
        [delivery] = _deliveries(database_url, schedule)
        assert [m["To"] for m in messages] == ["once@example.com"]
        assert delivery["status"] == "DELIVERED"


def _owner(url: str, email: str) -> str:
    with connect(url) as conn:
        row = conn.execute("INSERT INTO users (email) VALUES (%s) RETURNING id", (email,)).fetchone()
    assert row is not None
    return str(row["id"])


def test_the_owner_is_mailed_once_when_deliveries_fail_for_good(database_url, services):
    hook = Hook(SECRET, fail_first=1000)  # answers 500 to every attempt
    with smtp_server() as (smtp_url, messages), webhook_receiver(hook) as hook_url:
        template = make_template(database_url)
        owner = _owner(database_url, "owner@example.com")
        schedule = make_schedule(database_url, template, cron="0 0 1 1 *", emails=[], secret=SECRET,
                                 webhooks=[hook_url, hook_url + "/second"], next_fire_at=dt.datetime.now(dt.UTC),
                                 owner_id=owner)
        _workers(services, database_url, smtp_url, 1)
        wait_for(lambda: [d for d in _deliveries(database_url, schedule) if d["channel"] == "owner"
                          and d["status"] == "DELIVERED"] and len(hook.received) == 10,
                 timeout=90, interval=0.3, message="both webhooks failed 5 times and the owner's notice")
        rows = _deliveries(database_url, schedule)
        assert sorted((d["channel"], d["status"], d["attempts"]) for d in rows) == [
            ("owner", "DELIVERED", 1), ("webhook", "FAILED", 5), ("webhook", "FAILED", 5)]
        [notice] = [m for m in messages if m["To"] == "owner@example.com"]
        assert notice["Subject"] == "Delivery failed: Weekly sales"
        text = notice.get_body(("plain",)).get_content()
        assert hook_url in text and "HTTP 500" in text
        assert f"https://reports.example/schedules/{schedule}" in text
        assert len(messages) == 1, "one notice per fire, however many deliveries failed"


def test_without_an_owner_or_without_smtp_nobody_is_told_and_the_log_says_why(database_url, services):
    template = make_template(database_url)
    owner = _owner(database_url, "owner@example.com")
    nobody = make_schedule(database_url, template, cron="0 0 1 1 *", emails=[], webhooks=["http://127.0.0.1:9/x"],
                           next_fire_at=dt.datetime.now(dt.UTC))
    no_smtp = make_schedule(database_url, template, cron="0 0 1 1 *", emails=[], webhooks=["http://127.0.0.1:9/y"],
                            next_fire_at=dt.datetime.now(dt.UTC), owner_id=owner)
    # No WEBHOOK_ALLOW_PRIVATE: loopback targets are refused, so each delivery fails for good at once.
    worker = services("worker", database_url, POLL_INTERVAL_SECONDS=1, RETRY_BACKOFF_SECONDS=0.2)
    wait_for(lambda: all(d["status"] == "FAILED" for s in (nobody, no_smtp) for d in _deliveries(database_url, s))
             and all(_deliveries(database_url, s) for s in (nobody, no_smtp)),
             timeout=60, interval=0.3, message="both deliveries to fail for good")
    wait_for(lambda: worker.log().count("owner not told of a failed delivery") >= 2, timeout=10,
             message="the reasons in the log")
    assert "the schedule has no owner" in worker.log() and "SMTP_URL is not set" in worker.log()
    for schedule in (nobody, no_smtp):
        assert [d["channel"] for d in _deliveries(database_url, schedule)] == ["webhook"]
