"""Schedule pages against a real web process: editors manage, viewers see, other workspaces are 404; and
in Chromium an editor creates a schedule from a template's page, watches the next fire times follow the
cron being typed, runs it now and sees the run and its webhook delivery on the schedule's page."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

import httpx

from tests.acceptance.test_browser import browser  # noqa: F401  (the fixture: chromium or a skip)
from tests.support.accounts import api_token, sign_in_browser
from tests.support.databases import connect
from tests.support.processes import Service, wait_for
from tests.support.receivers import Hook, webhook_receiver
from tests.support.schedules import make_schedule, make_template, make_workspace

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def _token(client: httpx.Client, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, (path, page.status_code, page.text[:300])
    found = TOKEN.search(page.text)
    assert found, f"no CSRF token on {path}"
    return found.group(1)


def _schedule(url: str, ident: str) -> dict[str, Any] | None:
    with connect(url) as conn:
        return conn.execute("SELECT * FROM schedules WHERE id = %s", (ident,)).fetchone()


def test_an_editor_creates_edits_pauses_runs_and_deletes_through_the_forms(database_url: str, services: Any) -> None:
    web: Service = services("web", database_url)
    template = make_template(database_url)
    with web.session_client(role="editor") as editor:
        token = _token(editor, f"/templates/{template}")
        bad = editor.post(f"/templates/{template}/schedules", data={
            "csrf_token": token, "cron": "61 * * * *", "timezone": "Europe/Berlin", "emails": "boss@example.com"})
        assert bad.status_code == 422 and 'id="schedule-cron-error"' in bad.text
        assert 'value="61 * * * *"' in bad.text, "the form keeps what was typed"
        made = editor.post(f"/templates/{template}/schedules", data={
            "csrf_token": token, "cron": "30 2 * * *", "timezone": "Europe/Berlin", "p.region": "east",
            "emails": "boss@example.com, ops@example.com", "webhooks": "https://hooks.example/x?a=1,2;b=3\n",
            "attach_pdf": "1"})
        assert made.status_code == 303, made.text
        path = made.headers["location"]
        ident = path.rsplit("/", 1)[1]
        row = _schedule(database_url, ident)
        assert row is not None and row["cron"] == "30 2 * * *" and row["parameters"] == {"region": "east"}
        assert row["emails"] == ["boss@example.com", "ops@example.com"] and row["formats"] == ["pdf"]
        assert row["webhooks"] == ["https://hooks.example/x?a=1,2;b=3"]
        with connect(database_url) as conn:
            owner = conn.execute("SELECT email FROM users WHERE id = %s", (row["owner_id"],)).fetchone()
        assert owner is not None and owner["email"] == "editor@tests.invalid", "the creator owns it"

        first = editor.get(path)
        assert first.status_code == 200 and row["webhook_secret"] in first.text
        assert "editor@tests.invalid" in first.text
        again = editor.get(path)
        assert row["webhook_secret"] not in again.text, "the secret is shown once"
        assert len(re.findall(r"\w{3} \d{4}-\d\d-\d\d 02:30 CES?T", again.text)) >= 5, "next fires, Berlin time"

        edited = editor.post(path, data={"csrf_token": token, "cron": "@hourly", "timezone": "UTC",
                                         "emails": "boss@example.com", "webhooks": "", "p.region": "north"})
        assert edited.status_code == 303
        row = _schedule(database_url, ident)
        assert row is not None and (row["cron"], row["webhooks"], row["formats"]) == ("0 * * * *", [], [])
        assert editor.post(f"{path}/pause", data={"csrf_token": token, "back": "template"}).headers[
            "location"].startswith(f"/templates/{template}?")
        assert _schedule(database_url, ident)["enabled"] is False  # type: ignore[index]
        ran = editor.post(f"{path}/run-now", data={"csrf_token": token})
        assert ran.status_code == 303 and ran.headers["location"].startswith(path)
        shown = editor.get(ran.headers["location"]).text
        assert "Run started" in shown and 'class="run-link"' in shown and "(run now)" in shown
        assert editor.post(f"{path}/resume", data={"csrf_token": token}).status_code == 303
        assert _schedule(database_url, ident)["enabled"] is True  # type: ignore[index]
        assert editor.post(f"{path}/delete", data={"csrf_token": "x.y"}).status_code == 403
        assert editor.post(f"{path}/delete", data={"csrf_token": token}).status_code == 303
        assert _schedule(database_url, ident) is None
        assert editor.get(path).status_code == 404


def _every_form(client: httpx.Client, template: str, ident: str, token: str) -> list[httpx.Response]:
    mine = {"emails": "viewer@example.com"}
    return [client.post(f"/templates/{template}/schedules", data={"csrf_token": token, "cron": "@daily", **mine}),
            client.post(f"/schedules/{ident}", data={"csrf_token": token, "cron": "* * * * *", **mine}),
            *[client.post(f"/schedules/{ident}/{action}", data={"csrf_token": token})
              for action in ("pause", "resume", "run-now", "delete")]]


def test_viewers_see_schedules_but_every_form_is_refused(database_url: str, services: Any) -> None:
    web: Service = services("web", database_url)
    template = make_template(database_url)
    ident = make_schedule(database_url, template, cron="0 9 * * 1", next_fire_at=dt.datetime.now(dt.UTC)
                          + dt.timedelta(days=1), emails=["team@example.com"])
    with connect(database_url) as conn:  # what an outage and a broken receiver leave behind
        conn.execute("INSERT INTO schedule_fires (schedule_id, workspace_id, fire_at, outcome) "
                     "SELECT id, workspace_id, '2026-11-30 08:00+00', 'SKIPPED' FROM schedules")
        conn.execute("INSERT INTO schedule_fires (schedule_id, workspace_id, fire_at, outcome, error) "
                     "SELECT id, workspace_id, '2026-12-01 08:00+00', 'FAILED', 'template t1 is archived' "
                     "FROM schedules")
        conn.execute("INSERT INTO deliveries (workspace_id, schedule_id, fire_id, fire_at, channel, recipient, "
                     "status, attempts, last_error) SELECT workspace_id, schedule_id, id, fire_at, 'email', "
                     "'team@example.com', 'FAILED', 5, 'SMTP mail.example:25: refused' FROM schedule_fires "
                     "WHERE outcome = 'FAILED'")
    with web.session_client(role="viewer") as viewer:
        page = viewer.get(f"/templates/{template}").text
        assert f'href="/schedules/{ident}"' in page and "0 9 * * 1" in page
        assert f'action="/templates/{template}/schedules"' not in page and "/run-now" not in page
        shown = viewer.get(f"/schedules/{ident}").text
        assert "team@example.com" in shown and "Fires and runs" in shown and 'id="run-now"' not in shown
        assert 'class="fire SKIPPED"' in shown and "Mon 2026-11-30 08:00 UTC" in shown
        assert 'class="fire FAILED"' in shown and "template t1 is archived" in shown
        failed = shown[shown.index('class="delivery FAILED"'):]
        assert "team@example.com" in failed and ">FAILED<" in failed and "<td>5" in failed
        assert "SMTP mail.example:25: refused" in failed
        token = viewer.cookies.get("rg_csrf")  # a valid token: viewers' pages have no schedule forms to carry it
        assert token and TOKEN.search(page)
        assert [r.status_code for r in _every_form(viewer, template, ident, token)] == [403] * 6
    with web.client(role="viewer") as api_viewer:  # a viewer's API token: no CSRF needed, still refused
        assert api_viewer.get(f"/schedules/{ident}").status_code == 200
        assert [r.status_code for r in _every_form(api_viewer, template, ident, "")] == [403] * 6
    row = _schedule(database_url, ident)
    assert row is not None and row["enabled"] and row["emails"] == ["team@example.com"]
    with connect(database_url) as conn:
        assert conn.execute("SELECT count(*) AS n FROM schedule_fires").fetchone()["n"] == 2  # type: ignore[index]
        assert conn.execute("SELECT count(*) AS n FROM schedules").fetchone()["n"] == 1  # type: ignore[index]


def test_another_workspaces_schedule_is_not_found(database_url: str, services: Any) -> None:
    web: Service = services("web", database_url)
    other = make_workspace(database_url)
    theirs = make_schedule(database_url, make_template(database_url, workspace=other), workspace=other,
                           next_fire_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
    ours = make_template(database_url)
    with web.session_client(role="editor") as editor:
        token = _token(editor, f"/templates/{ours}")
        assert editor.get(f"/schedules/{theirs}").status_code == 404
        assert editor.get(f"/schedules/{uuid.uuid4()}").status_code == 404
        assert editor.get("/schedules/not-a-uuid").status_code == 404
        for action in ("pause", "run-now", "delete"):
            assert editor.post(f"/schedules/{theirs}/{action}", data={"csrf_token": token}).status_code == 404
        assert editor.post(f"/schedules/{theirs}", data={"csrf_token": token, "cron": "* * * * *",
                                                         "emails": "x@example.com"}).status_code == 404
        assert f"/schedules/{theirs}" not in editor.get(f"/templates/{ours}").text
    # Their own members see it.
    with web.client(token=api_token(database_url, "viewer", workspace_id=other, email="v@other.invalid")) as them:
        assert them.get(f"/schedules/{theirs}").status_code == 200
    row = _schedule(database_url, theirs)
    assert row is not None and row["enabled"]


def test_an_editor_schedules_a_report_in_the_browser_and_sees_its_delivery(database_url: str, services: Any,
                                                                            browser: Any) -> None:  # noqa: F811
    web: Service = services("web", database_url)
    services("worker", database_url, POLL_INTERVAL_SECONDS=1, WEBHOOK_ALLOW_PRIVATE=1,
             PUBLIC_BASE_URL="https://reports.example")
    template = make_template(database_url)
    hook = Hook("unknown until created")
    with webhook_receiver(hook) as hook_url:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        sign_in_browser(context, web.base_url, database_url, role="editor")
        page = context.new_page()
        problems: list[str] = []
        # The bad cron's preview is a 422 (the browser logs it): every other console error is a problem.
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" and "422" not in m.text else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(f"{web.base_url}/templates/{template}")
        page.get_by_text("New schedule").click()
        fires = page.locator("#schedule-next li")
        assert fires.count() == 5  # rendered with the page for the default cron
        page.locator("#schedule-timezone").fill("America/New_York")
        cron = page.locator("#schedule-cron")
        cron.fill("")
        cron.type("15 7 * * 1-5", delay=40)  # typed key by key: one question after the typing stops
        page.locator("#schedule-next li", has_text="07:15 E").nth(4).wait_for()
        labels = fires.all_inner_texts()
        assert len(labels) == 5 and all(re.search(r"^(Mon|Tue|Wed|Thu|Fri) .* 07:15 E[SD]T$", t) for t in labels)
        cron.fill("15 7 * *")
        page.locator("#schedule-next-error", has_text="five fields").wait_for()
        assert fires.count() == 0
        cron.fill("*/30 * * * *")
        page.locator("#schedule-next li").nth(4).wait_for()
        page.locator("#schedule-webhooks").fill(hook_url)
        page.locator("#schedule-p-region").fill("south")
        page.get_by_role("button", name="Create schedule").click()
        page.wait_for_url(re.compile(r"/schedules/[0-9a-f-]{36}$"))
        hook.secret = page.locator("#webhook-secret").inner_text().strip()
        assert hook.secret.startswith("whsec_")
        page.get_by_role("button", name="Run now").click()
        page.locator("#schedule-notice", has_text="Run started").wait_for()
        assert page.locator("#fires tr.fire.RUN a.run-link").count() == 1

        def delivered() -> bool:
            page.reload()
            return page.locator("#deliveries tr.delivery.DELIVERED").count() == 1
        wait_for(delivered, timeout=90, interval=1.0, message="the webhook delivery on the schedule's page")
        row = page.locator("#deliveries tr.delivery.DELIVERED")
        assert hook_url[:40] in row.inner_text() and "1" in row.locator("td").nth(3).inner_text()
        assert page.locator("#fires tr.fire.RUN .badge.COMPLETED").count() == 1
        assert page.locator("#webhook-secret").count() == 0, "the secret is not shown again"
        assert [r["signature_ok"] for r in hook.received] == [True]
        assert b'"parameters":{"region":"south"}' in hook.received[0]["body"]
        assert not problems, problems
