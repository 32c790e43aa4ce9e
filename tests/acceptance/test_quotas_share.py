"""Quotas (429 + Retry-After + the limit named, nothing made) and share links, on real processes (issue 9).

Each quota test gives the web small limits through its environment and works in a workspace of its own,
so the example templates seeded into the default workspace count for nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest

from tests.acceptance.test_browser import browser  # noqa: F401 - the Playwright+Chromium fixture
from tests.support.accounts import api_token, sign_in_browser
from tests.support.databases import connect
from tests.support.processes import Service, wait_for

BODY = "# Shared {{ title }}\n\nTotal: {{ data | sum(\"n\") | number }}\n\n{{ table(data) }}\n"
PARAMS = [{"name": "title", "type": "text", "default": "report"}]
DATA_PARAMS = [*PARAMS, {"name": "data", "type": "dataset", "required": True}]
CSV = b"name,n\nalpha,1\nbeta,2\n"


def _workspace(database_url: str, name: str) -> str:
    with connect(database_url) as conn:
        row = conn.execute("INSERT INTO workspaces (name) VALUES (%s) RETURNING id", (name,)).fetchone()
    assert row is not None
    return str(row["id"])


def _client(web: Service, workspace: str, role: str = "admin") -> httpx.Client:
    token = api_token(web.database_url, role, workspace_id=workspace, email=f"{role}@{workspace}.test")
    return web.client(token=token)


def _template(api: httpx.Client, body: str = "# Hello {{ title }}", parameters: list[Any] | None = None) -> str:
    response = api.post("/api/templates", json={"name": "Quota", "body": body,
                                                "parameters": PARAMS if parameters is None else parameters})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _run(api: httpx.Client, template_id: str, **parameters: Any) -> httpx.Response:
    return api.post("/api/runs", json={"template_id": template_id, "parameters": parameters})


def _count(database_url: str, sql: str, *args: object) -> int:
    with connect(database_url) as conn:
        row = conn.execute(sql, args).fetchone()
    assert row is not None
    return int(row["n"])


def _assert_quota(response: httpx.Response, limit: str, setting: str, maximum: int) -> dict[str, Any]:
    assert response.status_code == 429, response.text
    assert int(response.headers["Retry-After"]) >= 1
    error = response.json()["error"]
    assert error["code"] == "quota_exceeded"
    assert error["details"]["limit"] == limit and error["details"]["setting"] == setting
    assert error["details"]["max"] == maximum
    return error  # type: ignore[no-any-return]


def _csrf(api: httpx.Client) -> str:
    return str(api.get("/api/csrf").json()["csrf_token"])


# ---- quotas ---------------------------------------------------------------------------------------------


def test_active_runs_quota_on_every_path_that_makes_a_run(database_url: str, services: Any) -> None:
    web = services("web", database_url, QUOTA_ACTIVE_RUNS=2)  # no worker: runs stay QUEUED
    workspace = _workspace(database_url, "active")
    runs_in = "SELECT count(*) AS n FROM runs WHERE workspace_id = %s"
    with _client(web, workspace) as api:
        template = _template(api)
        first = _run(api, template)
        assert first.status_code == 201 and _run(api, template).status_code == 201
        _assert_quota(_run(api, template), "active_runs", "QUOTA_ACTIVE_RUNS", 2)
        assert _count(database_url, runs_in, workspace) == 2
        assert _count(database_url, "SELECT count(*) AS n FROM jobs WHERE workspace_id = %s AND type = 'START_RUN'",
                      workspace) == 2

        # A schedule's "run now": 429, no fire recorded. (Its creation dry-runs and is exempt.)
        schedule = api.post("/api/schedules", json={"template_id": template, "cron": "0 0 1 1 *",
                                                    "emails": ["someone@example.com"]})
        assert schedule.status_code == 201, schedule.text
        now = api.post(f"/api/schedules/{schedule.json()['id']}/run-now", json={})
        _assert_quota(now, "active_runs", "QUOTA_ACTIVE_RUNS", 2)
        assert _count(database_url, "SELECT count(*) AS n FROM schedule_fires WHERE workspace_id = %s", workspace) == 0

        # The run form (a page): 429 with the message beside the form, nothing made.
        token = _csrf(api)
        form = api.post(f"/templates/{template}/run", data={"csrf_token": token, "p.title": "x"},
                        files={"unused": ("", b"", "application/octet-stream")})
        assert form.status_code == 429 and int(form.headers["Retry-After"]) >= 1
        assert "runs queued or running" in form.text
        # The editor's "Save and preview": saved, not previewed.
        edit = api.post(f"/templates/{template}", data={"csrf_token": token, "name": "Quota", "body": "# Hi",
                                                        "parameters": "[]", "action": "preview"})
        assert edit.status_code == 429 and "Saved, but not previewed" in edit.text
        assert _count(database_url, runs_in, workspace) == 2

        # A finished (here: cancelled) run frees its place.
        cancel = api.post(f"/api/jobs/{first.json()['job_id']}/cancel", json={})
        assert cancel.status_code == 200, cancel.text
        assert _run(api, template).status_code == 201
        assert _count(database_url, runs_in, workspace) == 3


def test_runs_per_minute_quota(database_url: str, services: Any) -> None:
    web = services("web", database_url, QUOTA_RUNS_PER_MINUTE=2, QUOTA_ACTIVE_RUNS=0)
    workspace = _workspace(database_url, "per-minute")
    with _client(web, workspace) as api:
        template = _template(api)
        assert [_run(api, template).status_code for _ in range(2)] == [201, 201]
        refused = _run(api, template)
        _assert_quota(refused, "runs_per_minute", "QUOTA_RUNS_PER_MINUTE", 2)
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert _count(database_url, "SELECT count(*) AS n FROM runs WHERE workspace_id = %s", workspace) == 2
    with web.client() as default_workspace:  # another workspace's minute is its own
        assert _run(default_workspace, _template(default_workspace)).status_code == 201


def test_dataset_storage_quota(database_url: str, services: Any) -> None:
    web = services("web", database_url, QUOTA_DATASET_BYTES=2 * len(CSV) + 5)
    workspace = _workspace(database_url, "storage")
    datasets_in = "SELECT count(*) AS n FROM datasets WHERE workspace_id = %s"
    with _client(web, workspace) as api:
        headers = {"X-CSRF-Token": _csrf(api)}

        def upload() -> httpx.Response:
            return api.post("/api/datasets", files={"file": ("d.csv", CSV, "text/csv")}, headers=headers)

        assert upload().status_code == 201 and upload().status_code == 201
        error = _assert_quota(upload(), "dataset_bytes", "QUOTA_DATASET_BYTES", 2 * len(CSV) + 5)
        assert error["details"]["current"] == 2 * len(CSV)
        template = _template(api, BODY, DATA_PARAMS)
        with_file = api.post("/api/runs", data={"template_id": template}, files={"data": ("d.csv", CSV, "text/csv")},
                             headers=headers)
        _assert_quota(with_file, "dataset_bytes", "QUOTA_DATASET_BYTES", 2 * len(CSV) + 5)
        assert _count(database_url, datasets_in, workspace) == 2
        assert _count(database_url, "SELECT count(*) AS n FROM runs WHERE workspace_id = %s", workspace) == 0


def test_open_streams_per_user_quota(database_url: str, services: Any) -> None:
    web = services("web", database_url, QUOTA_STREAMS_PER_USER=2)  # no worker: the run never ends
    workspace = _workspace(database_url, "streams")
    with _client(web, workspace) as api, contextlib.ExitStack() as held:
        run = _run(api, _template(api)).json()
        events = f"/api/runs/{run['id']}/events"
        lines = []  # kept: a dropped line iterator closes its connection (httpcore closes on GeneratorExit)
        for _ in range(2):
            stream = held.enter_context(api.stream("GET", events))
            assert stream.status_code == 200
            lines.append(stream.iter_lines())
            assert next(lines[-1]) == "retry: 2000"
        with api.stream("GET", events) as third:
            assert third.status_code == 429
            third.read()
            _assert_quota(third, "streams_per_user", "QUOTA_STREAMS_PER_USER", 2)
        with _client(web, workspace, "viewer") as other_user, other_user.stream("GET", events) as theirs:
            assert theirs.status_code == 200  # the quota is per user
        held.close()  # the client goes away: its places come back

        def opens() -> bool:
            with api.stream("GET", events) as again:
                return again.status_code == 200
        wait_for(opens, timeout=10, interval=0.2, message="a closed stream to give its place back")


# ---- share links ----------------------------------------------------------------------------------------


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs.append(dict(attrs).get("href") or "")


def _hrefs(html: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    return parser.hrefs


def _finished_run(web: Service, worker_start: Any) -> tuple[str, str]:
    """(template id, run id) of a COMPLETED run; a share asked before it finishes is refused."""
    with web.client() as api:
        csrf = _csrf(api)
        data = api.post("/api/datasets", files={"file": ("d.csv", CSV, "text/csv")}, headers={"X-CSRF-Token": csrf})
        template = _template(api, BODY, DATA_PARAMS)
        run = _run(api, template, title="for friends", data=data.json()["id"]).json()
        with web.client(role="editor") as editor:
            early = editor.post(f"/api/runs/{run['id']}/shares", json={})
            assert early.status_code == 409, early.text
        worker_start()
        wait_for(lambda: api.get(f"/api/runs/{run['id']}").json()["status"] == "COMPLETED", timeout=60,
                 interval=0.2, message="the run to complete")
    return template, str(run["id"])


@pytest.fixture
def system(database_url: str, services: Any) -> Service:
    web: Service = services("web", database_url)
    web.worker_start = lambda: services("worker", database_url, POLL_INTERVAL_SECONDS=1)  # type: ignore[attr-defined]
    return web


def test_share_link_lifecycle(system: Service, database_url: str) -> None:
    web = system
    _, run_id = _finished_run(web, web.worker_start)  # type: ignore[attr-defined]
    with web.client(role="editor") as editor, web.client(role=None) as anonymous, \
            web.client(role="viewer") as viewer, web.client() as admin:
        assert viewer.post(f"/api/runs/{run_id}/shares", json={}).status_code == 403
        made = editor.post(f"/api/runs/{run_id}/shares", json={})
        assert made.status_code == 201, made.text
        share = made.json()
        assert share["expires_at"] is None and share["url"].endswith(share["path"])
        token = share["path"].removeprefix("/s/")
        assert len(token) >= 43 and re.fullmatch(r"[A-Za-z0-9_-]+", token)  # 32 random bytes, URL-safe
        with connect(database_url) as conn:
            row = conn.execute("SELECT * FROM share_links WHERE id = %s", (share["id"],)).fetchone()
        assert row is not None and bytes(row["token_hash"]) == hashlib.sha256(token.encode()).digest()
        assert token not in repr(row)

        page = anonymous.get(share["path"])
        assert page.status_code == 200, page.text
        assert "Shared for friends" in page.text and "Total: 3" in page.text and "d.csv" in page.text
        hrefs = _hrefs(page.text)
        assert hrefs and all(h.startswith(share["path"] + "/") for h in hrefs), hrefs
        assert page.headers["Referrer-Policy"] == "no-referrer" and page.headers["Cache-Control"] == "no-store"

        for fmt, query in (("html", "format=html&download=1"), ("md", "format=md"), ("csv", "format=csv")):
            shared = anonymous.get(f"{share['path']}/download?{query}")
            direct = admin.get(f"/api/runs/{run_id}/report?{query}")
            assert shared.status_code == 200 and direct.status_code == 200, (fmt, shared.text)
            assert shared.content == direct.content, fmt
            assert shared.headers["content-disposition"] == direct.headers["content-disposition"]
            assert shared.headers["content-disposition"].startswith("attachment")
        assert "alpha" in anonymous.get(f"{share['path']}/download?format=csv").text

        listed = viewer.get(f"/api/runs/{run_id}/shares").json()["shares"]
        assert [s["id"] for s in listed] == [share["id"]] and listed[0]["active"] is True
        assert not {"url", "path", "token", "token_hash"} & set(listed[0])

        later = editor.post(f"/api/runs/{run_id}/shares", json={"expires_days": 7}).json()
        assert later["expires_at"] is not None
        assert editor.post(f"/api/runs/{run_id}/shares", json={"expires_days": 0}).status_code == 422
        assert editor.post(f"/api/runs/{run_id}/shares", json={"nope": 1}).status_code == 422
        with connect(database_url) as conn:
            conn.execute("UPDATE share_links SET expires_at = now() - interval '1 second' WHERE id = %s",
                         (later["id"],))
        assert anonymous.get(later["path"]).status_code == 404

        assert viewer.delete(f"/api/shares/{share['id']}").status_code == 403
        assert editor.delete(f"/api/shares/{share['id']}").status_code == 204
        gone = anonymous.get(share["path"])
        assert gone.status_code == 404 and "not available" in gone.text
        assert anonymous.get(f"{share['path']}/download?format=html").status_code == 404
        assert anonymous.get("/s/" + "A" * 43).status_code == 404
        assert anonymous.get("/s/short").status_code == 404
        assert [s["active"] for s in viewer.get(f"/api/runs/{run_id}/shares").json()["shares"]] == [False, False]
        with connect(database_url) as conn:
            events = conn.execute("SELECT action, target, detail FROM audit_events WHERE action LIKE 'share.%' "
                                  "ORDER BY id").fetchall()
        assert [(e["action"], e["target"]) for e in events] == [
            ("share.created", share["id"]), ("share.created", later["id"]), ("share.revoked", share["id"])]
        assert all(e["detail"]["run_id"] == run_id for e in events)

        # The Share button is on the run page for editors only.
        assert 'id="share-button"' in editor.get(f"/runs/{run_id}").text
        assert 'id="share-button"' not in viewer.get(f"/runs/{run_id}").text


def test_another_workspaces_run_and_links_are_404(system: Service, database_url: str) -> None:
    web = system
    _, run_id = _finished_run(web, web.worker_start)  # type: ignore[attr-defined]
    with web.client(role="editor") as editor:
        share = editor.post(f"/api/runs/{run_id}/shares", json={}).json()
    other = _workspace(database_url, "elsewhere")
    with _client(web, other, "editor") as stranger:
        assert stranger.post(f"/api/runs/{run_id}/shares", json={}).status_code == 404
        assert stranger.get(f"/api/runs/{run_id}/shares").status_code == 404
        assert stranger.delete(f"/api/shares/{share['id']}").status_code == 404
    with web.client(role=None) as anonymous:
        assert anonymous.get(share["path"]).status_code == 200  # the stranger changed nothing


def test_an_editor_shares_a_run_from_its_page_and_a_stranger_reads_it(system: Service, database_url: str,
                                                                      browser: Any) -> None:  # noqa: F811
    web = system
    _, run_id = _finished_run(web, web.worker_start)  # type: ignore[attr-defined]
    context = browser.new_context()
    sign_in_browser(context, web.base_url, web.database_url, role="editor")
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{web.base_url}/runs/{run_id}")
    page.click("#share-button")
    page.wait_for_selector("#share-url", state="visible")
    link = page.input_value("#share-url")
    assert link.startswith(f"{web.base_url}/s/")
    context.close()

    stranger = browser.new_context()  # no session, no cookies
    view = stranger.new_page()
    view.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    response = view.goto(link)
    assert response is not None and response.status == 200
    assert view.inner_text("#report h1") == "Shared for friends"
    assert view.locator("a[href^='/templates'], a[href^='/runs'], a[href='/']").count() == 0
    assert view.locator("#download-pdf").get_attribute("href") == link.removeprefix(web.base_url) + \
        "/download?format=pdf"
    stranger.close()
    assert not errors, errors

