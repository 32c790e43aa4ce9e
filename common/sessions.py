"""Browser sessions and one-time sign-in links (issue 9); the web and the CLI both use these.

A session is a random cookie value whose sha256 is a row of ``sessions``: signing out revokes the row,
so a copied cookie stops working at once, and a password change revokes every other session of the
user. Two expiries bound a session: idle (``SESSION_IDLE_HOURS`` since it was last used) and absolute
(``SESSION_MAX_DAYS`` since sign-in), the pair OWASP's session management cheat sheet asks for.

A sign-in link (``/invite/<token>``) is one row of ``invites``: made by an admin's invite (valid 7 days),
by ``reportgen users create`` without a password, or by ``make run`` for the first local admin. Its page
asks for a new password; spending it is one conditional UPDATE, so a link works exactly once.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection

from common.accounts import Principal, hash_password, secret_hash
from common.errors import NotFound
from common.sql import query

COOKIE = "rg_session"
INVITE_DAYS = 7


@dataclass(frozen=True)
class SessionPrincipal(Principal):
    """A session's principal: also the session's id (for switching and revoking) and the user's name."""

    session_id: str = ""
    email: str = ""
    display_name: str = ""


def new_secret() -> str:
    return secrets.token_urlsafe(32)  # 256 bits


async def create(conn: AsyncConnection, user_id: str, workspace_id: str, *, max_age: dt.timedelta) -> str:
    """A new session for a member; returns the cookie value (only its hash is stored)."""
    cookie = new_secret()
    await conn.execute(query("session_create"), {"token_hash": secret_hash(cookie), "user_id": user_id,
                                                 "workspace_id": workspace_id,
                                                 "max_seconds": max_age.total_seconds()})
    return cookie


async def authenticate(conn: AsyncConnection, cookie: str, *, idle: dt.timedelta) -> SessionPrincipal | None:
    """The principal of a live session cookie, or None; the idle clock is written at most once a minute."""
    if not cookie or len(cookie) > 200:
        return None
    cur = await conn.execute(query("session_authenticate"),
                             {"token_hash": secret_hash(cookie), "idle_seconds": idle.total_seconds()})
    row: dict[str, Any] | None = await cur.fetchone()  # type: ignore[assignment]
    if row is None:
        return None
    if dt.datetime.now(dt.UTC) - row["last_seen_at"] >= dt.timedelta(minutes=1):
        await conn.execute(query("session_touch"), {"id": row["id"]})
    return SessionPrincipal(str(row["user_id"]), str(row["workspace_id"]), row["role"], "session",
                            session_id=str(row["id"]), email=row["email"], display_name=row["display_name"])


async def revoke(conn: AsyncConnection, cookie: str) -> None:
    await conn.execute(query("session_revoke"), {"token_hash": secret_hash(cookie)})


async def revoke_others(conn: AsyncConnection, user_id: str, keep_session_id: str | None) -> None:
    await conn.execute(query("sessions_revoke_others"), {"user_id": user_id, "keep_id": keep_session_id})


async def switch_workspace(conn: AsyncConnection, session_id: str, workspace_id: str) -> None:
    """Make the session act in another of the user's workspaces; NotFound when not a member (404)."""
    try:
        workspace_id = str(uuid.UUID(workspace_id))
    except ValueError:
        raise NotFound("no such workspace") from None
    cur = await conn.execute(query("session_switch_workspace"), {"id": session_id, "workspace_id": workspace_id})
    if await cur.fetchone() is None:
        raise NotFound("no such workspace")


async def workspaces_of(conn: AsyncConnection, user_id: str) -> list[dict[str, Any]]:
    return await (await conn.execute(query("memberships_of_user"), {"user_id": user_id})).fetchall()  # type: ignore[return-value]


async def create_invite(conn: AsyncConnection, user_id: str, workspace_id: str, *,
                        days: float = INVITE_DAYS) -> str:
    """A one-time sign-in link's token for a member (``/invite/<token>``), valid ``days``."""
    token = new_secret()
    await conn.execute(query("invite_create"), {"token_hash": secret_hash(token), "user_id": user_id,
                                                "workspace_id": workspace_id, "valid_seconds": days * 86400})
    return token


async def invite(conn: AsyncConnection, token: str) -> dict[str, Any] | None:
    """A live link's row (with the user's email), or None when unknown, used or expired."""
    if not token or len(token) > 200:
        return None
    return await (await conn.execute(query("invite_get"), {"token_hash": secret_hash(token)})).fetchone()  # type: ignore[return-value]


async def accept_invite(conn: AsyncConnection, token: str, password: str) -> dict[str, Any] | None:
    """Spend a link: set the user's password (validated first), revoke their other sessions, and return
    the (user_id, workspace_id) row to open a session with; None when the link was already spent."""
    password_hash = hash_password(password)
    async with conn.transaction():
        used: dict[str, Any] | None = await (await conn.execute(
            query("invite_use"), {"token_hash": secret_hash(token)})).fetchone()  # type: ignore[assignment]
        if used is None:
            return None
        await conn.execute(query("user_set_password"), {"id": used["user_id"], "password_hash": password_hash})
        await revoke_others(conn, str(used["user_id"]), None)
    return used


def link(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/invite/{token}"
