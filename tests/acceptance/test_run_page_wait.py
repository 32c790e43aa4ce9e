"""The "Run" form holds its redirect until the run finished (``RUN_PAGE_WAIT_SECONDS``), so that a quick
report arrives inside the run page itself; a slow one (here: no worker at all) gets the progress page after
the wait, never an error. Real web and worker processes, the form posted as a signed-in browser does."""

from __future__ import annotations

import re
import time
from html.parser import HTMLParser
from typing import Any

import httpx

from tests.support.processes import Service, wait_for

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def _sales_form(client: httpx.Client) -> tuple[str, dict[str, str]]:
    """The monthly-sales example's form, as the page gives it (its sample file and defaults)."""
    home = wait_for(lambda: re.search(r'href="/templates/([0-9a-f-]{36})/run" aria-label="Run Monthly sales summary"',
                                      client.get("/").text), timeout=20, interval=0.2, message="examples listed")
    path = f"/templates/{home.group(1)}/run"
    form = client.get(path).text
    token = TOKEN.search(form)
    assert token is not None
    reader = _FormFields()
    reader.feed(form)
    return path, {**reader.fields, "csrf_token": token.group(1)}


class _FormFields(HTMLParser):
    """What a browser submits without a change: inputs' values (checked radios only, no checkboxes: their
    hidden "false" goes instead) and each select's selected (else first) option."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "input" and a.get("name", "").startswith("p.") and a.get("type") != "checkbox":
            if a.get("type") != "radio" or "checked" in a:
                self.fields[a["name"]] = a.get("value", "")
        elif tag == "select" and a.get("name", "").startswith("p."):
            self._select = a["name"]
        elif tag == "option" and self._select is not None and (self._select not in self.fields
                                                                or "selected" in a):
            self.fields[self._select] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None


def _post_run(client: httpx.Client, path: str, data: dict[str, str]) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = client.post(path, data=data)
    return response, time.monotonic() - started


def test_a_quick_report_comes_inside_the_run_page(database_url: str, services: Any) -> None:
    services("worker", database_url)
    web: Service = services("web", database_url, RUN_PAGE_WAIT_SECONDS=8)
    with web.session_client() as client:
        path, data = _sales_form(client)
        for _ in range(3):
            posted, _seconds = _post_run(client, path, data)
            assert posted.status_code == 303 and posted.headers["location"].startswith("/runs/"), posted.text
            page = client.get(posted.headers["location"]).text
            # Finished before the redirect: the report is in the page as served, marked shown, no stream needed.
            assert 'data-status="COMPLETED"' in page and 'data-report="shown"' in page, page[:2000]
            assert re.search(r'<article id="report"[^>]*>.*<svg', page, re.S), "the chart is in the page"


def test_a_run_that_does_not_finish_gets_the_progress_page_after_the_wait(database_url: str, services: Any) -> None:
    # No worker: the run stays QUEUED. The form waits its RUN_PAGE_WAIT_SECONDS, then redirects as before.
    waiting: Service = services("web", database_url, RUN_PAGE_WAIT_SECONDS=3)
    at_once: Service = services("web", database_url, RUN_PAGE_WAIT_SECONDS=0)
    with waiting.session_client() as client:
        path, data = _sales_form(client)
        posted, seconds = _post_run(client, path, data)
        assert posted.status_code == 303 and seconds >= 3, (posted.status_code, seconds)
        page = client.get(posted.headers["location"]).text
        assert 'data-status="QUEUED"' in page and 'data-report="shown"' not in page
        assert 'id="cancel-run"' in page, "a run in progress can still be cancelled from its page"
    with at_once.session_client() as client:
        path, data = _sales_form(client)
        posted, seconds = _post_run(client, path, data)
        assert posted.status_code == 303 and seconds < 3, (posted.status_code, seconds)
        assert 'data-status="QUEUED"' in client.get(posted.headers["location"]).text
