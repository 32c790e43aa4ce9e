"""Signing in and out, one-time sign-in links, and the signed-in user's own account page (issue 9).

- ``/login``: email and password; failures are throttled per account and per client address
  (common/sign_in.py) and answered 429 with the wait in the message.
- ``/logout``: a POST (a link could be followed by a prefetcher); the session row is revoked, so a copy
  of the cookie stops working too.
- ``/invite/<token>``: the page behind every one-time link (an admin's invite, ``reportgen users create``
  without a password, ``make run``'s first admin): choose a password, and you are signed in. Opening the
  link (GET) spends nothing, so a mail scanner following it does not use it up.
- ``/account``: who you are, the workspace switcher, and the password change (which ends your other sessions).

The session cookie is HttpOnly, SameSite=Lax, and Secure whenever the request came over https, also
when a proxy (Cloud Run's front end) terminated TLS and said so in ``X-Forwarded-Proto``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from common import accounts, audit, sessions, sign_in
from common.audit import client_address
from common.errors import AppError, ValidationError
from web import csrf
from web.page_render import page
from web.permissions import Access, Route
from web.state import AppState

MAX_FORM_FIELDS = 8


def over_https(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto", "").lower() == "https"


def safe_next(raw: object) -> str:
    """Where to go after signing in: only a path of this site (no ``//host`` or ``/\\host`` tricks)."""
    if not isinstance(raw, str) or not raw.startswith("/") or raw.startswith(("//", "/\\")) or len(raw) > 2000:
        return "/"
    if any(ch in raw for ch in "\r\n\t"):
        return "/"
    return raw


def set_session_cookie(request: Request, response: Response, cookie: str) -> None:
    settings = request.app.state.rg.settings
    response.set_cookie(sessions.COOKIE, cookie, httponly=True, samesite="lax", secure=over_https(request),
                        path="/", max_age=int(settings.session_max_age.total_seconds()))


async def _form(request: Request) -> Any:
    return await csrf.read_checked_form(request, 64 * 1024, max_fields=MAX_FORM_FIELDS)


async def login_page(request: Request) -> Response:
    return await page(request, "login.html", {"next": safe_next(request.query_params.get("next")), "error": "",
                                              "email": ""})


async def login(request: Request) -> Response:
    state: AppState = request.app.state.rg
    form = await _form(request)
    email, password = str(form.get("email", ""))[:320], str(form.get("password", ""))[:1000]
    target = safe_next(form.get("next"))
    try:
        async with state.connection() as conn:
            who = await sign_in.sign_in(conn, email, password, client_address(request),
                                        state.settings.default_workspace_id)
            if who is not None:
                cookie = await sessions.create(conn, who.user_id, who.workspace_id,
                                               max_age=state.settings.session_max_age)
                await audit.record(conn, workspace_id=who.workspace_id, actor_id=who.user_id, actor_email=who.email,
                                   action="signin.ok", target=who.email, detail={"via": "password"},
                                   address=client_address(request))
            else:
                await audit.record_sign_in_failed(conn, email=email, address=client_address(request),
                                                  default_workspace_id=state.settings.default_workspace_id)
    except sign_in.SignInThrottled as exc:
        response = await page(request, "login.html", {"next": target, "error": str(exc), "email": email}, 429)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    if who is None:
        return await page(request, "login.html", {"next": target, "email": email,
                                                  "error": "That email and password do not match an account."}, 401)
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(request, response, cookie)
    return response


async def logout(request: Request) -> Response:
    state: AppState = request.app.state.rg
    await _form(request)
    cookie = request.cookies.get(sessions.COOKIE)
    if cookie:
        async with state.connection() as conn:
            await sessions.revoke(conn, cookie)
            principal = getattr(request.state, "principal", None)
            await audit.record_request(conn, request, "signout.ok", getattr(principal, "email", "") or "")
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(sessions.COOKIE, path="/", httponly=True, samesite="lax", secure=over_https(request))
    return response


async def invite_page(request: Request) -> Response:
    state: AppState = request.app.state.rg
    async with state.connection() as conn:
        link = await sessions.invite(conn, request.path_params["token"])
    if link is None:
        return await page(request, "invite.html", {"link": None, "error": ""}, 404)
    return await page(request, "invite.html", {"link": link, "error": ""})


async def accept_invite(request: Request) -> Response:
    state: AppState = request.app.state.rg
    form = await _form(request)
    token = request.path_params["token"]
    password, repeat = str(form.get("password", ""))[:1000], str(form.get("password_repeat", ""))[:1000]
    async with state.connection() as conn:
        link = await sessions.invite(conn, token)
        if link is None:
            return await page(request, "invite.html", {"link": None, "error": ""}, 404)
        try:
            if password != repeat:
                raise ValidationError("the two passwords differ")
            used = await sessions.accept_invite(conn, token, password)
        except ValidationError as exc:
            return await page(request, "invite.html", {"link": link, "error": str(exc)}, 422)
        if used is None:
            return await page(request, "invite.html", {"link": None, "error": ""}, 404)
        cookie = await sessions.create(conn, str(used["user_id"]), str(used["workspace_id"]),
                                       max_age=state.settings.session_max_age)
        await audit.record(conn, workspace_id=str(used["workspace_id"]), actor_id=str(used["user_id"]),
                           actor_email=link["email"], action="signin.ok", target=link["email"],
                           detail={"via": "invite"}, address=client_address(request))
    response = RedirectResponse("/", status_code=303)
    set_session_cookie(request, response, cookie)
    return response


def _session_of(request: Request) -> sessions.SessionPrincipal:
    principal = getattr(request.state, "principal", None)
    if not isinstance(principal, sessions.SessionPrincipal):
        raise AppError("this page is for a signed-in browser; API tokens manage nothing here",
                       code="session_required")
    return principal


async def account_page(request: Request) -> Response:
    state: AppState = request.app.state.rg
    me = _session_of(request)
    async with state.connection() as conn:
        workspaces = await sessions.workspaces_of(conn, me.user_id)
    return await page(request, "account.html", {"me": me, "workspaces": workspaces,
                                                "notice": request.query_params.get("notice", "")[:200], "error": ""})


async def switch_workspace(request: Request) -> Response:
    state: AppState = request.app.state.rg
    me = _session_of(request)
    form = await _form(request)
    async with state.connection() as conn:
        await sessions.switch_workspace(conn, me.session_id, str(form.get("workspace_id", "")))
    return RedirectResponse("/", status_code=303)


async def change_password(request: Request) -> Response:
    state: AppState = request.app.state.rg
    me = _session_of(request)
    form = await _form(request)
    current, new = str(form.get("current_password", ""))[:1000], str(form.get("new_password", ""))[:1000]
    async with state.connection() as conn:
        user = await accounts.user_by_id(conn, me.user_id)
        error = ""
        if not accounts.verify_password(user["password_hash"], current):
            error = "The current password is not right."
        elif new != str(form.get("new_password_repeat", ""))[:1000]:
            error = "The two new passwords differ."
        else:
            try:
                await accounts.set_password(conn, me.user_id, new)
            except ValidationError as exc:
                error = str(exc)
        if error:
            workspaces = await sessions.workspaces_of(conn, me.user_id)
            return await page(request, "account.html", {"me": me, "workspaces": workspaces, "notice": "",
                                                        "error": error}, 422)
        await sessions.revoke_others(conn, me.user_id, me.session_id)
    return RedirectResponse("/account?notice=Password+changed%3B+your+other+sessions+are+signed+out",
                            status_code=303)


ROUTES = [
    Route("/login", login_page, methods=["GET"], access=Access.OPEN),
    Route("/login", login, methods=["POST"], access=Access.OPEN, name="login_submit"),
    Route("/logout", logout, methods=["POST"], access=Access.SIGNED_IN),
    Route("/invite/{token}", invite_page, methods=["GET"], access=Access.OPEN),
    Route("/invite/{token}", accept_invite, methods=["POST"], access=Access.OPEN, name="invite_accept"),
    Route("/account", account_page, methods=["GET"], access=Access.SIGNED_IN),
    Route("/account/workspace", switch_workspace, methods=["POST"], access=Access.SIGNED_IN),
    Route("/account/password", change_password, methods=["POST"], access=Access.SIGNED_IN),
]
