"""Admin pages: members (invite, change role, remove) and the audit log; and every user's "my tokens".

The same operations as ``web/api_members.py`` and ``web/api_tokens.py``, behind CSRF-checked forms. A
one-time secret (an invite link, a new token) is shown in the answer to the form's POST itself, never
put in a redirect's URL (which would leave it in history and logs); everything else redirects (303).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from common import accounts, audit, members
from common.errors import Conflict, NotFound, ValidationError
from web import api_members, api_tokens, csrf
from web.page_render import page
from web.permissions import Access, Route, user_of, workspace_of
from web.state import AppState


async def _form(request: Request) -> Any:
    form = await request.form(max_files=0, max_fields=10)
    await csrf.check_form(request, form.get(csrf.FIELD))
    return form


def _notice(path: str, text: str) -> RedirectResponse:
    return RedirectResponse(f"{path}?" + urlencode({"notice": text[:200]}), status_code=303)


async def _members_page(request: Request, extra: dict[str, Any] | None = None, status_code: int = 200) -> Response:
    state: AppState = request.app.state.rg
    async with state.connection() as conn:
        rows = await members.list_members(conn, workspace_of(request))
    return await page(request, "members.html", {
        "members": rows, "roles": accounts.ROLES, "me": user_of(request), "invited": None, "errors": {},
        "email": "", "role": "viewer", "notice": request.query_params.get("notice", "")[:200], **(extra or {})},
        status_code=status_code)


async def members_page(request: Request) -> Response:
    return await _members_page(request)


async def invite(request: Request) -> Response:
    form = await _form(request)
    email, role = str(form.get("email") or ""), str(form.get("role") or "")
    try:
        invited = await api_members.invite_member(request, email, role)
    except (ValidationError, Conflict) as exc:
        return await _members_page(request, {"errors": {"invite": exc.message}, "email": email, "role": role},
                                   status_code=409 if isinstance(exc, Conflict) else 422)
    return await _members_page(request, {"invited": invited})


async def member_action(request: Request) -> Response:
    form = await _form(request)
    action, member_id = request.path_params["action"], request.path_params["user_id"]
    try:
        if action == "role":
            member = await api_members.change_member(request, member_id, str(form.get("role") or ""))
            text = f"{member['email']} is now {member['role']}"
        elif action == "remove":
            row = await api_members.remove_member(request, member_id)
            text = f"{row['email']} was removed from this workspace"
        else:
            raise NotFound(f"no member action {action!r}")
    except (Conflict, ValidationError) as exc:
        text = exc.message
    return _notice("/members", text)


async def audit_page(request: Request) -> Response:
    state: AppState = request.app.state.rg
    limit, before = api_members.audit_page_params(request)
    async with state.connection() as conn:
        rows = await audit.list_events(conn, workspace_of(request), limit=limit, before=before)
    return await page(request, "audit.html", {"events": rows,
                                              "next_before": rows[-1]["id"] if len(rows) == limit else None})


async def _tokens_page(request: Request, extra: dict[str, Any] | None = None, status_code: int = 200) -> Response:
    state: AppState = request.app.state.rg
    user = api_tokens.signed_in_user(request)
    async with state.connection() as conn:
        rows = await accounts.tokens_of(conn, workspace_of(request), user)
    return await page(request, "tokens.html", {
        "tokens": rows, "created": None, "errors": {}, "name": "", "expires_days": "",
        "notice": request.query_params.get("notice", "")[:200], **(extra or {})}, status_code=status_code)


async def tokens_page(request: Request) -> Response:
    return await _tokens_page(request)


async def create_token(request: Request) -> Response:
    form = await _form(request)
    name, days = str(form.get("name") or ""), str(form.get("expires_days") or "").strip()
    try:
        created = await api_tokens.create_for(request, name, int(days) if days.isascii() and days.isdigit()
                                              and len(days) < 6 else (days or None))
    except ValidationError as exc:
        return await _tokens_page(request, {"errors": exc.details or {"name": exc.message}, "name": name,
                                            "expires_days": days}, status_code=422)
    return await _tokens_page(request, {"created": created})


async def revoke_token(request: Request) -> Response:
    await _form(request)
    row = await api_tokens.revoke_for(request, request.path_params["token_id"])
    return _notice("/account/tokens", f"Token {row['name']!r} was revoked")


ROUTES = [
    Route("/members", members_page, methods=["GET"], access=Access.ADMIN),
    Route("/members", invite, methods=["POST"], access=Access.ADMIN),
    Route("/members/{user_id}/{action:str}", member_action, methods=["POST"], access=Access.ADMIN),
    Route("/audit", audit_page, methods=["GET"], access=Access.ADMIN),
    Route("/account/tokens", tokens_page, methods=["GET"], access=Access.SIGNED_IN),
    Route("/account/tokens", create_token, methods=["POST"], access=Access.SIGNED_IN),
    Route("/account/tokens/{token_id}/revoke", revoke_token, methods=["POST"], access=Access.SIGNED_IN),
]
