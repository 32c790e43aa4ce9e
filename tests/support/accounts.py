"""API credentials for tests: a member with a role and a token, straight in the test's database.

``Service.client()`` carries an admin's token made here; tests that exercise roles ask for their own
tokens, and browser tests get a session with ``sign_in_browser``.
"""

from __future__ import annotations

from typing import Any

from common.accounts import new_token, secret_hash
from tests.support.databases import WORKSPACE, connect


def api_token(database_url: str, role: str = "admin", *, workspace_id: str = WORKSPACE,
              email: str | None = None) -> str:
    """A new token of a (new or existing) ``role`` member of ``workspace_id``."""
    email = email or f"{role}@tests.invalid"
    token = new_token()
    with connect(database_url) as conn:
        user = conn.execute(
            "INSERT INTO users (email) VALUES (%s) ON CONFLICT (lower(email)) DO UPDATE SET email = EXCLUDED.email "
            "RETURNING id", (email,)).fetchone()
        assert user is not None
        conn.execute("INSERT INTO memberships (user_id, workspace_id, role) VALUES (%s, %s, %s) "
                     "ON CONFLICT (user_id, workspace_id) DO UPDATE SET role = EXCLUDED.role",
                     (user["id"], workspace_id, role))
        conn.execute("INSERT INTO api_tokens (token_hash, user_id, workspace_id, name) VALUES (%s, %s, %s, 'tests')",
                     (secret_hash(token), user["id"], workspace_id))
    return token


def session_cookie(database_url: str, role: str = "admin", *, workspace_id: str = WORKSPACE,
                   email: str | None = None) -> str:
    """A signed-in browser's ``rg_session`` cookie value for a (new or existing) ``role`` member."""
    import secrets

    api_token(database_url, role, workspace_id=workspace_id, email=email)  # makes the member
    email = email or f"{role}@tests.invalid"
    cookie = secrets.token_urlsafe(32)
    with connect(database_url) as conn:
        conn.execute("INSERT INTO sessions (token_hash, user_id, workspace_id, expires_at) "
                     "SELECT %s, id, %s, now() + interval '1 day' FROM users WHERE lower(email) = lower(%s)",
                     (secret_hash(cookie), workspace_id, email))
    return cookie


def sign_in_browser(context: Any, base_url: str, database_url: str, role: str = "admin", **member: Any) -> None:
    """Give a Playwright browser context a live session (the ``rg_session`` cookie) as a ``role`` member."""
    context.add_cookies([{"name": "rg_session", "value": session_cookie(database_url, role, **member),
                          "url": base_url, "httpOnly": True, "sameSite": "Lax"}])


def signed_in_page(chromium: Any, web: Any, role: str = "editor", **context_options: Any) -> tuple[Any, Any, list[str]]:
    """A new browser context signed in as a ``role`` member of ``web`` (a tests.support.processes.Service),
    its page, and the list its console errors and page errors are collected in."""
    context = chromium.new_context(**{"viewport": {"width": 1280, "height": 900}, **context_options})
    sign_in_browser(context, web.base_url, web.database_url, role=role)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    return context, page, problems
