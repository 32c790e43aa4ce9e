"""Template history (versions, compare, restore) and the datasets page, on a real web process (issue 15,
items 4 and 5): authors come from the credential, restore adds a version and never rewrites one, runs
link to their version, viewers read but cannot restore or delete, another workspace's ids are 404, and a
dataset in use is only deleted on purpose."""

from __future__ import annotations

import asyncio
import datetime as dt
import html
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from common import accounts, db
from tests.support.accounts import api_token
from tests.support.databases import connect
from tests.support.processes import Service
from tests.support.schedules import make_schedule

V1 = "# Report\n\nFirst body line\n{{ 1 + 1 }}\n<b>kept as text</b>\n"
V2 = "# Report\n\nSecond body line\n{{ 1 + 1 }}\n<b>kept as text</b>\n"
# As the API stores them (normalised: label and required filled in), so they compare equal when read back.
PARAMS_V1 = [{"name": "title", "type": "text", "label": "Title", "default": "A", "required": False}]
PARAMS_V2 = [{"name": "title", "type": "text", "label": "Title", "default": "B", "required": False}]


@pytest.fixture
def web(database_url: str, services: Any) -> Service:
    return services("web", database_url)  # type: ignore[no-any-return]


@pytest.fixture
def api(web: Service) -> Iterator[httpx.Client]:
    with web.client() as client:
        yield client


def two_versions(api: httpx.Client, name: str = "Versioned") -> str:
    made = api.post("/api/templates", json={"name": name, "body": V1, "parameters": PARAMS_V1})
    assert made.status_code == 201, made.text
    ident = str(made.json()["id"])
    edited = api.put(f"/api/templates/{ident}", json={"name": name, "body": V2, "parameters": PARAMS_V2})
    assert edited.status_code == 200, edited.text
    return ident


def upload(api: httpx.Client, name: str = "data.csv", data: bytes = b"month,revenue\n1,10\n2,20\n3,30\n") -> str:
    token = api.get("/api/csrf").json()["csrf_token"]
    answer = api.post("/api/datasets", files={"file": (name, data, "text/csv")}, headers={"X-CSRF-Token": token})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def other_workspace_client(web: Service, database_url: str) -> httpx.Client:
    async def make() -> str:
        async with await db.connect_async(database_url) as conn:
            return str((await accounts.create_workspace(conn, "Elsewhere"))["id"])
    other = asyncio.run(make())
    return web.client(token=api_token(database_url, "admin", workspace_id=other, email="admin@elsewhere.test"))


def test_history_lists_authors_and_times_and_each_version_reads_back(api: httpx.Client, web: Service) -> None:
    ident = two_versions(api)
    with web.client(role="editor") as editor:
        saved = editor.put(f"/api/templates/{ident}", json={"name": "Versioned", "body": V2 + "third\n",
                                                            "parameters": PARAMS_V2})
        assert saved.status_code == 200, saved.text
    history = api.get(f"/api/templates/{ident}/versions")
    assert history.status_code == 200, history.text
    rows = history.json()["versions"]
    assert [r["version"] for r in rows] == [3, 2, 1] and history.json()["current_version"] == 3
    assert [r["author_email"] for r in rows] == ["editor@tests.invalid", "admin@tests.invalid",
                                                 "admin@tests.invalid"]
    assert all(r["created_at"] and r["author_id"] for r in rows)
    assert rows[0]["created_at"] >= rows[1]["created_at"] >= rows[2]["created_at"]
    one = api.get(f"/api/templates/{ident}/versions/1").json()
    assert (one["body"], one["parameters"], one["version"]) == (V1, PARAMS_V1, 1)
    assert one["author_email"] == "admin@tests.invalid" and one["current_version"] == 3
    assert api.get(f"/api/templates/{ident}/versions/4").status_code == 404
    assert api.get(f"/api/templates/{ident}/versions/0").status_code == 404
    assert api.get(f"/api/templates/{ident}/versions/99999999999").status_code == 404
    page = api.get(f"/templates/{ident}/versions")
    assert page.status_code == 200 and "editor@tests.invalid" in page.text
    assert f'href="/templates/{ident}/compare?from=1&amp;to=2"' in page.text


def test_compare_shows_both_sides_escaped_for_body_and_parameters(api: httpx.Client) -> None:
    ident = two_versions(api)
    page = api.get(f"/templates/{ident}/compare", params={"from": "1", "to": "2"})
    assert page.status_code == 200, page.text
    text = page.text
    assert "First body line" in text and "Second body line" in text
    assert "&lt;b&gt;kept as text&lt;/b&gt;" in text and "<b>kept as text</b>" not in text
    body_table = text[text.index('id="body-diff"'):text.index('id="parameters-diff"')]
    assert body_table.count('class="changed"') == 1  # one line changed; the rest is context
    params_table = text[text.index('id="parameters-diff"'):]
    assert '"default": "A"' in html.unescape(params_table) and '"default": "B"' in html.unescape(params_table)
    assert '"default": "A"' not in params_table  # the quotes are escaped too
    same = api.get(f"/templates/{ident}/compare", params={"from": "2", "to": "2"})
    assert same.status_code == 200 and 'id="body-diff-same"' in same.text
    assert api.get(f"/templates/{ident}/compare", params={"from": "7"}).status_code == 404
    assert api.get(f"/templates/{ident}/compare", params={"from": "x"}).status_code == 422


def test_restore_makes_a_new_version_and_leaves_the_old_one_unchanged(api: httpx.Client, web: Service) -> None:
    ident = two_versions(api)
    before = api.get(f"/api/templates/{ident}/versions/1").json()
    with web.client(role="viewer") as viewer:
        refused = viewer.post(f"/api/templates/{ident}/versions/1/restore", json={})
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
        assert viewer.get(f"/api/templates/{ident}/versions").status_code == 200  # viewers read history
    with web.session_client(role="editor") as browser:  # cookie-authenticated: a cross-site form could post
        no_csrf = browser.post(f"/api/templates/{ident}/versions/1/restore", content=b"",
                               headers={"content-type": "application/x-www-form-urlencoded"})
        assert no_csrf.status_code == 403 and no_csrf.json()["error"]["code"] == "csrf_rejected"
        page_form = browser.post(f"/templates/{ident}/versions/1/restore", data={"csrf_token": "x.y"})
        assert page_form.status_code == 403
    with web.session_client(role="viewer") as viewer:
        history = viewer.get(f"/templates/{ident}/versions")
        assert history.status_code == 200 and "Version 1" in history.text
        assert 'aria-label="Restore version 1"' not in history.text  # viewers see no restore button
        assert viewer.post(f"/templates/{ident}/versions/1/restore", data={}).status_code == 403
    with web.client(role="editor") as editor:
        restored = editor.post(f"/api/templates/{ident}/versions/1/restore", json={})
    assert restored.status_code == 201, restored.text
    new = restored.json()
    assert (new["version"], new["body"], new["parameters"], new["restored_from"]) == (3, V1, PARAMS_V1, 1)
    assert new["author_email"] == "editor@tests.invalid"
    assert restored.headers["location"] == f"/api/templates/{ident}/versions/3"
    assert api.get(f"/api/templates/{ident}/versions/1").json() == {**before, "current_version": 3}
    assert api.get(f"/api/templates/{ident}/versions/2").json()["body"] == V2
    current = api.get(f"/api/templates/{ident}").json()
    assert (current["current_version"], current["body"]) == (3, V1)
    again = api.post(f"/api/templates/{ident}/versions/3/restore", json={})
    assert again.status_code == 409  # it is the current version: nothing to restore
    assert api.post(f"/api/templates/{ident}/versions/9/restore", json={}).status_code == 404
    events = [e for e in api.get("/api/audit").json()["events"] if e["action"] == "template.restored"]
    assert [(e["target"], e["actor_email"], e["detail"]["restored_from"], e["detail"]["version"])
            for e in events] == [(ident, "editor@tests.invalid", 1, 3)]  # the refused ones left no event


def test_runs_carry_and_link_the_version_they_used(api: httpx.Client) -> None:
    ident = two_versions(api)
    run = api.post("/api/runs", json={"template_id": ident, "parameters": {}})
    assert run.status_code == 201, run.text
    body = run.json()
    assert body["template_version"] == 2
    assert body["links"]["version"] == f"/api/templates/{ident}/versions/2"
    assert api.get(body["links"]["version"]).json()["body"] == V2
    api.post(f"/api/templates/{ident}/versions/1/restore", json={})
    assert api.get(f"/api/runs/{body['id']}").json()["template_version"] == 2  # a restore changes no run
    page = api.get(f"/runs/{body['id']}")
    assert page.status_code == 200
    assert f'href="/templates/{ident}/versions/2">version 2</a>' in page.text
    history = api.get(f"/api/templates/{ident}/versions").json()["versions"]
    assert {r["version"]: r["runs"] for r in history} == {3: 0, 2: 1, 1: 0}


def test_another_workspace_sees_neither_history_nor_datasets(api: httpx.Client, web: Service,
                                                            database_url: str) -> None:
    ident = two_versions(api)
    dataset = upload(api)
    with other_workspace_client(web, database_url) as other:
        for path in (f"/api/templates/{ident}/versions", f"/api/templates/{ident}/versions/1",
                     f"/templates/{ident}/versions", f"/templates/{ident}/versions/1",
                     f"/templates/{ident}/compare"):
            assert other.get(path).status_code == 404, path
        assert other.post(f"/api/templates/{ident}/versions/1/restore", json={}).status_code == 404
        assert other.delete(f"/api/datasets/{dataset}?force=1").status_code == 404
        assert dataset not in {d["id"] for d in other.get("/api/datasets").json()["datasets"]}
    assert dataset in {d["id"] for d in api.get("/api/datasets").json()["datasets"]}  # still there


def test_datasets_list_shape_and_uses_and_a_used_one_needs_force(api: httpx.Client, web: Service,
                                                                 database_url: str) -> None:
    params = [{"name": "sales", "type": "dataset", "required": True}]
    made = api.post("/api/templates", json={"name": "Uses data", "body": "{{ sales | count }}", "parameters": params})
    ident = made.json()["id"]
    sample, loose = upload(api, "sample.csv"), upload(api, "loose.csv", b"a,b,c\n1,2,3\n")
    with connect(database_url) as conn:  # samples are set by the examples' seed (no API sets one yet)
        conn.execute("UPDATE templates SET sample_datasets = jsonb_build_object('sales', %s::text) WHERE id = %s",
                     (sample, ident))
    run = api.post("/api/runs", json={"template_id": ident, "parameters": {"sales": loose}})
    assert run.status_code == 201, run.text

    listed = {d["id"]: d for d in api.get("/api/datasets").json()["datasets"]}
    assert (listed[sample]["columns"], listed[sample]["row_count"]) == (["month", "revenue"], 3)
    assert (listed[loose]["columns"], listed[loose]["row_count"], listed[loose]["size_bytes"]) == (
        ["a", "b", "c"], 1, 12)
    assert [(u["kind"], u["label"], u["parameter"]) for u in listed[sample]["used_by"]] == [
        ("template", "Uses data", "sales")]
    assert [(u["kind"], u["uses"], u["ref_id"]) for u in listed[loose]["used_by"]] == [("run", 1, run.json()["id"])]
    page = api.get("/datasets")
    assert page.status_code == 200 and "sample.csv" in page.text and "month, revenue" in page.text

    with web.client(role="viewer") as viewer:
        assert viewer.get("/api/datasets").status_code == 200
        assert viewer.delete(f"/api/datasets/{loose}").status_code == 403
    in_use = api.delete(f"/api/datasets/{sample}")
    assert in_use.status_code == 409 and in_use.json()["error"]["code"] == "dataset_in_use"
    assert in_use.json()["error"]["details"]["used_by"][0]["kind"] == "template"
    assert api.delete(f"/api/datasets/{sample}?force=yes").status_code == 422
    assert api.delete(f"/api/datasets/{loose}").status_code == 204  # used only by a run: no confirm needed
    assert api.delete(f"/api/datasets/{sample}?force=1").status_code == 204
    assert api.get(f"/api/templates/{ident}").json()["sample_datasets"] == {}  # out of the samples too
    assert {sample, loose} & {d["id"] for d in api.get("/api/datasets").json()["datasets"]} == set()
    assert api.delete(f"/api/datasets/{sample}").status_code == 404
    events = [e for e in api.get("/api/audit").json()["events"] if e["action"] == "dataset.deleted"]
    assert [(e["target"], e["detail"]["filename"], e["detail"]["used_by"]) for e in events] == [
        (sample, "sample.csv", ["template"]), (loose, "loose.csv", ["run"])]  # newest first


def test_a_schedule_using_a_dataset_makes_the_page_ask_before_deleting(api: httpx.Client, web: Service,
                                                                       database_url: str) -> None:
    params = [{"name": "sales", "type": "dataset", "required": True}]
    ident = api.post("/api/templates", json={"name": "Scheduled", "body": "{{ sales | count }}",
                                             "parameters": params}).json()["id"]
    dataset = upload(api, "weekly.csv")
    make_schedule(database_url, ident, parameters={"sales": dataset},
                  next_fire_at=dt.datetime(2099, 1, 1, tzinfo=dt.UTC))
    uses = {d["id"]: d for d in api.get("/api/datasets").json()["datasets"]}[dataset]["used_by"]
    assert [(u["kind"], u["label"]) for u in uses] == [("schedule", "Scheduled")]
    assert api.delete(f"/api/datasets/{dataset}").status_code == 409

    spare = upload(api, "spare.csv")
    with web.session_client(role="editor") as browser:  # the page's forms, as a signed-in browser posts them
        page = browser.get("/datasets")
        assert page.status_code == 200 and 'aria-label="Delete weekly.csv"' in page.text
        token = browser.cookies.get("rg_csrf")
        assert token and f'value="{token}"' in page.text
        forged = browser.post(f"/datasets/{spare}/delete", data={"csrf_token": "x.y", "confirm": "1"})
        assert forged.status_code == 403
        ask = browser.post(f"/datasets/{dataset}/delete", data={"csrf_token": token})
        assert ask.status_code == 200 and "Delete weekly.csv?" in ask.text and "Schedule of Scheduled" in ask.text
        assert dataset in {d["id"] for d in api.get("/api/datasets").json()["datasets"]}  # not yet
        done = browser.post(f"/datasets/{dataset}/delete", data={"csrf_token": token, "confirm": "1"})
        assert done.status_code == 303 and done.headers["location"] == "/datasets?deleted=weekly.csv"
    left = {d["id"] for d in api.get("/api/datasets").json()["datasets"]}
    assert dataset not in left and spare in left
    with web.session_client(role="viewer") as viewer:
        listing = viewer.get("/datasets")
        assert listing.status_code == 200 and "spare.csv" in listing.text
        assert 'aria-label="Delete spare.csv"' not in listing.text  # viewers see no delete button
