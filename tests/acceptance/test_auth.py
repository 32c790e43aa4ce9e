"""Each route's Access enforced by a real web process on a real database (API tokens; issue 9)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import httpx
import pytest

from common import accounts, db
from tests.support.accounts import api_token
from tests.support.databases import WORKSPACE, connect
from tests.support.processes import Service


async def _setup(url: str) -> dict[str, str]:
    async with await db.connect_async(url) as conn:
        other = str((await accounts.create_workspace(conn, "Other"))["id"])
        tokens = {}
        for email, role, workspace in (("admin@a.test", "admin", WORKSPACE), ("viewer@a.test", "viewer", WORKSPACE),
                                       ("editor@a.test", "editor", WORKSPACE), ("admin@b.test", "admin", other)):
            user = await accounts.create_user(conn, email, role, workspace)
            tokens[email], _ = await accounts.create_token(conn, str(user["id"]), workspace)
    return tokens


@pytest.fixture
def app_and_tokens(database_url: str,
                   services: Callable[..., Service]) -> Iterator[tuple[httpx.Client, dict[str, str]]]:
    tokens = asyncio.run(_setup(database_url))
    web = services("web", database_url, METRICS_TOKEN="m-secret")
    # A bare client on purpose: this test chooses each request's credential itself.
    with httpx.Client(base_url=web.base_url, timeout=30, follow_redirects=False) as client:
        yield client, tokens


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_every_access_level_is_enforced(app_and_tokens: tuple[httpx.Client, dict[str, str]]) -> None:
    client, tokens = app_and_tokens
    assert client.get("/healthz").status_code == 200
    assert client.get("/no/such/path").status_code == 404
    assert client.get("/no/such/path", headers=auth("rg_bad")).status_code == 404

    answer = client.get("/api/templates")
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "unauthenticated"
    answer = client.get("/api/templates", headers=auth("rg_not-a-real-token"))
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "unauthenticated"
    answer = client.get("/jobs?status=FAILED")
    assert answer.status_code == 303 and answer.headers["location"] == "/login?next=%2Fjobs%3Fstatus%3DFAILED"

    viewer, editor, admin = tokens["viewer@a.test"], tokens["editor@a.test"], tokens["admin@a.test"]
    assert client.get("/api/templates", headers=auth(viewer)).status_code == 200
    answer = client.post("/api/templates", headers=auth(viewer), json={"name": "x", "body": "# x"})
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "forbidden"
    assert client.post("/api/templates", headers=auth(editor), json={"name": "x", "body": "# x"}).status_code == 201
    assert client.get("/api/jobs", headers=auth(editor)).status_code == 403
    assert client.get("/jobs", headers=auth(editor)).status_code == 403
    assert client.get("/api/jobs", headers=auth(admin)).status_code == 200
    assert client.get("/jobs", headers=auth(admin)).status_code == 200

    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=auth("m-wrong")).status_code == 401
    assert client.get("/metrics", headers=auth("m-secret")).status_code == 200


def test_another_workspace_sees_nothing(app_and_tokens: tuple[httpx.Client, dict[str, str]]) -> None:
    client, tokens = app_and_tokens
    mine, theirs = auth(tokens["admin@a.test"]), auth(tokens["admin@b.test"])
    template = client.post("/api/templates", headers=mine, json={"name": "Mine", "body": "# hello"}).json()
    job = client.post("/api/jobs", headers=mine, json={"type": "PING", "payload": {}})
    assert job.status_code == 201, job.text
    job_id = job.json()["id"]

    assert client.get(f"/api/templates/{template['id']}", headers=mine).status_code == 200
    assert client.get(f"/api/templates/{template['id']}", headers=theirs).status_code == 404
    assert client.get(f"/api/jobs/{job_id}", headers=theirs).status_code == 404
    assert client.post(f"/api/jobs/{job_id}/cancel", headers=theirs, json={}).status_code == 404
    assert client.get(f"/jobs/{job_id}", headers=theirs).status_code == 404
    listed = client.get("/api/templates", headers=theirs).json()
    assert template["id"] not in str(listed)
    assert job_id not in client.get("/api/jobs", headers=theirs).text
    assert job_id not in client.get("/jobs", headers=theirs).text
    assert job_id in client.get("/api/jobs", headers=mine).text


def test_tokens_from_the_test_support_work(app_and_tokens: tuple[httpx.Client, dict[str, str]],
                                           database_url: str) -> None:
    client, _ = app_and_tokens
    assert client.get("/api/jobs", headers=auth(api_token(database_url, "admin"))).status_code == 200
    assert client.get("/api/jobs", headers=auth(api_token(database_url, "viewer"))).status_code == 403


def test_a_revoked_token_is_turned_away(app_and_tokens: tuple[httpx.Client, dict[str, str]],
                                        database_url: str) -> None:
    client, tokens = app_and_tokens
    token = tokens["viewer@a.test"]
    assert client.get("/api/templates", headers=auth(token)).status_code == 200

    async def revoke() -> None:
        async with await db.connect_async(database_url) as conn:
            await accounts.revoke_token(conn, token)
    asyncio.run(revoke())
    assert client.get("/api/templates", headers=auth(token)).status_code == 401


def test_a_raw_job_cannot_take_an_internal_dedup_key(app_and_tokens: tuple[httpx.Client, dict[str, str]]) -> None:
    client, tokens = app_and_tokens
    admin = auth(tokens["admin@a.test"])
    internal = "export:00000000-0000-0000-0000-000000000000:pdf"
    answer = client.post("/api/jobs", headers=admin, json={"type": "PING", "payload": {}, "dedup_key": internal})
    assert answer.status_code == 422 and answer.json()["error"]["details"] == {"dedup_key": "reserved prefix"}
    assert client.post("/api/jobs", headers=admin, json={"type": "PING", "payload": {},
                                                         "dedup_key": "nightly-1"}).status_code == 201


def test_runs_reports_and_events_of_another_workspace_answer_404(
        app_and_tokens: tuple[httpx.Client, dict[str, str]]) -> None:
    client, tokens = app_and_tokens
    mine, theirs = auth(tokens["admin@a.test"]), auth(tokens["admin@b.test"])
    template = client.post("/api/templates", headers=mine, json={"name": "R", "body": "# hello"}).json()
    run = client.post("/api/runs", headers=mine, json={"template_id": template["id"], "parameters": {}})
    assert run.status_code == 201, run.text
    run_id = run.json()["id"]
    assert client.get(f"/api/runs/{run_id}", headers=mine).status_code == 200
    for path in (f"/api/runs/{run_id}", f"/api/runs/{run_id}/events", f"/api/runs/{run_id}/report",
                 f"/runs/{run_id}", f"/runs/{run_id}/fragment"):
        assert client.get(path, headers=theirs).status_code == 404, path
    assert client.get("/api/runs", headers=theirs).json() == {"runs": []}
    assert run_id in client.get("/api/runs", headers=mine).text


def test_every_route_of_the_table_turns_away_a_request_without_credentials(
        app_and_tokens: tuple[httpx.Client, dict[str, str]]) -> None:
    """The whole route table, walked: each method of each route, path parameters filled with a random id."""
    import re
    import uuid

    from starlette.routing import Route as StarletteRoute

    from common.config import Settings
    from web.app import create_app
    from web.permissions import Access

    client, _ = app_and_tokens
    app = create_app(Settings.from_env({}), "postgresql://nobody@127.0.0.1:1/none", migrate=False)
    checked = 0
    for route in app.routes:
        access = getattr(route, "access", None)
        if not isinstance(route, StarletteRoute) or access in (Access.OPEN, Access.SHARE, Access.METRICS):
            continue
        path = re.sub(r"\{[^}]+\}", str(uuid.uuid4()), route.path)
        for method in sorted((route.methods or {"GET"}) - {"HEAD"}):
            answer = client.request(method, path)
            if path.startswith("/api/"):
                assert answer.status_code == 401, (method, path, answer.status_code)
                assert answer.json()["error"]["code"] == "unauthenticated"
            else:
                assert answer.status_code == 303, (method, path, answer.status_code)
                assert answer.headers["location"].startswith("/login?next=")
            checked += 1
    assert checked > 30


def test_an_editor_cancels_a_run_and_a_viewer_cannot(app_and_tokens: tuple[httpx.Client, dict[str, str]],
                                                     database_url: str) -> None:
    """DESIGN.md: editors start and cancel runs (without the operators' raw job actions)."""
    client, tokens = app_and_tokens
    editor, viewer, theirs = (auth(tokens["editor@a.test"]), auth(tokens["viewer@a.test"]),
                              auth(tokens["admin@b.test"]))
    template = client.post("/api/templates", headers=editor, json={"name": "C", "body": "# hello"}).json()
    run_id = client.post("/api/runs", headers=editor, json={"template_id": template["id"],
                                                            "parameters": {}}).json()["id"]
    assert client.post(f"/api/runs/{run_id}/cancel", headers=viewer, json={}).status_code == 403
    assert client.post(f"/api/runs/{run_id}/cancel", headers=theirs, json={}).status_code == 404
    assert client.get(f"/api/runs/{run_id}", headers=editor).json()["status"] == "QUEUED", "no worker runs here"
    cancelled = client.post(f"/api/runs/{run_id}/cancel", headers=editor, json={})
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "CANCELLED", cancelled.text
    again = client.post(f"/api/runs/{run_id}/cancel", headers=editor, json={})
    assert again.status_code == 409
    with connect(database_url) as conn:
        actions = [r["action"] for r in conn.execute(
            "SELECT action FROM audit_events WHERE target = %s OR detail->>'run_id' = %s ORDER BY id",
            (run_id, run_id)).fetchall()]
    assert actions == ["run.started", "job.cancelled", "run.cancelled"], actions
