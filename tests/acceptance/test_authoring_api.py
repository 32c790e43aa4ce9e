"""Authoring through the JSON API on real processes: live preview (same sandbox and words as a run)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.support.processes import Service, wait_for

BROKEN = "# Title\n\nfine line\n{{ sales | sum(\"no_such_column\") }}\n"


@pytest.fixture
def web(database_url: str, services: Any) -> Service:
    return services("web", database_url)  # type: ignore[no-any-return]


@pytest.fixture
def api(web: Service) -> Iterator[httpx.Client]:
    with web.client() as client:
        yield client


def example(api: httpx.Client, name: str = "Monthly sales summary") -> dict[str, Any]:
    def seeded() -> dict[str, Any] | None:
        rows = api.get("/api/templates").json()["templates"]
        found = [t for t in rows if t["name"] == name]
        return api.get(f"/api/templates/{found[0]['id']}").json() if found else None
    return wait_for(seeded, timeout=30, interval=0.2, message="the examples to be seeded")


def preview(api: httpx.Client, **body: Any) -> httpx.Response:
    return api.post("/api/templates/preview", json=body)


def test_preview_renders_the_unsaved_body_on_the_templates_sample_data(api: httpx.Client) -> None:
    sales = example(api)
    body = sales["body"] + "\n\nPREVIEW-MARK {{ sales | count }} rows\n"
    answer = preview(api, body=body, parameters=sales["parameters"], template_id=sales["id"])
    assert answer.status_code == 200, answer.text
    html = answer.json()["html"]
    assert "PREVIEW-MARK" in html and "<svg" in html  # the sample CSV was used: the chart has data
    assert answer.json()["elapsed_ms"] > 0


def test_a_preview_error_has_the_line_and_message_a_run_would_show(api: httpx.Client, web: Service,
                                                                 database_url: str, services: Any) -> None:
    sales = example(api)
    answer = preview(api, body=BROKEN, parameters=sales["parameters"], template_id=sales["id"]).json()
    assert answer["error"]["line"] == 4 and "no_such_column" in answer["error"]["message"]
    services("worker", database_url, POLL_INTERVAL_SECONDS=1)
    saved = api.put(f"/api/templates/{sales['id']}", json={
        "name": sales["name"], "body": BROKEN, "parameters": sales["parameters"]})
    assert saved.status_code == 200, saved.text
    run = api.post("/api/runs", json={"template_id": sales["id"],
                                      "parameters": {"sales": sales["sample_datasets"]["sales"]}})
    assert run.status_code == 201, run.text
    run_id = run.json()["id"]
    failed = wait_for(lambda: (r := api.get(f"/api/runs/{run_id}").json())["status"] == "FAILED" and r,
                      timeout=60, interval=0.2, message="the broken run to fail")
    assert failed["error"] == answer["error"]


def test_syntax_errors_and_missing_samples_are_explained(api: httpx.Client) -> None:
    syntax = preview(api, body="line one\n{% if %}\n", parameters=[]).json()["error"]
    assert syntax["line"] == 2 and syntax["kind"] == "syntax"
    params = [{"name": "data", "type": "dataset", "required": True}]
    missing = preview(api, body="{{ data | count }}", parameters=params).json()["error"]
    assert missing["kind"] == "parameters" and "sample CSV" in missing["message"]
    typed = [{"name": "n", "type": "number", "min": 3, "required": True},
             {"name": "who", "type": "choice", "choices": ["b", "a"], "required": True},
             {"name": "title", "type": "text", "label": "My title", "required": True}]
    ok = preview(api, body="{{ n }}/{{ who }}/{{ title }}", parameters=typed).json()
    assert "3/b/My title" in ok["html"]


def test_bad_declarations_are_a_422_with_the_same_details_as_a_save(api: httpx.Client) -> None:
    bad = [{"name": "1x", "type": "text"}, {"name": "n", "type": "number", "min": 5, "max": 1}]
    answer = preview(api, body="x", parameters=bad)
    saved = api.post("/api/templates", json={"name": "bad", "body": "x", "parameters": bad})
    assert answer.status_code == 422 and saved.status_code == 422
    assert answer.json()["error"]["details"] == saved.json()["error"]["details"]
    assert preview(api, body="x", parameters=[], template_id="nope").status_code == 422
    unknown = preview(api, body="x", parameters=[], template_id="00000000-0000-0000-0000-000000000000")
    assert unknown.status_code == 404
    form = api.post("/api/templates/preview", content=b"body=x", headers={"content-type": "text/plain"})
    assert form.status_code == 415  # a cross-site form cannot post here


def test_previews_are_rate_limited_with_retry_after(web: Service) -> None:
    def one(_: int) -> httpx.Response:
        with web.client() as client:
            return preview(client, body="{{ 1 + 1 }}", parameters=[])
    with ThreadPoolExecutor(max_workers=20) as pool:  # a burst larger than PREVIEW_BURST, all at once
        answers = list(pool.map(one, range(20)))
    limited = [a for a in answers if a.status_code == 429]
    assert limited and any(a.status_code == 200 for a in answers), [a.status_code for a in answers]
    assert int(limited[0].headers["Retry-After"]) >= 1
    assert limited[0].json()["error"]["code"] == "rate_limited"
