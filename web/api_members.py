"""JSON API for the admin: the workspace's members (invite, change role, remove) and its audit log.

An invite answers with the one-time sign-in link (``link``, shown this once; valid 7 days) so the admin
can pass it on; with ``SMTP_URL`` set it is also e-mailed to the invitee (``emailed``). An existing
account is added without a link (``common/members.py`` says why).
"""

from __future__ import annotations

import asyncio
import html
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from common import audit, mailer, members, sessions
from common.config import Settings
from common.errors import ValidationError
from web.permissions import Access, Route, workspace_of
from web.request_body import read_json
from web.state import AppState

log = logging.getLogger(__name__)
MAX_BODY = 4096
MAX_AUDIT_PAGE = 200
MAIL_TIMEOUT_SECONDS = 10.0


def _fields(body: Any, allowed: set[str], required: set[str]) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ValidationError("the request body must be a JSON object")
    errors = {k: "unknown field" for k in sorted(set(body) - allowed)}
    errors |= {k: "required" for k in sorted(required - set(body))}
    errors |= {k: "must be a string" for k in sorted(allowed & set(body)) if not isinstance(body[k], str)}
    if errors:
        raise ValidationError("invalid body: " + "; ".join(f"{k}: {v}" for k, v in errors.items()), details=errors)
    return body


async def list_members(request: Request) -> JSONResponse:
    state: AppState = request.app.state.rg
    async with state.connection() as conn:
        rows = await members.list_members(conn, workspace_of(request))
    return JSONResponse({"members": [members.to_json(r) for r in rows]})


async def invite_member(request: Request, email: str, role: str) -> dict[str, Any]:
    """Invite (API and page): the member's JSON, the link when one was made, whether it was e-mailed.
    The membership, the link and the audit event commit together; the e-mail goes after the commit."""
    state: AppState = request.app.state.rg
    async with state.connection() as conn, conn.transaction():
        invited = await members.invite(conn, workspace_of(request), email, role)
        member = members.to_json(invited.member)
        await audit.record_request(conn, request, "member.added", member["email"], {
            "user_id": member["user_id"], "role": role, "link": invited.link_token is not None})
    link = sessions.link(state.settings.public_base_url, invited.link_token) if invited.link_token else None
    emailed, mail_error = (await _mail_link(state.settings, member["email"], link)) if link else (False, None)
    if link is None:
        message = "an existing account: added without a link; they sign in as before and find this workspace"
    elif emailed:
        message = "the sign-in link was e-mailed; it is shown here this once too"
    else:
        message = "pass this one-time link on to them: it is shown this once" + (
            f" (e-mail failed: {mail_error})" if mail_error else "")
    return {"member": member, "link": link, "link_valid_days": sessions.INVITE_DAYS if link else None,
            "emailed": emailed, "message": message}


async def _mail_link(settings: Settings, to: str, link: str) -> tuple[bool, str | None]:
    if not settings.smtp_url:
        return False, None
    text = (f"You have been invited to report-generator.\n\nSet your password and sign in here (the link works "
            f"once, for {sessions.INVITE_DAYS} days):\n{link}\n")
    body = (f'<p>You have been invited to report-generator.</p><p><a href="{html.escape(link)}">Set your password '
            f"and sign in</a> (the link works once, for {sessions.INVITE_DAYS} days).</p>")
    mail = mailer.Mail(to=to, subject="Your report-generator invitation", text=text, html=body)
    try:
        await asyncio.to_thread(mailer.send, settings.smtp_url, settings.smtp_from, mail, MAIL_TIMEOUT_SECONDS)
    except mailer.MailFailed as exc:
        log.warning("could not e-mail an invite: %s", exc)
        return False, str(exc)
    return True, None


async def create_member(request: Request) -> JSONResponse:
    body = _fields(await read_json(request, MAX_BODY), {"email", "role"}, {"email", "role"})
    answer = await invite_member(request, body["email"], body["role"])
    return JSONResponse(answer, status_code=201, headers={"Cache-Control": "no-store"})


async def change_member(request: Request, member_id: str, role: str) -> dict[str, Any]:
    """Change a role and record it, in one transaction (API and page)."""
    async with request.app.state.rg.connection() as conn, conn.transaction():
        before, row = await members.change_role(conn, workspace_of(request), member_id, role)
        member = members.to_json(row)
        if before != role:
            await audit.record_request(conn, request, "member.changed", member["email"],
                                       {"user_id": member["user_id"], "from": before, "to": role})
    return member


async def update_member(request: Request) -> JSONResponse:
    body = _fields(await read_json(request, MAX_BODY), {"role"}, {"role"})
    return JSONResponse(await change_member(request, request.path_params["user_id"], body["role"]))


async def remove_member(request: Request, member_id: str) -> dict[str, Any]:
    """Remove a member and record it, in one transaction (API and page)."""
    async with request.app.state.rg.connection() as conn, conn.transaction():
        row = await members.remove(conn, workspace_of(request), member_id)
        await audit.record_request(conn, request, "member.removed", row["email"],
                                   {"user_id": str(row["user_id"]), "role": row["role"]})
    return row


async def delete_member(request: Request) -> Response:
    await remove_member(request, request.path_params["user_id"])
    return Response(status_code=204)


def audit_page_params(request: Request) -> tuple[int, int | None]:
    """``?limit=`` (1-200, default 50) and ``?before=`` (an event id from ``next_before``)."""
    errors: dict[str, str] = {}
    raw_limit = request.query_params.get("limit", "50")
    limit = int(raw_limit) if raw_limit.isascii() and raw_limit.isdigit() and len(raw_limit) <= 6 else 0
    if not 1 <= limit <= MAX_AUDIT_PAGE:
        errors["limit"] = f"must be an integer from 1 to {MAX_AUDIT_PAGE}"
    raw_before = request.query_params.get("before")
    before = None
    if raw_before is not None:
        if raw_before.isascii() and raw_before.isdigit() and len(raw_before) <= 18:
            before = int(raw_before)
        else:
            errors["before"] = "must be a next_before value from a previous page"
    if errors:
        raise ValidationError("invalid query: " + "; ".join(f"{k}: {v}" for k, v in errors.items()), details=errors)
    return limit, before


async def list_audit(request: Request) -> JSONResponse:
    state: AppState = request.app.state.rg
    limit, before = audit_page_params(request)
    async with state.connection() as conn:
        rows = await audit.list_events(conn, workspace_of(request), limit=limit, before=before)
    return JSONResponse({"events": [audit.to_json(r) for r in rows],
                         "next_before": rows[-1]["id"] if len(rows) == limit else None})


ROUTES = [
    Route("/api/members", list_members, methods=["GET"], access=Access.ADMIN),
    Route("/api/members", create_member, methods=["POST"], access=Access.ADMIN),
    Route("/api/members/{user_id}", update_member, methods=["PATCH"], access=Access.ADMIN),
    Route("/api/members/{user_id}", delete_member, methods=["DELETE"], access=Access.ADMIN),
    Route("/api/audit", list_audit, methods=["GET"], access=Access.ADMIN),
]
