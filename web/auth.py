"""Enforcement of each route's ``Access`` (issue 9), inside the matched route so ``access`` is known.

``web.permissions.Route`` wraps its endpoint with ``guard``: unknown paths never reach it and still
answer 404. Two credentials exist: a bearer token (``Authorization: Bearer rg_...``) for scripts, and
the ``rg_session`` cookie of a signed-in browser (common/sessions.py). The principal either names is
``request.state.principal``, and so the workspace ``workspace_of`` returns.

- no or bad credential: 401 ``unauthenticated`` JSON for ``/api/*``, 303 to ``/login?next=...`` for pages;
- a role below the route's: 403 ``forbidden``;
- METRICS: open unless ``METRICS_TOKEN`` is set, then exactly that bearer token (constant-time compare).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from common import accounts, sessions
from common.health import metrics_token_ok
from web.errors import error_response
from web.permissions import Access, role_allows

Endpoint = Callable[[Request], Awaitable[Response]]


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _unauthenticated(request: Request, message: str) -> Response:
    if request.url.path.startswith("/api/") or request.url.path == "/metrics":
        response = error_response(401, "unauthenticated", message)
        response.headers["WWW-Authenticate"] = 'Bearer realm="report-generator"'
        return response
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


async def check(request: Request, access: Access) -> Response | None:
    """None when the request may go on (its principal set), else the answer that refuses it."""
    settings = request.app.state.rg.settings
    if access in (Access.OPEN, Access.SHARE):
        return None
    token = bearer(request)
    if access == Access.METRICS:
        if metrics_token_ok(request.headers.get("authorization", ""), settings.metrics_token):
            return None
        return _unauthenticated(request, "/metrics needs the bearer token METRICS_TOKEN")
    cookie = request.cookies.get(sessions.COOKIE)
    if token is None and not cookie:
        return _unauthenticated(request, "sign in, or send an API token as 'Authorization: Bearer rg_...'")
    principal: accounts.Principal | None
    async with request.app.state.rg.connection() as conn:
        if token is not None:
            principal = await accounts.authenticate_token(conn, token)
        else:
            assert cookie is not None
            principal = await sessions.authenticate(conn, cookie, idle=settings.session_idle)
    if principal is None:
        if token is not None:
            return _unauthenticated(request, "the API token is unknown, revoked or expired")
        return _unauthenticated(request, "your session has ended; sign in again")
    if not role_allows(principal.role, access):
        return error_response(403, "forbidden", f"this needs the {access.value} role; yours is {principal.role}")
    request.state.principal = principal
    return None


def guard(endpoint: Callable[..., Any], access: Access) -> Callable[..., Any]:
    """``endpoint`` behind ``check``; class endpoints and non-coroutines are left alone (none exist)."""
    import inspect

    if not inspect.iscoroutinefunction(endpoint):
        return endpoint

    @functools.wraps(endpoint)
    async def guarded(request: Request) -> Response:
        refused = await check(request, access)
        if refused is not None:
            return refused
        return await endpoint(request)  # type: ignore[no-any-return]

    return guarded
