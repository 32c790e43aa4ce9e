"""The report product's pages over plain HTTP (the browser test covers the same pages with JavaScript)."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.support.databases import insert_job, job, wait_status
from tests.support.processes import Service, wait_for

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def _client(database_url: str, services: Any) -> httpx.Client:
    web: Service = services("web", database_url)
    return web.session_client()


def test_pages_render_and_carry_csrf_tokens(database_url: str, services: Any) -> None:
    with _client(database_url, services) as client:
        wait_for(lambda: "Monthly sales summary" in client.get("/templates").text, timeout=20, interval=0.2,
                 message="examples listed")
        for path in ("/", "/templates", "/templates/new", "/jobs"):
            response = client.get(path)
            assert response.status_code == 200, path
            assert "script-src 'self'" in response.headers["content-security-policy"]
            assert "<script>" not in response.text and " style=" not in response.text, path
        editor = client.get("/templates/new").text
        assert TOKEN.search(editor) and client.cookies.get("rg_csrf") == TOKEN.search(editor).group(1)
        example = re.search(r'href="/templates/([0-9a-f-]{36})/run" aria-label="Run Monthly sales summary"',
                            client.get("/").text)
        assert example is not None
        form = client.get(f"/templates/{example.group(1)}/run").text
        for field in ('name="p.title"', 'name="p.region"', 'type="checkbox"', 'name="file.sales"',
                      "Use the sample file"):
            assert field in form


def test_the_editor_shows_errors_beside_fields_and_saves_versions(database_url: str, services: Any) -> None:
    with _client(database_url, services) as client:
        token = TOKEN.search(client.get("/templates/new").text).group(1)  # type: ignore[union-attr]
        bad = client.post("/templates", data={"csrf_token": token, "name": "", "body": "{% if %}",
                                              "parameters": "[not json"})
        assert bad.status_code == 422
        assert 'id="name-error"' in bad.text and "Not valid JSON" in bad.text and 'id="body-error"' in bad.text
        saved = client.post("/templates", data={"csrf_token": token, "name": "Page made", "body": "# hi",
                                                "parameters": "[]", "action": "save"})
        assert saved.status_code == 303
        template_path = saved.headers["location"]
        edited = client.post(template_path, data={"csrf_token": token, "name": "Page made", "body": "# hi 2",
                                                  "parameters": "[]", "base_version": "1", "action": "preview"})
        assert edited.status_code == 303 and edited.headers["location"].startswith("/runs/")
        api = client.get(f"/api{template_path}").json()
        assert api["current_version"] == 2 and api["body"] == "# hi 2"
        run_page = client.get(edited.headers["location"])
        assert run_page.status_code == 200 and 'src="/static/run.js?v=' in run_page.text
        # A versioned asset URL may be kept for a year; any other URL of it must be revalidated.
        script = re.search(r'src="(/static/run\.js\?v=[0-9a-f]+)"', run_page.text).group(1)  # type: ignore[union-attr]
        assert client.get(script).headers["cache-control"] == "public, max-age=31536000, immutable"
        assert client.get("/static/run.js").headers["cache-control"] == "no-cache"
        assert client.get("/static/run.js?v=0123456789abcdef").headers["cache-control"] == "no-cache"
        forged = client.post(template_path, data={"csrf_token": "x.y", "name": "evil", "body": "x"})
        assert forged.status_code == 403
        assert client.get(f"/api{template_path}").json()["name"] == "Page made"


def test_jobs_view_retries_and_cancels_with_a_token(database_url: str, services: Any) -> None:
    with _client(database_url, services) as client:
        queued = insert_job(database_url)  # no worker: it stays QUEUED
        page = client.get("/jobs").text
        token = TOKEN.search(page).group(1)  # type: ignore[union-attr]
        assert f'action="/jobs/{queued}/cancel"' in page
        assert client.post(f"/jobs/{queued}/cancel", data={}).status_code == 403
        assert job(database_url, queued)["status"] == "QUEUED"
        cancelled = client.post(f"/jobs/{queued}/cancel", data={"csrf_token": token})
        assert cancelled.status_code == 303 and "cancel+requested" in cancelled.headers["location"]
        wait_status(database_url, queued, "CANCELLED", timeout=5)
        assert f'action="/jobs/{queued}/retry"' in client.get("/jobs").text
        retried = client.post(f"/jobs/{queued}/retry", data={"csrf_token": token})
        assert retried.status_code == 303
        assert job(database_url, queued)["status"] == "QUEUED"
