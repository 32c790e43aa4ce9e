"""The audit log (issue 9, item 10): who did what, when, from where, per workspace.

``record`` writes one event on the caller's connection, after the action it records succeeded, so an
action that failed leaves no event, and an event never claims what did not happen. ``record_request``
takes the actor and the address from a web request. Actions are ``noun.verb`` (``ACTIONS`` lists the
ones the project records; the database checks the shape). The worker's reaper prunes events older than
``AUDIT_RETENTION_DAYS``.

Sign-ins are recorded by ``web/pages_account.py``: ``signin.ok`` in the workspace the session starts in
(``via`` says password or invite), ``signin.failed`` with ``record_sign_in_failed`` in every workspace of
the account the email names (the deployment's default workspace when it names none), so each
workspace's admins see attempts on their members. Throttled attempts (429) are not recorded: they are
cheap to send, and recording each would let anyone grow the table at will.
"""

from __future__ import annotations

import os
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb
from starlette.requests import HTTPConnection

from common.sql import query

ACTIONS = (
    "signin.ok", "signin.failed", "signout.ok",
    "template.saved", "template.archived", "template.restored",
    "dataset.deleted",
    "run.started", "run.cancelled",
    "token.created", "token.revoked",
    "share.created", "share.revoked",
    "member.added", "member.changed", "member.removed",
    "job.cancelled", "job.retried",
)
MAX_TARGET = 500


def client_address(request: HTTPConnection) -> str:
    """The client's address for sign-in throttling and the audit log. On Cloud Run (``K_SERVICE`` set)
    the connection comes from Google's front end, which appends the address it saw to
    ``X-Forwarded-For``: the last entry is the one a client cannot forge (the first hop is whatever the
    client sent). Elsewhere the peer address is used and the header is ignored."""
    forwarded = request.headers.get("x-forwarded-for", "")
    if forwarded and os.environ.get("K_SERVICE"):
        return forwarded.split(",")[-1].strip()[:64] or "unknown"
    return request.client.host[:64] if request.client else "unknown"


async def record(conn: AsyncConnection, *, workspace_id: str, actor_id: str | None, actor_email: str | None,
                 action: str, target: str, detail: dict[str, Any] | None = None,
                 address: str | None = None) -> None:
    """Write one event. ``actor_email`` may be None when ``actor_id`` is given (it is read from the user)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}; add it to common.audit.ACTIONS")
    await conn.execute(query("audit_record"), {
        "workspace_id": workspace_id, "actor_id": actor_id, "actor_email": actor_email or "",
        "action": action, "target": str(target)[:MAX_TARGET], "detail": Jsonb(detail or {}),
        "address": address})


async def record_request(conn: AsyncConnection, request: HTTPConnection, action: str, target: str,
                         detail: dict[str, Any] | None = None) -> None:
    """``record`` for a web request: its principal is the actor, its workspace the event's (as
    ``web.permissions.workspace_of``: the credential's, else the deployment's default workspace)."""
    principal = getattr(request.state, "principal", None)
    if principal is not None:
        workspace_id, actor_id = str(principal.workspace_id), str(principal.user_id)
    else:
        workspace_id, actor_id = str(request.app.state.rg.settings.default_workspace_id), None
    await record(conn, workspace_id=workspace_id, actor_id=actor_id,
                 actor_email=getattr(principal, "email", None) or None, action=action, target=target,
                 detail=detail, address=client_address(request))


async def record_sign_in_failed(conn: AsyncConnection, *, email: str, address: str | None,
                                default_workspace_id: str) -> None:
    """A failed sign-in (wrong password, unknown email, no password yet): no actor id (whoever typed it
    is not known to be the account's owner), the email as typed as the target."""
    await conn.execute(query("audit_sign_in_failed"), {"email": email.strip()[:320], "address": address,
                                                       "default_workspace_id": default_workspace_id})


async def list_events(conn: AsyncConnection, workspace_id: str, *, limit: int,
                      before: int | None = None) -> list[dict[str, Any]]:
    cur = await conn.execute(query("audit_list"), {"workspace_id": workspace_id, "before": before, "limit": limit})
    return await cur.fetchall()  # type: ignore[return-value]


def to_json(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "at": row["at"].isoformat(), "action": row["action"], "target": row["target"],
            "actor_id": str(row["actor_id"]) if row["actor_id"] else None, "actor_email": row["actor_email"],
            "address": row["address"], "detail": row["detail"]}
