"""The report product through its JSON API, with real web and worker processes on a real PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from decimal import Decimal
from typing import Any

import httpx
import pypdf
import pytest

from common.reports import load_examples
from tests.support.accounts import session_cookie
from tests.support.databases import connect
from tests.support.processes import Service, wait_for

SALES = next(e for e in load_examples() if e.slug == "monthly_sales")
SALES_CSV = SALES.datasets["sales"][1]
SIMPLE_BODY = "# {{ title }}\n\nTotal: {{ data | sum(\"revenue\") | number }}\n\n{{ table(data) }}\n"
SIMPLE_PARAMS = [
    {"name": "title", "type": "text", "default": "Simple", "max_length": 40},
    {"name": "data", "type": "dataset", "required": True},
    {"name": "limit", "type": "number", "min": 1, "max": 10, "default": 5},
    {"name": "day", "type": "date", "min": "2026-01-01"},
    {"name": "region", "type": "choice", "choices": ["North", "South"], "default": "North"},
    {"name": "flag", "type": "boolean", "default": False},
]


@pytest.fixture
def system(database_url: str, services: Any) -> tuple[Service, Service]:
    worker = services("worker", database_url, POLL_INTERVAL_SECONDS=1)
    web = services("web", database_url)
    return web, worker


@pytest.fixture
def api(system: tuple[Service, Service]) -> httpx.Client:
    with system[0].client() as client:
        yield client  # type: ignore[misc]


def _csrf(api: httpx.Client) -> str:
    return str(api.get("/api/csrf").json()["csrf_token"])


def _upload(api: httpx.Client, data: bytes = SALES_CSV, name: str = "sales.csv") -> str:
    response = api.post("/api/datasets", files={"file": (name, data, "text/csv")},
                        headers={"X-CSRF-Token": _csrf(api)})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _template(api: httpx.Client, body: str = SIMPLE_BODY, parameters: list[Any] | None = None) -> str:
    response = api.post("/api/templates", json={"name": "Simple", "body": body,
                                                "parameters": SIMPLE_PARAMS if parameters is None else parameters})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _wait_run(api: httpx.Client, run_id: str, *statuses: str, timeout: float = 60) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        run = api.get(f"/api/runs/{run_id}").json()
        return run if run["status"] in statuses else None
    return wait_for(done, timeout=timeout, interval=0.1, message=f"run {run_id} to be {statuses}")


def _expected_sales() -> dict[str, Decimal]:
    rows = list(csv.DictReader(io.StringIO(SALES_CSV.decode())))
    by_month: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        by_month[row["month"]] += Decimal(row["revenue"])
    return {"total": sum((Decimal(r["revenue"]) for r in rows), Decimal()),
            "units": Decimal(sum(int(r["units"]) for r in rows)), **by_month}


def test_template_crud_and_versions(api: httpx.Client) -> None:
    template_id = _template(api)
    first = api.get(f"/api/templates/{template_id}").json()
    assert first["current_version"] == 1 and first["body"] == SIMPLE_BODY
    edited = api.put(f"/api/templates/{template_id}", json={
        "name": "Simple v2", "body": "# v2 {{ title }}", "parameters": SIMPLE_PARAMS[:1], "base_version": 1})
    assert edited.status_code == 200, edited.text
    assert edited.json()["current_version"] == 2 and edited.json()["name"] == "Simple v2"
    stale = api.put(f"/api/templates/{template_id}", json={
        "name": "lost", "body": "x", "parameters": [], "base_version": 1})
    assert stale.status_code == 409
    old = api.get(f"/api/templates/{template_id}", params={"version": 1}).json()
    assert old["body"] == SIMPLE_BODY and [v["version"] for v in old["versions"]] == [2, 1]
    names = [t["name"] for t in api.get("/api/templates").json()["templates"]]
    assert "Simple v2" in names
    assert api.delete(f"/api/templates/{template_id}").status_code == 204
    assert "Simple v2" not in [t["name"] for t in api.get("/api/templates").json()["templates"]]
    assert api.put(f"/api/templates/{template_id}", json={"name": "a", "body": "b"}).status_code == 404
    assert api.get("/api/templates/not-a-uuid").status_code == 404


def test_bad_templates_are_refused_per_field(api: httpx.Client) -> None:
    response = api.post("/api/templates", json={"name": "", "body": "{% if %}", "parameters": [{"name": "1x"}],
                                                "extra": 1})
    assert response.status_code == 422
    details = response.json()["error"]["details"]
    assert {"name", "body", "parameters[0].name", "extra"} <= set(details)
    assert "Line 1" in details["body"]
    assert api.post("/api/templates", content=b"name=x", headers={"content-type": "text/plain"}).status_code == 415


def test_a_run_is_refused_with_an_error_per_bad_parameter(api: httpx.Client, database_url: str) -> None:
    template_id = _template(api)
    cases = {
        "title": "x" * 41, "limit": 11, "day": "2025-12-31", "region": "East", "flag": "maybe",
        "data": "00000000-0000-0000-0000-000000000000", "nope": 1,
    }
    response = api.post("/api/runs", json={"template_id": template_id, "parameters": cases})
    assert response.status_code == 422, response.text
    assert set(response.json()["error"]["details"]) == set(cases)
    missing = api.post("/api/runs", json={"template_id": template_id, "parameters": {}})
    assert missing.json()["error"]["details"] == {"data": "This field is required."}
    assert api.post("/api/runs", json={"template_id": "x", "parameters": {}}).status_code == 422
    unknown = api.post("/api/runs", json={"template_id": "00000000-0000-0000-0000-000000000000"})
    assert unknown.status_code == 404
    bad_number = api.post("/api/runs", json={"template_id": template_id,
                                             "parameters": {"data": _upload(api), "limit": "ten"}})
    assert bad_number.json()["error"]["details"] == {"limit": "Must be a number."}
    with connect(database_url) as conn:
        assert conn.execute("SELECT count(*) AS n FROM runs").fetchone()["n"] == 0
        assert conn.execute("SELECT count(*) AS n FROM jobs WHERE type = 'START_RUN'").fetchone()["n"] == 0


def test_uploads_have_type_size_and_csrf_limits(api: httpx.Client, system: tuple[Service, Service],
                                                database_url: str) -> None:
    token = _csrf(api)
    # A browser (session cookie) needs the header; a bearer token needs none (web/csrf.py).
    with system[0].client(role=None) as browser:
        browser.cookies.set("rg_session", session_cookie(database_url, "editor"))
        no_token = browser.post("/api/datasets", files={"file": ("a.csv", b"a,b\n1,2\n", "text/csv")})
        assert no_token.status_code == 403 and no_token.json()["error"]["code"] == "csrf_rejected"
        forged = browser.post("/api/datasets", files={"file": ("a.csv", b"a,b\n1,2\n", "text/csv")},
                              headers={"X-CSRF-Token": token[:-2] + "xx"})
        assert forged.status_code == 403
        signed = browser.post("/api/datasets", files={"file": ("a.csv", b"a,b\n1,2\n", "text/csv")},
                              headers={"X-CSRF-Token": _csrf(browser)})
        assert signed.status_code == 201, signed.text
    exe = api.post("/api/datasets", files={"file": ("a.exe", b"MZ", "application/x-msdownload")},
                   headers={"X-CSRF-Token": token})
    assert exe.status_code == 415
    not_utf8 = api.post("/api/datasets", files={"file": ("a.csv", b"a,b\n\xff\xfe,1\n", "text/csv")},
                        headers={"X-CSRF-Token": token})
    assert not_utf8.status_code == 422
    big = api.post("/api/datasets", files={"file": ("a.csv", b"a\n" + b"1\n" * 3_000_000, "text/csv")},
                   headers={"X-CSRF-Token": token})
    assert big.status_code == 413
    good = api.post("/api/datasets", files={"file": ("dir/a.csv", b"a,b\n1,2\n", "text/csv")},
                    headers={"X-CSRF-Token": token})
    assert good.status_code == 201 and good.json()["filename"] == "a.csv" and good.json()["rows"] == 1


def test_a_form_post_without_the_double_submitted_token_is_rejected(api: httpx.Client,
                                                                   system: tuple[Service, Service]) -> None:
    template_id = _template(api)
    # A signed-in browser: its session cookie rides along with any form a page posts, so the form's
    # double-submitted token is what tells our own page from another site's.
    browser = system[0].session_client()
    page = browser.get(f"/templates/{template_id}/run")
    assert page.status_code == 200 and "rg_csrf" in page.cookies
    token = page.cookies["rg_csrf"]
    files = {"file.data": ("s.csv", SALES_CSV, "text/csv")}
    cross_site = browser.post(f"/templates/{template_id}/run", data={"p.title": "x"}, files=files)
    assert cross_site.status_code == 403
    wrong = browser.post(f"/templates/{template_id}/run", data={"csrf_token": "abc.def"}, files=files)
    assert wrong.status_code == 403
    assert api.get("/api/runs").json()["runs"] == [], "a refused form changes nothing"
    ok = browser.post(f"/templates/{template_id}/run", data={"csrf_token": token, "p.title": "Form"}, files=files)
    assert ok.status_code == 303 and ok.headers["location"].startswith("/runs/")
    assert api.get("/api/runs").json()["runs"][0]["template_name"] == "Simple"


def _sse_events(api: httpx.Client, path: str) -> list[tuple[str, str]]:
    """A final run's whole stream as (event, data) pairs, parsed as an EventSource does (data lines joined by LF)."""
    events: list[tuple[str, str]] = []
    name, data = "message", []
    with api.stream("GET", path) as stream:
        assert stream.status_code == 200
        for line in stream.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
            elif line == "" and data:
                events.append((name, "\n".join(data)))
                name, data = "message", []
    return events


def test_the_sample_report_runs_through_the_worker_with_the_right_numbers(database_url: str, services: Any) -> None:
    web = services("web", database_url)  # the worker starts once the run is seen QUEUED
    api = web.client()

    def seeded() -> list[dict[str, Any]] | None:  # one transaction per example: wait for all of them
        found = [t for t in api.get("/api/templates").json()["templates"] if t["example_slug"]]
        return found if len(found) == len(load_examples()) else None

    examples = wait_for(seeded, timeout=20, message="examples seeded")
    assert {t["example_slug"] for t in examples} == {e.slug for e in load_examples()}
    template_id = next(t["id"] for t in examples if t["example_slug"] == "monthly_sales")
    response = api.post("/api/runs", json={"template_id": template_id,
                                           "parameters": {"sales": _upload(api), "title": "Sales Q1"}})
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["status"] == "QUEUED" and created["template_version"] == 1
    assert api.get(f"/api/runs/{created['id']}").json()["status"] == "QUEUED"
    seen: list[str] = []
    with api.stream("GET", f"/api/runs/{created['id']}/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        services("worker", database_url)
        for line in stream.iter_lines():
            if line.startswith("data: ") and "status" in line:
                status = json.loads(line[6:])["status"]
                if not seen or seen[-1] != status:
                    seen.append(status)
            if line.startswith("event: end"):
                break
    assert seen == ["QUEUED", "IN_PROGRESS", "COMPLETED"]
    # The run page's stream (?report=html) carries the report itself: the fragment's HTML, byte for byte
    # (its many lines rejoined by the SSE parser), between the final run event and "end".
    events = _sse_events(api, f"/api/runs/{created['id']}/events?report=html")
    assert [name for name, _ in events] == ["run", "report", "end"]
    assert json.loads(events[0][1])["status"] == "COMPLETED"
    fragment = api.get(f"/runs/{created['id']}/fragment")
    assert fragment.status_code == 200 and "<svg" in fragment.text and "\n" in fragment.text
    assert events[1][1] == fragment.text
    assert [name for name, _ in _sse_events(api, f"/api/runs/{created['id']}/events")] == ["run", "end"]
    refused = api.get(f"/api/runs/{created['id']}/events", params={"report": "pdf"})
    assert refused.status_code == 422 and refused.json()["error"]["details"] == {"report": "expected 'html'"}
    html = api.get(f"/api/runs/{created['id']}/report", params={"format": "html"})
    assert html.status_code == 200 and "script-src" not in html.headers["content-security-policy"]
    assert "sandbox" in html.headers["content-security-policy"]
    expected = _expected_sales()
    for value in (expected["total"], expected["2026-01"], expected["2026-03"]):
        assert f"{value:,.2f}" in html.text
    assert f"{expected['units']:,.0f}" in html.text and "<svg" in html.text and "Sales Q1" in html.text
    pdf = api.get(f"/api/runs/{created['id']}/report", params={"format": "pdf"})
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"].startswith("attachment;")
    text = "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf.content)).pages)
    assert f"{expected['total']:,.2f}" in text and f"{expected['2026-02']:,.2f}" in text
    md = api.get(f"/api/runs/{created['id']}/report", params={"format": "md"})
    assert md.status_code == 200 and "# Sales Q1" in md.text
    tables = api.get(f"/api/runs/{created['id']}/report", params={"format": "csv"})
    assert tables.headers["content-type"] == "application/zip"
    assert api.get(f"/api/runs/{created['id']}/report", params={"format": "docx"}).status_code == 422
    api.close()


def test_editing_a_template_does_not_change_a_runs_version(api: httpx.Client) -> None:
    template_id = _template(api, body="version one {{ title }}", parameters=SIMPLE_PARAMS[:1])
    run = api.post("/api/runs", json={"template_id": template_id, "parameters": {}}).json()
    api.put(f"/api/templates/{template_id}", json={"name": "S", "body": "version two", "parameters": []})
    done = _wait_run(api, run["id"], "COMPLETED")
    assert done["template_version"] == 1
    assert "version one" in api.get(f"/api/runs/{run['id']}/report").text


@pytest.mark.parametrize("body, kind, line", [
    ("ok\n{{ ''.__class__.__mro__[1].__subclasses__() }}", "security", 2),
    ("{% for i in range(10**9) %}{{ i }}{% endfor %}", "limit", None),
    ("line1\nline2\n{{ missing_name }}", "undefined", 3),
])
def test_a_hostile_template_fails_its_run_and_the_worker_stays_healthy(
        api: httpx.Client, system: tuple[Service, Service], body: str, kind: str, line: int | None) -> None:
    template_id = _template(api, body=body, parameters=[])
    run = api.post("/api/runs", json={"template_id": template_id, "parameters": {}}).json()
    failed = _wait_run(api, run["id"], "FAILED", "COMPLETED")
    assert failed["status"] == "FAILED", failed
    assert failed["error"]["kind"] == kind and failed["error"]["message"]
    assert "Traceback" not in failed["error"]["message"]
    if line is not None:
        assert failed["error"]["line"] == line
    # The run's failure is committed by the handler, the job's completion a moment later (batched):
    # wait for the job to settle, then it must be COMPLETED, the template's fault burning no retries.
    settled = wait_for(lambda: (r := api.get(f"/api/runs/{run['id']}").json())["job_status"] != "IN_PROGRESS"
                       and r, timeout=30, interval=0.1, message="the run's job to settle")
    assert settled["job_status"] == "COMPLETED"  # the template's fault: no retries burnt
    assert api.get(f"/api/runs/{run['id']}/report").status_code == 409
    assert system[1].healthy()
    fine = api.post("/api/runs", json={"template_id": _template(api, "fine", []), "parameters": {}}).json()
    assert _wait_run(api, fine["id"], "COMPLETED", "FAILED")["status"] == "COMPLETED"


def test_multipart_run_with_a_csv_upload(api: httpx.Client) -> None:
    template_id = _template(api)
    response = api.post("/api/runs", data={"template_id": template_id, "parameters": json.dumps({"limit": 3})},
                        files={"data": ("mine.csv", b"month,revenue\n2026-01,10.5\n2026-02,4\n", "text/csv")},
                        headers={"X-CSRF-Token": _csrf(api)})
    assert response.status_code == 201, response.text
    run = _wait_run(api, response.json()["id"], "COMPLETED", "FAILED")
    assert run["status"] == "COMPLETED", run
    assert "Total: 14.50" in api.get(f"/api/runs/{run['id']}/report").text
