"""A workspace's members (issue 9, item 4): list, invite, change role, remove; the admin's operations.

Two rules hold here, not in the web layer, so that every caller keeps them:

- **A workspace always keeps an admin.** A demotion or removal locks the workspace's admin rows
  (``members_admins_lock``) and refuses, with ``LastAdmin`` (409), to take away the last one; two
  concurrent demotions of the two last admins are serialised by that lock, so one of them is refused.
- **An invite never hands over someone else's account.** The one-time link sets the password, and the
  inviting admin sees it; so a link is made only for a user who has no password yet and belongs to no
  other workspace. An existing account is added as a member without a link: they sign in as before.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection

from common import accounts, sessions
from common.errors import Conflict, NotFound
from common.sql import query


class LastAdmin(Conflict):
    code = "last_admin"


@dataclass(frozen=True)
class Invited:
    member: dict[str, Any]
    link_token: str | None  # None: an existing account, added without a link


def user_id(raw: str) -> str:
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise NotFound(f"no member {raw!r}: user ids are UUIDs") from None


async def list_members(conn: AsyncConnection, workspace_id: str) -> list[dict[str, Any]]:
    return await (await conn.execute(query("members_list"), {"workspace_id": workspace_id})).fetchall()  # type: ignore[return-value]


async def get(conn: AsyncConnection, workspace_id: str, member_id: str) -> dict[str, Any]:
    cur = await conn.execute(query("member_get"), {"workspace_id": workspace_id, "user_id": user_id(member_id)})
    row: dict[str, Any] | None = await cur.fetchone()  # type: ignore[assignment]
    if row is None:
        raise NotFound(f"no member {member_id!r} in this workspace")
    return row


async def invite(conn: AsyncConnection, workspace_id: str, email: str, role: str, *,
                 link_days: float = sessions.INVITE_DAYS) -> Invited:
    """Add ``email`` as a ``role`` member (creating the user when new); Conflict when already a member."""
    accounts.check_role(role)
    email = accounts.normalise_email(email)
    async with conn.transaction():
        try:
            existing = await accounts.user_by_email(conn, email)
        except NotFound:
            existing = None
        if existing is not None and await (await conn.execute(query("membership_get"), {
                "user_id": existing["id"], "workspace_id": workspace_id})).fetchone() is not None:
            raise Conflict(f"{email} is already a member of this workspace; change their role instead",
                           code="already_member")
        user = await accounts.create_user(conn, email, role, workspace_id)
        others: dict[str, Any] | None = await (await conn.execute(query("member_other_workspaces"), {
            "user_id": user["id"], "workspace_id": workspace_id})).fetchone()  # type: ignore[assignment]
        may_link = (existing is None or not existing["password_hash"]) and others is not None and others["n"] == 0
        token = await sessions.create_invite(conn, str(user["id"]), workspace_id, days=link_days) if may_link else None
        member = await get(conn, workspace_id, str(user["id"]))
    return Invited(member, token)


async def _admins_locked(conn: AsyncConnection, workspace_id: str) -> set[str]:
    rows = await (await conn.execute(query("members_admins_lock"), {"workspace_id": workspace_id})).fetchall()
    return {str(r["user_id"]) for r in rows}  # type: ignore[call-overload]


async def change_role(conn: AsyncConnection, workspace_id: str, member_id: str,
                      role: str) -> tuple[str, dict[str, Any]]:
    """Set a member's role; returns (the previous role, the member). LastAdmin when it would leave none."""
    accounts.check_role(role)
    ident = user_id(member_id)
    async with conn.transaction():
        admins = await _admins_locked(conn, workspace_id)
        before = await get(conn, workspace_id, ident)
        if before["role"] == "admin" and role != "admin" and admins <= {ident}:
            raise LastAdmin("this is the workspace's last admin: make another member admin first")
        await conn.execute(query("member_set_role"), {"workspace_id": workspace_id, "user_id": ident, "role": role})
        member = await get(conn, workspace_id, ident)
    return before["role"], member


async def remove(conn: AsyncConnection, workspace_id: str, member_id: str) -> dict[str, Any]:
    """Remove a member: their tokens and sessions in this workspace end, their unused links are spent."""
    ident = user_id(member_id)
    async with conn.transaction():
        admins = await _admins_locked(conn, workspace_id)
        member = await get(conn, workspace_id, ident)
        if member["role"] == "admin" and admins <= {ident}:
            raise LastAdmin("this is the workspace's last admin: make another member admin first")
        params = {"workspace_id": workspace_id, "user_id": ident}
        for name in ("member_delete", "member_tokens_revoke", "member_sessions_revoke", "member_invites_void"):
            await conn.execute(query(name), params)
    return member


def to_json(row: dict[str, Any]) -> dict[str, Any]:
    return {"user_id": str(row["user_id"]), "email": row["email"], "display_name": row["display_name"],
            "role": row["role"], "since": row["created_at"].isoformat(), "has_password": row["has_password"]}
