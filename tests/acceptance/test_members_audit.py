"""Members, "my tokens" and the audit log, through a real web process on a real database (issue 9)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from common import accounts, db, sessions
from tests.support.accounts import api_token, sign_in_browser
from tests.support.databases import WORKSPACE, connect
from tests.support.processes import Service
from tests.support.receivers import smtp_server

ADMIN_EMAIL = "admin@tests.invalid"  # the member behind service.client()'s admin token
PASSWORD = "correct horse battery"


@pytest.fixture
def web(database_url: str, services: Callable[..., Service]) -> Service:
    return services("web", database_url, PUBLIC_BASE_URL="https://reports.example")


@pytest.fixture
def admin(web: Service) -> Iterator[httpx.Client]:
    with web.client() as client:
        yield client


def other_workspace(url: str, name: str = "Other") -> str:
    async def make() -> str:
        async with await db.connect_async(url) as conn:
            return str((await accounts.create_workspace(conn, name))["id"])
    return asyncio.run(make())


def user_id(url: str, email: str) -> str:
    with connect(url) as conn:
        row = conn.execute("SELECT id FROM users WHERE lower(email) = lower(%s)", (email,)).fetchone()
    assert row is not None, email
    return str(row["id"])


def events(client: httpx.Client, **params: object) -> list[dict]:
    answer = client.get("/api/audit", params={"limit": 200, **params})
    assert answer.status_code == 200, answer.text
    return answer.json()["events"]


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has a form with a CSRF token"
    return match.group(1)


def test_every_new_route_needs_its_role(web: Service, database_url: str) -> None:
    viewer_id = (api_token(database_url, "viewer"), user_id(database_url, "viewer@tests.invalid"))[1]
    member_routes = [("GET", "/api/members", None), ("POST", "/api/members", {"email": "x@y.test", "role": "viewer"}),
                     ("PATCH", f"/api/members/{viewer_id}", {"role": "editor"}),
                     ("DELETE", f"/api/members/{viewer_id}", None), ("GET", "/api/audit", None)]
    with web.client(role=None) as anonymous, web.client(role="viewer") as viewer, \
            web.client(role="editor") as editor, web.client() as admin:
        for method, path, body in member_routes:
            for client in (viewer, editor):
                answer = client.request(method, path, json=body)
                assert answer.status_code == 403 and answer.json()["error"]["code"] == "forbidden", (method, path)
            answer = anonymous.request(method, path, json=body)
            assert answer.status_code == 401 and answer.json()["error"]["code"] == "unauthenticated", (method, path)
        for path in ("/members", "/audit"):
            assert viewer.get(path).status_code == 403 and editor.get(path).status_code == 403
            answer = anonymous.get(path)
            assert answer.status_code == 303 and answer.headers["location"].startswith("/login?next=")
            assert admin.get(path).status_code == 200
        assert anonymous.get("/account/tokens").status_code == 303
        for method, path, body in [("GET", "/api/tokens", None), ("POST", "/api/tokens", {"name": "t"}),
                                   ("DELETE", "/api/tokens/00000000-0000-0000-0000-000000000000", None)]:
            assert anonymous.request(method, path, json=body).status_code == 401, (method, path)

        # A viewer has "my tokens", API and page; admins do the members' routes.
        assert viewer.get("/api/tokens").status_code == 200
        assert viewer.post("/api/tokens", json={"name": "mine"}).status_code == 201
        own_page = viewer.get("/account/tokens")
        assert own_page.status_code == 200 and 'href="/members"' not in own_page.text, "no admin links for a viewer"
        assert 'href="/members"' in admin.get("/account/tokens").text and 'href="/audit"' in admin.get("/").text
        assert admin.get("/api/members").status_code == 200
        assert admin.post("/api/members", json={"email": "x@y.test", "role": "viewer"}).status_code == 201
        assert admin.patch(f"/api/members/{viewer_id}", json={"role": "editor"}).json()["role"] == "editor"
        assert admin.delete(f"/api/members/{viewer_id}").status_code == 204
        assert admin.get("/api/audit").status_code == 200
        # The removed member's tokens ended with the membership.
        assert viewer.get("/api/tokens").status_code == 401


def test_another_workspaces_members_tokens_and_events_answer_404(web: Service, database_url: str) -> None:
    theirs_ws = other_workspace(database_url)
    with web.client() as mine, web.client(token=api_token(database_url, "admin", workspace_id=theirs_ws,
                                                          email="admin@b.test")) as theirs:
        member = mine.post("/api/members", json={"email": "a-member@a.test", "role": "editor"}).json()["member"]
        token = mine.post("/api/tokens", json={"name": "a-token"}).json()
        assert theirs.patch(f"/api/members/{member['user_id']}", json={"role": "admin"}).status_code == 404
        assert theirs.delete(f"/api/members/{member['user_id']}").status_code == 404
        assert theirs.delete(f"/api/tokens/{token['id']}").status_code == 404
        assert theirs.patch("/api/members/not-a-uuid", json={"role": "admin"}).status_code == 404
        listed = theirs.get("/api/members").json()["members"]
        assert [m["email"] for m in listed] == ["admin@b.test"]
        assert "a-member@a.test" not in theirs.get("/api/audit").text
        assert "a-member@a.test" not in theirs.get("/audit").text
        # Nothing changed on A's side.
        assert mine.get("/api/tokens").json()["tokens"][0]["id"] == token["id"]
        roles = {m["email"]: m["role"] for m in mine.get("/api/members").json()["members"]}
        assert roles["a-member@a.test"] == "editor"


def test_the_last_admin_can_be_neither_demoted_nor_removed(web: Service, database_url: str) -> None:
    workspace = other_workspace(database_url, "Solo")
    token = api_token(database_url, "admin", workspace_id=workspace, email="solo@c.test")
    solo = user_id(database_url, "solo@c.test")
    with web.client(token=token) as client:
        for answer in (client.patch(f"/api/members/{solo}", json={"role": "viewer"}),
                       client.delete(f"/api/members/{solo}")):
            assert answer.status_code == 409, answer.text
            assert answer.json()["error"]["code"] == "last_admin"
            assert "last admin" in answer.json()["error"]["message"]
        assert client.get("/api/members").json()["members"][0]["role"] == "admin"

        second = client.post("/api/members", json={"email": "second@c.test", "role": "admin"}).json()["member"]
        assert client.patch(f"/api/members/{solo}", json={"role": "editor"}).status_code == 200
        # solo is an editor now (its token acts as one): the new admin is the last one.
        assert client.get("/api/members").status_code == 403
    with web.client(token=api_token(database_url, "admin", workspace_id=workspace, email="second@c.test")) as client:
        assert client.delete(f"/api/members/{second['user_id']}").status_code == 409
        assert client.delete(f"/api/members/{solo}").status_code == 204


def test_every_recorded_action_leaves_an_audit_event(web: Service, admin: httpx.Client, database_url: str) -> None:
    # As from a proxy on this host (uvicorn trusts 127.0.0.1's X-Forwarded-For): the client claims
    # 203.0.113.7, the proxy appended what it saw, 10.0.0.1. Only the proxy's entry may be believed.
    forged = {"X-Forwarded-For": "203.0.113.7, 10.0.0.1"}
    template = admin.post("/api/templates", json={"name": "Audited", "body": "# hi"}, headers=forged).json()
    assert admin.put(f"/api/templates/{template['id']}", json={"name": "Audited", "body": "# hi again"}
                     ).status_code == 200
    run = admin.post("/api/runs", json={"template_id": template["id"], "parameters": {}}).json()
    # No worker runs here: the run's START_RUN job stays queued and cancelling it cancels the run.
    [start] = [j for j in admin.get("/api/jobs", params={"type": "START_RUN"}).json()["jobs"]
               if j["payload"].get("run_id") == run["id"]]
    assert admin.post(f"/api/jobs/{start['id']}/cancel", json={}).status_code == 200
    assert admin.post(f"/api/jobs/{start['id']}/retry", json={}).status_code == 200
    assert admin.delete(f"/api/templates/{template['id']}").status_code == 204
    token = admin.post("/api/tokens", json={"name": "ci", "expires_days": 30}).json()
    assert admin.delete(f"/api/tokens/{token['id']}").status_code == 204
    member = admin.post("/api/members", json={"email": "Audited@Example.test", "role": "viewer"}).json()["member"]
    assert admin.patch(f"/api/members/{member['user_id']}", json={"role": "editor"}).status_code == 200
    assert admin.delete(f"/api/members/{member['user_id']}").status_code == 204

    # The jobs page's buttons are recorded too (a signed-in browser's CSRF-checked form).
    ping = admin.post("/api/jobs", json={"type": "PING", "payload": {}, "run_at": "2099-01-01T00:00:00Z"}).json()
    with web.session_client() as browser:
        token_field = csrf_of(browser.get("/jobs").text)
        assert browser.post(f"/jobs/{ping['id']}/cancel", data={"csrf_token": token_field}).status_code == 303

    seen = events(admin)
    actions = [e["action"] for e in reversed(seen)]  # oldest first
    assert actions == ["template.saved", "template.saved", "run.started", "job.cancelled", "run.cancelled",
                       "job.retried", "template.archived", "token.created", "token.revoked", "member.added",
                       "member.changed", "member.removed", "job.cancelled"]
    assert {e["actor_email"] for e in seen} == {ADMIN_EMAIL}
    assert {e["actor_id"] for e in seen} == {user_id(database_url, ADMIN_EMAIL)}
    by_action = {e["action"]: e for e in reversed(seen)}  # the newest of each
    first = seen[-1]
    assert first["target"] == template["id"] and first["address"] == "10.0.0.1", "the proxy's entry, not the client's"
    assert first["detail"] == {"name": "Audited", "version": 1}
    assert seen[-2]["detail"]["version"] == 2
    assert by_action["run.started"]["target"] == run["id"]
    assert by_action["run.cancelled"]["target"] == run["id"]
    assert by_action["token.created"]["target"] == "ci"
    assert by_action["token.revoked"]["detail"]["token_id"] == token["id"]
    assert by_action["member.changed"]["detail"] == {"user_id": member["user_id"], "from": "viewer", "to": "editor"}
    assert by_action["member.removed"]["target"] == "Audited@Example.test"
    assert by_action["job.cancelled"]["target"] == ping["id"] and by_action["job.cancelled"]["address"] == "127.0.0.1"
    assert token["token"] not in admin.get("/api/audit").text

    # Paging: newest first, ?before= the last id of the page before.
    page1 = admin.get("/api/audit", params={"limit": 5}).json()
    page2 = admin.get("/api/audit", params={"limit": 5, "before": page1["next_before"]}).json()
    assert [e["id"] for e in page1["events"] + page2["events"]] == [e["id"] for e in seen[:10]]
    assert admin.get("/api/audit", params={"limit": 0}).status_code == 422
    assert admin.get("/api/audit", params={"before": "x"}).status_code == 422
    html = admin.get("/audit").text
    assert "member.removed" in html and "Audited@Example.test" in html and "10.0.0.1" in html
    assert "203.0.113.7" not in html


def test_my_tokens_never_show_the_secret_and_revoking_one_works_at_once(web: Service, database_url: str) -> None:
    with web.client(role="viewer") as viewer, web.client() as admin:
        created = viewer.post("/api/tokens", json={"name": "laptop", "expires_days": 7})
        assert created.status_code == 201 and created.headers["cache-control"] == "no-store"
        secret = created.json()["token"]
        assert secret.startswith("rg_") and created.json()["expires_at"] is not None
        listed = viewer.get("/api/tokens")
        assert secret not in listed.text and "token_hash" not in listed.text
        names = {t["name"]: t for t in listed.json()["tokens"]}
        assert set(names) == {"tests", "laptop"} and set(names["laptop"]) == {
            "id", "name", "created_at", "last_used_at", "expires_at", "expired"}
        assert "laptop" not in admin.get("/api/tokens").text, "only the caller's own tokens are listed"

        with web.client(token=secret) as laptop:
            assert laptop.get("/api/templates").status_code == 200
            assert viewer.delete(f"/api/tokens/{names['laptop']['id']}").status_code == 204
            assert viewer.delete(f"/api/tokens/{names['laptop']['id']}").status_code == 404, "revoked already"
            answer = laptop.get("/api/templates")
            assert answer.status_code == 401 and answer.json()["error"]["code"] == "unauthenticated"
        assert "laptop" not in viewer.get("/api/tokens").text

        # A viewer cannot revoke someone else's token (404, as if it did not exist); an admin can.
        admins = admin.get("/api/tokens").json()["tokens"]
        assert viewer.delete(f"/api/tokens/{admins[0]['id']}").status_code == 404
        other = viewer.post("/api/tokens", json={"name": "revoked-by-admin"}).json()
        assert admin.delete(f"/api/tokens/{other['id']}").status_code == 204
        with web.client(token=other["token"]) as revoked:
            assert revoked.get("/api/templates").status_code == 401
        for bad in ({"name": ""}, {"name": "x" * 201}, {"name": "x", "expires_days": 0},
                    {"name": "x", "expires_days": "7"}, {"name": "x", "extra": 1}):
            assert viewer.post("/api/tokens", json=bad).status_code == 422, bad

    with connect(database_url) as conn:
        stored = str(conn.execute("SELECT * FROM api_tokens").fetchall())
        logged = str(conn.execute("SELECT * FROM audit_events").fetchall())
    assert secret not in stored and secret not in logged and secret[3:] not in stored


def test_the_tokens_page_shows_a_new_token_once_and_revokes_it(web: Service) -> None:
    with web.session_client(role="editor") as editor:
        page = editor.get("/account/tokens")
        csrf = csrf_of(page.text)
        assert editor.post("/account/tokens", data={"name": "no-csrf"}).status_code == 403
        shown = editor.post("/account/tokens", data={"csrf_token": csrf, "name": "from the page", "expires_days": ""})
        assert shown.status_code == 200
        secret = re.search(r'id="new-token" class="secret" readonly value="(rg_[^"]+)"', shown.text).group(1)
        again = editor.get("/account/tokens").text
        assert "from the page" in again and secret not in again, "the token is shown once"
        token_id = next(t["id"] for t in editor.get("/api/tokens").json()["tokens"] if t["name"] == "from the page")
        assert editor.post("/account/tokens", data={"csrf_token": csrf, "name": "x", "expires_days": "zero"}
                           ).status_code == 422
        revoked = editor.post(f"/account/tokens/{token_id}/revoke", data={"csrf_token": csrf})
        assert revoked.status_code == 303 and revoked.headers["location"].startswith("/account/tokens?notice=")
        with web.client(token=secret) as gone:
            assert gone.get("/api/templates").status_code == 401


def test_an_invite_returns_a_one_time_link_and_an_existing_account_gets_none(
        web: Service, admin: httpx.Client, database_url: str) -> None:
    answer = admin.post("/api/members", json={"email": "newcomer@example.test", "role": "editor"})
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["member"]["role"] == "editor" and body["member"]["has_password"] is False
    assert body["emailed"] is False and body["link_valid_days"] == 7
    assert body["link"].startswith("https://reports.example/invite/")
    link_token = body["link"].rsplit("/", 1)[1]

    async def check_link() -> dict | None:
        async with await db.connect_async(database_url) as conn:
            return await sessions.invite(conn, link_token)
    live = asyncio.run(check_link())
    assert live is not None and live["email"] == "newcomer@example.test" and str(live["workspace_id"]) == WORKSPACE

    again = admin.post("/api/members", json={"email": "NEWCOMER@example.test", "role": "viewer"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_member"
    for bad in ({"email": "no-at-sign", "role": "viewer"}, {"email": "a@b.test", "role": "owner"},
                {"email": "a@b.test"}, {"email": "a@b.test", "role": "viewer", "x": 1}):
        assert admin.post("/api/members", json=bad).status_code == 422, bad

    # Someone with an account elsewhere is added without a link: no admin can set another's password.
    elsewhere = other_workspace(database_url)
    api_token(database_url, "viewer", workspace_id=elsewhere, email="known@b.test")
    known = admin.post("/api/members", json={"email": "known@b.test", "role": "viewer"}).json()
    assert known["link"] is None and known["member"]["email"] == "known@b.test"

    # The page: invite through the form (CSRF), the link shown in that answer; change a role; remove.
    with web.session_client() as browser:
        page = browser.get("/members")
        assert "newcomer@example.test" in page.text and "known@b.test" in page.text
        csrf = csrf_of(page.text)
        assert browser.post("/members", data={"email": "form@example.test", "role": "viewer"}).status_code == 403
        shown = browser.post("/members", data={"csrf_token": csrf, "email": "form@example.test", "role": "viewer"})
        assert shown.status_code == 200 and "https://reports.example/invite/" in shown.text
        assert "https://reports.example/invite/" not in browser.get("/members").text, "the link is shown once"
        form_user = user_id(database_url, "form@example.test")
        changed = browser.post(f"/members/{form_user}/role", data={"csrf_token": csrf, "role": "admin"})
        assert changed.status_code == 303 and "is+now+admin" in changed.headers["location"]
        removed = browser.post(f"/members/{form_user}/remove", data={"csrf_token": csrf})
        assert removed.status_code == 303
        assert "form@example.test" not in admin.get("/api/members").text
        me = user_id(database_url, ADMIN_EMAIL)
        refused = browser.post(f"/members/{me}/remove", data={"csrf_token": csrf})
        assert refused.status_code == 303 and "last+admin" in refused.headers["location"]

    # The link opens the set-password page; choosing a password signs the newcomer in (recorded).
    with web.client(role=None) as newcomer:
        opened = newcomer.get(f"/invite/{link_token}")
        assert opened.status_code == 200 and "newcomer@example.test" in opened.text
        accepted = newcomer.post(f"/invite/{link_token}", data={
            "csrf_token": csrf_of(opened.text), "password": PASSWORD, "password_repeat": PASSWORD})
        assert accepted.status_code == 303 and "rg_session" in accepted.cookies
        assert newcomer.get(f"/invite/{link_token}").status_code == 404, "a link works once"
    [signed_in] = [e for e in events(admin) if e["action"] == "signin.ok"]
    assert signed_in["actor_email"] == "newcomer@example.test" and signed_in["detail"] == {"via": "invite"}


def test_sign_ins_and_sign_outs_are_recorded_where_the_account_is(web: Service, admin: httpx.Client,
                                                                   database_url: str) -> None:
    theirs_ws = other_workspace(database_url)

    async def make() -> None:
        async with await db.connect_async(database_url) as conn:
            await accounts.create_user(conn, "ada@example.test", "editor", WORKSPACE, password=PASSWORD)
            await accounts.create_user(conn, "bob@b.test", "editor", theirs_ws, password=PASSWORD)
    asyncio.run(make())

    def sign_in(client: httpx.Client, email: str, password: str) -> httpx.Response:
        token = csrf_of(client.get("/login").text)
        return client.post("/login", data={"csrf_token": token, "email": email, "password": password, "next": "/"})

    with web.client(role=None) as browser:
        assert sign_in(browser, "ada@example.test", "wrong password").status_code == 401
        assert sign_in(browser, "nobody@example.test", "wrong password").status_code == 401
        assert sign_in(browser, "bob@b.test", "wrong password").status_code == 401
        assert sign_in(browser, "Ada@Example.test", PASSWORD).status_code == 303
        signed_out = browser.post("/logout", data={"csrf_token": csrf_of(browser.get("/account").text)})
        assert signed_out.status_code == 303

    seen = [(e["action"], e["target"], e["actor_id"]) for e in reversed(events(admin))]
    ada = user_id(database_url, "ada@example.test")
    assert seen == [("signin.failed", "ada@example.test", None), ("signin.failed", "nobody@example.test", None),
                    ("signin.ok", "ada@example.test", ada), ("signout.ok", "ada@example.test", ada)]
    assert all(e["address"] == "127.0.0.1" for e in events(admin))
    with web.client(token=api_token(database_url, "admin", workspace_id=theirs_ws, email="admin@b.test")) as theirs:
        assert [(e["action"], e["target"]) for e in events(theirs)] == [("signin.failed", "bob@b.test")]


def test_with_smtp_the_invite_link_is_also_e_mailed(database_url: str, services: Callable[..., Service]) -> None:
    with smtp_server() as (smtp_url, messages):
        web = services("web", database_url, SMTP_URL=smtp_url, SMTP_FROM="reports@example.com")
        with web.client() as admin:
            body = admin.post("/api/members", json={"email": "mailed@example.test", "role": "viewer"}).json()
    assert body["emailed"] is True and body["link"]
    [message] = messages
    assert message["To"] == "mailed@example.test" and message["From"] == "reports@example.com"
    assert body["link"] in message.get_body(("plain",)).get_content()


def test_a_schedules_run_now_is_a_run_started_from_the_api_and_the_page(web: Service, admin: httpx.Client) -> None:
    template = admin.post("/api/templates", json={"name": "Nightly", "body": "# night"}).json()["id"]
    schedule = admin.post("/api/schedules", json={"template_id": template, "cron": "@daily", "timezone": "UTC",
                                                  "emails": ["a@example.com"], "enabled": False}).json()
    fired = admin.post(f"/api/schedules/{schedule['id']}/run-now")
    assert fired.status_code == 202, fired.text
    with web.session_client() as browser:
        token = csrf_of(browser.get(f"/schedules/{schedule['id']}").text)
        assert browser.post(f"/schedules/{schedule['id']}/run-now", data={"csrf_token": token}).status_code == 303
    started = [e for e in reversed(events(admin)) if e["action"] == "run.started"]
    assert len(started) == 2 and started[0]["target"] == fired.json()["run_id"]
    assert all(e["detail"] == {"template_id": template, "schedule_id": schedule["id"]} for e in started)


@pytest.fixture
def chromium() -> Iterator[Any]:
    """Chromium as tests/acceptance/test_browser.py launches it (mandatory in CI, else skipped there too)."""
    from tests.acceptance import test_browser as browsers

    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        problem: str | None = f"playwright is not installed ({exc})"
    else:
        problem = None if browsers.CHROMIUM.exists() else f"{browsers.CHROMIUM} is missing"
    if problem:
        if browsers.browser_required():
            pytest.fail(f"the browser test is mandatory here (CI / REPORTGEN_REQUIRE_BROWSER): {problem}")
        pytest.skip(problem)
    with sync_playwright() as playwright:
        instance = browsers.launch(playwright)
        yield instance
        instance.close()


def test_in_a_browser_an_admin_invites_and_the_newcomer_follows_the_link(
        database_url: str, services: Callable[..., Service], chromium: Any) -> None:
    web = services("web", database_url)
    admin_context = chromium.new_context()
    sign_in_browser(admin_context, web.base_url, database_url, role="admin")
    page = admin_context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{web.base_url}/members")
    page.fill("input[name=email]", "newbie@example.test")
    page.select_option(".invite-form select[name=role]", "editor")
    page.click("button:text('Invite')")
    link = page.input_value("#invite-link")
    assert "/invite/" in link and "newbie@example.test" in page.inner_text("table.members")
    page.click("nav >> text=Audit")
    assert "member.added" in page.inner_text("table.audit")
    page.click("nav >> text=My tokens")
    page.fill("input[name=name]", "from chromium")
    page.click("button:text('Create token')")
    assert page.input_value("#new-token").startswith("rg_")
    assert not errors, errors
    admin_context.close()

    newcomer = chromium.new_context()
    page = newcomer.new_page()
    page.goto(web.base_url + "/invite/" + link.rsplit("/invite/", 1)[1])
    page.fill("#password", PASSWORD)
    page.fill("#password_repeat", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{web.base_url}/")
    nav = page.inner_text("nav")
    assert "My tokens" in nav and "Members" not in nav, "an editor sees no admin pages"
    newcomer.close()
