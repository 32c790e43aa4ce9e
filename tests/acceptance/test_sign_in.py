"""Signing in and out of a real web process (issue 9): sessions, one-time links, throttling, the switcher."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from collections.abc import Callable

import httpx
import pytest

from common import accounts, db
from tests.support.databases import WORKSPACE, connect
from tests.support.processes import ROOT, Service

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
PASSWORD = "correct horse battery"


@pytest.fixture
def web(database_url: str, services: Callable[..., Service]) -> Service:
    return services("web", database_url)


def member(url: str, email: str, role: str = "editor", workspace: str = WORKSPACE,
           password: str | None = PASSWORD) -> str:
    async def make() -> str:
        async with await db.connect_async(url) as conn:
            return str((await accounts.create_user(conn, email, role, workspace, password=password))["id"])
    return asyncio.run(make())


def browser(web: Service, **headers: str) -> httpx.Client:
    """A cookie jar and no credential, like a browser that has not signed in."""
    return httpx.Client(base_url=web.base_url, timeout=30, headers=headers)


def form_token(client: httpx.Client, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text
    found = TOKEN.search(page.text)
    assert found is not None
    return found.group(1)


def sign_in(client: httpx.Client, email: str, password: str = PASSWORD, next_path: str = "/") -> httpx.Response:
    token = form_token(client, "/login")
    return client.post("/login", data={"csrf_token": token, "email": email, "password": password,
                                       "next": next_path})


def test_sign_in_session_cookie_and_sign_out(web: Service, database_url: str) -> None:
    member(database_url, "Ada@Example.test")
    with browser(web) as client:
        assert client.get("/api/templates").status_code == 401
        assert client.get("/templates").headers["location"] == "/login?next=%2Ftemplates"
        wrong = sign_in(client, "ada@example.test", "not the password")
        assert wrong.status_code == 401 and "do not match" in wrong.text
        assert "rg_session" not in wrong.cookies
        ok = sign_in(client, "ADA@example.test", next_path="/templates")  # the email in any case
        assert ok.status_code == 303 and ok.headers["location"] == "/templates"
        set_cookie = ok.headers["set-cookie"].lower()
        assert "httponly" in set_cookie and "samesite=lax" in set_cookie and "secure" not in set_cookie
        cookie = ok.cookies["rg_session"]
        assert client.get("/api/templates").status_code == 200
        assert "Sign out" in client.get("/templates").text

        with browser(web) as thief:  # the cookie alone opens the API, until sign-out
            thief.cookies.set("rg_session", cookie, domain="127.0.0.1")
            assert thief.get("/api/templates").status_code == 200
            signed_out = client.post("/logout", data={"csrf_token": form_token(client, "/account")})
            assert signed_out.status_code == 303 and signed_out.headers["location"] == "/login"
            assert thief.get("/api/templates").status_code == 401, "sign-out ends the session server-side"
    with connect(database_url) as conn:
        stored = conn.execute("SELECT token_hash, revoked_at FROM sessions").fetchall()
    assert len(stored) == 1 and stored[0]["revoked_at"] is not None
    assert cookie.encode() not in bytes(stored[0]["token_hash"]), "only the cookie's hash is kept"


def test_the_cookie_is_secure_behind_an_https_proxy_and_next_stays_on_this_site(web: Service,
                                                                               database_url: str) -> None:
    member(database_url, "bo@example.test")
    with browser(web, **{"X-Forwarded-Proto": "https"}) as client:
        ok = sign_in(client, "bo@example.test", next_path="//evil.example/x")
        assert ok.status_code == 303 and ok.headers["location"] == "/"
        assert "secure" in ok.headers["set-cookie"].lower()
    for hostile in ("https://evil.example", "/\\evil.example", "javascript:alert(1)"):
        with browser(web) as client:
            assert sign_in(client, "bo@example.test", next_path=hostile).headers["location"] == "/"


def test_idle_and_absolute_expiry_end_a_session(web: Service, database_url: str) -> None:
    member(database_url, "cy@example.test")
    with browser(web) as idle, browser(web) as old:
        sign_in(idle, "cy@example.test")
        sign_in(old, "cy@example.test")
        assert idle.get("/api/templates").status_code == 200 and old.get("/api/templates").status_code == 200
        with connect(database_url) as conn:
            ids = [r["id"] for r in conn.execute("SELECT id FROM sessions ORDER BY created_at").fetchall()]
            conn.execute("UPDATE sessions SET last_seen_at = now() - interval '13 hours' WHERE id = %s", (ids[0],))
            conn.execute("UPDATE sessions SET expires_at = now() - interval '1 second' WHERE id = %s", (ids[1],))
        assert idle.get("/api/templates").status_code == 401  # SESSION_IDLE_HOURS (12)
        assert old.get("/api/templates").status_code == 401  # SESSION_MAX_DAYS
        assert old.get("/").headers["location"] == "/login?next=%2F"


def test_failed_sign_ins_are_throttled_per_account_and_per_address(web: Service, database_url: str) -> None:
    member(database_url, "di@example.test")
    with browser(web) as client:
        for _ in range(5):
            assert sign_in(client, "di@example.test", "guess").status_code == 401
        throttled = sign_in(client, "di@example.test")  # even the right password waits now
        assert throttled.status_code == 429 and "too many failed sign-ins" in throttled.text
        assert 1 <= int(throttled.headers["retry-after"]) <= 15 * 60
        assert client.get("/api/templates").status_code == 401
        # Per address: guesses spread over many accounts stop at 20 (5 above + 15 here).
        for n in range(15):
            assert sign_in(client, f"nobody{n}@example.test", "guess").status_code == 401
        assert sign_in(client, "fresh@example.test", "guess").status_code == 429
    with connect(database_url) as conn:
        conn.execute("DELETE FROM sign_in_failures")
    with browser(web) as client:
        assert sign_in(client, "di@example.test").status_code == 303, "the window passing lifts the throttle"


def test_a_one_time_link_from_the_cli_sets_a_password_once(web: Service, database_url: str) -> None:
    made = subprocess.run([sys.executable, "-m", "reportgen.cli", "users", "create", "ed@example.test",
                           "--role", "viewer"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={"DATABASE_URL": database_url, "PATH": "/usr/bin:/bin",
                               "PUBLIC_BASE_URL": web.base_url})
    assert made.returncode == 0, made.stderr
    link = made.stdout.strip().splitlines()[-1]
    assert link.startswith(f"{web.base_url}/invite/")
    path = link.removeprefix(web.base_url)
    with browser(web) as client:
        page = client.get(path)
        assert page.status_code == 200 and "ed@example.test" in page.text
        token = form_token(client, path)
        short = client.post(path, data={"csrf_token": token, "password": "short", "password_repeat": "short"})
        assert short.status_code == 422 and "at least 8 characters" in short.text
        done = client.post(path, data={"csrf_token": token, "password": PASSWORD, "password_repeat": PASSWORD})
        assert done.status_code == 303 and done.headers["location"] == "/"
        assert client.get("/api/templates").status_code == 200
        again = client.post(path, data={"csrf_token": token, "password": "another one",
                                        "password_repeat": "another one"})
        assert again.status_code == 404, "a link works once"
    with browser(web) as client:
        assert sign_in(client, "ed@example.test").status_code == 303
        assert client.get("/invite/not-a-real-link").status_code == 404


def test_a_password_change_ends_the_other_sessions(web: Service, database_url: str) -> None:
    member(database_url, "fi@example.test")
    with browser(web) as here, browser(web) as elsewhere:
        sign_in(here, "fi@example.test")
        sign_in(elsewhere, "fi@example.test")
        token = form_token(here, "/account")
        wrong = here.post("/account/password", data={
            "csrf_token": token, "current_password": "nope", "new_password": "new password 1",
            "new_password_repeat": "new password 1"})
        assert wrong.status_code == 422 and elsewhere.get("/api/templates").status_code == 200
        changed = here.post("/account/password", data={
            "csrf_token": token, "current_password": PASSWORD, "new_password": "new password 1",
            "new_password_repeat": "new password 1"})
        assert changed.status_code == 303
        assert here.get("/api/templates").status_code == 200
        assert elsewhere.get("/api/templates").status_code == 401
    with browser(web) as client:
        assert sign_in(client, "fi@example.test").status_code == 401
        assert sign_in(client, "fi@example.test", "new password 1").status_code == 303


def test_the_switcher_moves_a_session_between_the_users_workspaces(web: Service, database_url: str) -> None:
    async def second_workspace() -> str:
        async with await db.connect_async(database_url) as conn:
            return str((await accounts.create_workspace(conn, "Second"))["id"])
    other, stranger = asyncio.run(second_workspace()), asyncio.run(second_workspace())
    member(database_url, "gu@example.test", "editor")
    member(database_url, "gu@example.test", "viewer", other)
    with browser(web) as client:
        sign_in(client, "gu@example.test")
        created = client.post("/api/templates", json={"name": "Only in the first", "body": "# x"})
        assert created.status_code == 201
        assert "Second" in client.get("/account").text
        token = form_token(client, "/account")
        def switch(workspace: str) -> int:
            return client.post("/account/workspace", data={"csrf_token": token, "workspace_id": workspace}).status_code
        assert switch(stranger) == 404 and switch("x") == 404
        assert switch(other) == 303
        names = [t["name"] for t in client.get("/api/templates").json()["templates"]]
        assert "Only in the first" not in names
        assert client.get(f"/api/templates/{created.json()['id']}").status_code == 404
        assert client.post("/api/templates", json={"name": "y", "body": "# y"}).status_code == 403  # a viewer there


def test_csrf_holds_for_cookie_sessions_and_bearer_tokens_need_none(web: Service, database_url: str) -> None:
    member(database_url, "ha@example.test")
    files = {"file": ("a.csv", b"a,b\n1,2\n", "text/csv")}
    with browser(web) as client:
        sign_in(client, "ha@example.test")
        refused = client.post("/api/datasets", files=files)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf_rejected"
        csrf = client.get("/api/csrf").json()["csrf_token"]
        assert client.post("/api/datasets", files=files, headers={"X-CSRF-Token": csrf}).status_code == 201
    with web.client(role="editor") as api:
        assert api.post("/api/datasets", files=files).status_code == 201


def database_text(url: str) -> str:
    """Every row of every table of the schema, as JSON text (bytea columns as hex)."""
    with connect(url) as conn:
        tables = [r["table_name"] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
            "AND table_type = 'BASE TABLE'").fetchall()]
        return "\n".join(str(r["row"]) for table in tables for r in conn.execute(
            f'SELECT row_to_json(t)::text AS row FROM "{table}" t').fetchall())


def test_no_secret_is_stored_in_plaintext(web: Service, database_url: str) -> None:
    member(database_url, "io@example.test")
    with browser(web) as client:
        cookie = sign_in(client, "io@example.test").cookies["rg_session"]
    with web.client() as api:
        token = api.headers["authorization"].removeprefix("Bearer ")
        assert api.get("/api/templates").status_code == 200
    text = database_text(database_url)
    assert "io@example.test" in text and "argon2id" in text  # the rows are there, hashed
    for secret in (PASSWORD, cookie, token, token.removeprefix("rg_")):
        assert secret not in text
