"""CSRF protection: a signed double-submit cookie for forms, a custom header for API uploads.

Why each rule holds:
- HTML forms (``application/x-www-form-urlencoded`` or ``multipart/form-data``) can be posted by any
  site. A page form therefore carries ``csrf_token``, which must equal the ``rg_csrf`` cookie (a
  cross-site page can neither read that cookie nor set it: ``SameSite=Strict``, ``HttpOnly``) and carry
  a valid HMAC of this deployment's secret (so a cookie planted by a sibling subdomain is useless).
- The JSON API requires ``Content-Type: application/json``, which a cross-site form cannot send, and
  cross-site ``fetch`` with that type needs a CORS preflight that this server never grants.
- Multipart API calls (``POST /api/datasets``, ``POST /api/runs`` with files) carry the token in the
  ``X-CSRF-Token`` header instead (``GET /api/csrf`` hands one out). A custom header, like a JSON type,
  cannot be sent cross-site without a preflight; the signature is checked so the header is not a mere flag.
- A request authenticated by a bearer token needs none of this: a browser never attaches that header by
  itself, so a cross-site page cannot forge it (only cookies ride along, and the session cookie is
  ``SameSite=Lax`` on top of the checks above).
- Every check happens before the body is parsed (issue 11): a forged request costs no parsing.
  Multipart API calls need the header (the form field is no longer accepted there). A page form's
  token is inside its body, so ``read_checked_form`` first refuses what cannot be ours from the
  headers alone (no validly signed ``rg_csrf`` cookie, which a cross-site request never carries since
  the cookie is ``SameSite=Strict``; or ``Sec-Fetch-Site: cross-site|same-site``), then reads the form
  under a byte cap (chunked bodies too: ``web.request_body.read_form``), then compares the field.
The secret is shared by all web instances through the ``app_secrets`` table (created by the first).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from common.errors import AppError
from common.sql import query
from web.permissions import Access, Route
from web.request_body import read_form

COOKIE = "rg_csrf"
FIELD = "csrf_token"
HEADER = "x-csrf-token"


class CsrfRejected(AppError):
    status = 403
    code = "csrf_rejected"


async def _secret(request: Request) -> bytes:
    cached: bytes | None = getattr(request.app.state, "csrf_secret", None)
    if cached:
        return cached
    state = request.app.state.rg
    async with state.connection() as conn:
        for _ in range(2):  # a concurrent first insert can hide the row from this statement's snapshot
            cur = await conn.execute(query("app_secret_ensure"), {"name": "csrf", "value": secrets.token_bytes(32)})
            row = await cur.fetchone()
            if row is not None:
                break
    if row is None:
        raise AppError("could not read the CSRF secret; try again", code="csrf_unavailable")
    request.app.state.csrf_secret = bytes(row["value"])  # type: ignore[call-overload]
    return request.app.state.csrf_secret  # type: ignore[no-any-return]


def _by_bearer_token(request: Request) -> bool:
    principal = getattr(request.state, "principal", None)
    return getattr(principal, "via", None) == "token"


def _sign(secret: bytes, nonce: str) -> str:
    mac = hmac.new(secret, nonce.encode(), hashlib.sha256).digest()[:18]
    return base64.urlsafe_b64encode(mac).decode()


def _valid(secret: bytes, token: str | None) -> bool:
    if not token or token.count(".") != 1 or len(token) > 200:
        return False
    nonce, sig = token.split(".")
    return hmac.compare_digest(_sign(secret, nonce), sig)


async def token_for(request: Request) -> str:
    """The token for this browser: its cookie's when valid, else a new one (``set_cookie`` sends it)."""
    secret = await _secret(request)
    current = request.cookies.get(COOKIE)
    if _valid(secret, current):
        assert current is not None
        return current
    nonce = secrets.token_urlsafe(18)
    return f"{nonce}.{_sign(secret, nonce)}"


def set_cookie(response: Response, token: str) -> None:
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/", max_age=7 * 24 * 3600)


async def check_form(request: Request, submitted: object) -> None:
    """A page form's token: equal to the cookie, and signed by us."""
    if _by_bearer_token(request):
        return
    secret = await _secret(request)
    cookie = request.cookies.get(COOKIE)
    if not (isinstance(submitted, str) and cookie and hmac.compare_digest(submitted, cookie)
            and _valid(secret, submitted)):
        raise CsrfRejected("the form's CSRF token is missing or does not match; reload the page and try again")


async def check_header(request: Request) -> None:
    """An API upload's ``X-CSRF-Token`` header: a token signed by us."""
    if _by_bearer_token(request):
        return
    if not _valid(await _secret(request), request.headers.get(HEADER)):
        raise CsrfRejected("multipart requests need an X-CSRF-Token header (get one from GET /api/csrf)")


async def check_api_action(request: Request) -> None:
    """A body-less API action (cancel, retry): a cross-site form could post it, so ask for proof that
    the caller is not one: a JSON content type or an ``X-CSRF-Token`` header (both need a preflight)."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type == "application/json" or _by_bearer_token(request):
        return
    if not _valid(await _secret(request), request.headers.get(HEADER)):
        raise CsrfRejected("send this request with Content-Type: application/json (or an X-CSRF-Token header)")


async def precheck_form(request: Request) -> None:
    """Before a page form's body is read: refuse what the headers already show is not from our page."""
    if _by_bearer_token(request):
        return
    if request.headers.get("sec-fetch-site", "").lower() in ("cross-site", "same-site"):
        raise CsrfRejected("this form was posted from another site")
    if not _valid(await _secret(request), request.cookies.get(COOKIE)):
        raise CsrfRejected("the form's CSRF cookie is missing; reload the page and try again")


async def read_checked_form(request: Request, limit: int, *, max_files: int = 0, max_fields: int = 20,
                            max_part_size: int = 1024 * 1024) -> FormData:
    """A page form: CSRF pre-checked from the headers, read under ``limit`` bytes, token compared."""
    await precheck_form(request)
    form = await read_form(request, limit, max_files=max_files, max_fields=max_fields,
                           max_part_size=max_part_size)
    await check_form(request, form.get(FIELD))
    return form


async def csrf_endpoint(request: Request) -> JSONResponse:
    token = await token_for(request)
    response = JSONResponse({"csrf_token": token, "header": "X-CSRF-Token"})
    set_cookie(response, token)
    response.headers["Cache-Control"] = "no-store"
    return response


ROUTES = [Route("/api/csrf", csrf_endpoint, methods=["GET"], access=Access.SIGNED_IN)]
