"""History pages of a template: the versions, one version, a side-by-side compare, and "restore".

The compare is computed here (``common.template_diff``) and rendered as a table by the page template,
whose autoescaping shows every body character as text. "Restore" is a CSRF-checked form POST that makes a
new version (history is never rewritten) and then opens the editor on it.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from common import report_templates, template_diff, template_versions
from common.errors import Conflict, ValidationError
from web import csrf
from web.api_templates import template_id
from web.api_versions import record_restored, version_number
from web.page_render import page
from web.permissions import Access, Route, may, user_of, workspace_of
from web.state import AppState


async def history_page(request: Request) -> Response:
    state: AppState = request.app.state.rg
    ident = template_id(request)
    async with state.connection() as conn:
        template = await report_templates.get(conn, workspace_of(request), ident)
        versions = await template_versions.history(conn, workspace_of(request), ident)
    return await page(request, "template_versions.html", {
        "template": template, "versions": versions, "can_restore": may(request, Access.EDITOR)})


async def version_page(request: Request) -> Response:
    state: AppState = request.app.state.rg
    async with state.connection() as conn:
        row = await report_templates.get(conn, workspace_of(request), template_id(request), version_number(request))
    return await page(request, "template_version.html", {
        "version": row, "parameters_text": template_diff.parameters_text(row["parameters"]),
        "can_restore": may(request, Access.EDITOR)})


def _compared(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    number = template_versions.parse_version(raw)
    if number is None:
        raise ValidationError(f"{name}: a version number", details={name: "a version number"})
    return number


async def compare_page(request: Request) -> Response:
    """``?from=a&to=b`` (default: the previous version against the current one)."""
    state: AppState = request.app.state.rg
    ident = template_id(request)
    async with state.connection() as conn:
        current = await report_templates.get(conn, workspace_of(request), ident)
        to = _compared(request, "to", current["current_version"])
        frm = _compared(request, "from", max(1, to - 1))
        old = await report_templates.get(conn, workspace_of(request), ident, frm)
        new = await report_templates.get(conn, workspace_of(request), ident, to)
        versions = await template_versions.history(conn, workspace_of(request), ident)
    body, params = await asyncio.to_thread(_diffs, old, new)  # quadratic at worst: off the event loop
    return await page(request, "template_compare.html", {
        "template": current, "old": old, "new": new, "body_diff": body, "parameters_diff": params,
        "versions": versions, "can_restore": may(request, Access.EDITOR)})


def _diffs(old: dict[str, Any], new: dict[str, Any]) -> tuple[template_diff.Diff, template_diff.Diff]:
    return (template_diff.side_by_side(old["body"], new["body"]),
            template_diff.side_by_side(template_diff.parameters_text(old["parameters"]),
                                       template_diff.parameters_text(new["parameters"])))


async def restore(request: Request) -> Response:
    state: AppState = request.app.state.rg
    form = await request.form(max_files=0, max_fields=5)
    await csrf.check_form(request, form.get(csrf.FIELD))
    ident, number = template_id(request), version_number(request)
    async with state.connection() as conn:
        with contextlib.suppress(Conflict):  # it is the current version already (a second click)
            made = await template_versions.restore(conn, workspace_of(request), ident, number, user_of(request))
            await record_restored(conn, request, await report_templates.get(conn, workspace_of(request), ident, made),
                                  number)
    return RedirectResponse(f"/templates/{ident}", status_code=303)


ROUTES = [
    Route("/templates/{template_id}/versions", history_page, methods=["GET"], access=Access.VIEWER),
    Route("/templates/{template_id}/compare", compare_page, methods=["GET"], access=Access.VIEWER),
    Route("/templates/{template_id}/versions/{version}", version_page, methods=["GET"], access=Access.VIEWER),
    Route("/templates/{template_id}/versions/{version}/restore", restore, methods=["POST"], access=Access.EDITOR),
]
